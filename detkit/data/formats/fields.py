"""The checks every reader applies to a field before using it: text that is UTF-8, numbers that
are numbers (not strings, booleans, NaN or infinity), whole numbers where ids and sizes go.
File names get the same care: a name the file system holds in another encoding than UTF-8
(Python reads its bad bytes as lone surrogates) is named, not written on into JSON or logs.
Every reader reports what fails through these, so one bad value is one message, never a crash."""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from detkit.data import limits
from detkit.data.formats.documents import TOO_DEEP, check_unique_keys
from detkit.data.regular_files import FileTooLarge, read_regular
from detkit.exceptions import DatasetError


def read_text(path: Path | str, missing: str = "check the path", limit: limits.Limit = limits.TEXT_BYTES) -> str:
    """The file as text: UTF-8, with or without a byte-order mark. Anything else is a
    `DatasetError`: a missing file (``missing`` says what to fix), one that cannot be read (a
    folder, a FIFO, a device, a link to nothing or to itself), one larger than ``limit``
    allows, or the first byte that is not UTF-8 and its offset."""
    try:
        data = read_regular(path, limit.value)
    except FileTooLarge as e:
        raise DatasetError(limit.exceeded(e.size), source=str(path)) from None
    except FileNotFoundError:
        link = f" (a link to {os.readlink(path)}, which does not exist)" if os.path.islink(path) else ""
        raise DatasetError(f"file not found{link}; {missing}", source=str(path)) from None
    except OSError as e:
        raise DatasetError(f"cannot read it ({e.strerror}); give a readable file", source=str(path)) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DatasetError(
            f"byte {e.start}: not UTF-8 (0x{data[e.start]:02x}); save the file as UTF-8", source=str(path)
        ) from None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector held off while a JSON file becomes objects: it would
    run again and again as hundreds of thousands of containers appear (a third of the reading
    time of a 100,000-detection file), and parsed JSON holds no cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def parse_json(text: str, source: str) -> Any:
    """JSON text as Python objects, with msgspec (several times the standard library on a COCO
    file); where msgspec refuses, the standard library reads it: it takes NaN, Infinity and
    escaped lone surrogates, which the readers then name, and raises `json.JSONDecodeError`
    with the line and column of what is invalid. A key twice in one object, nesting past
    `limits.NESTING` are a `DatasetError` naming ``source`` (its size is bounded where it is read)."""

    try:
        with collector_paused():
            data = msgspec.json.decode(text)
    except msgspec.DecodeError:
        data = _json_loads(text, source)
    except RecursionError:
        raise DatasetError(TOO_DEEP, source) from None
    keys, depth = count_keys(data)
    if depth > limits.NESTING.value:
        raise DatasetError(limits.NESTING.exceeded(depth), source)
    if keys != text.count('":'):
        check_unique_keys(text, source)
    return data


def _json_loads(text: str, source: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise DatasetError(TOO_DEEP, source) from None


def count_keys(data: Any) -> tuple[int, int]:
    """``(keys, depth)``: the keys of every object in parsed JSON and how deep it nests. A list
    whose first item is a number or text is taken to hold no objects (undercounting only sends
    `parse_json` to its exact check of repeated keys)."""
    keys, deepest, stack = 0, 0, [(data, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if type(node) is dict:
            keys += len(node)
            stack.extend((v, depth + 1) for v in node.values() if type(v) is dict or type(v) is list)
        elif type(node) is list and node and (type(node[0]) is dict or type(node[0]) is list):
            stack.extend((v, depth + 1) for v in node)
    return keys, deepest


def is_number(value: Any) -> bool:
    """A finite int or float (``True`` and ``"3"`` are not numbers here, nor NaN or infinity)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


WHOLE_BITS = 64  # numpy, pycocotools and its fast backend hold ids as 64-bit integers


def is_whole(value: Any) -> bool:
    """An int that is not a bool and fits in 64 bits: what ids and pixel sizes must be."""
    bound = 2 ** (WHOLE_BITS - 1)
    return isinstance(value, int) and not isinstance(value, bool) and -bound <= value < bound


def file_name_problem(name: str) -> str | None:
    """Why ``name`` (a path as Python read it from the file system or a JSON escape) cannot be
    kept: its bytes are not UTF-8, which JSON, XML and every log detkit writes need, or it holds
    a control character (a newline, a tab, NUL), which a line of a YOLO or VOC list cannot."""
    if control := next((c for c in name if ord(c) < 32 or ord(c) == 127), None):
        return f"file name {name!r} holds the control character {control!r}; rename the file and what names it"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:
            shown = os.fsencode(name)  # the bytes on disk
        except UnicodeEncodeError:  # a surrogate written as a JSON escape, not read from disk
            shown = name.encode("utf-8", "backslashreplace")
        return (
            f"file name {shown!r} is not UTF-8; rename the file in UTF-8 "
            "(e.g. convmv -f latin1 -t utf8 --notest -r <folder>) and the annotations that name it"
        )
    return None
