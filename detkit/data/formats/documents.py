"""YAML and JSON documents read within bounds: a size (`limits.YAML_BYTES`, `limits.JSON_BYTES`),
a nesting depth (`limits.NESTING`: Python's parsers recurse and would end in a
``RecursionError``), for YAML a number of values with its aliases expanded (`limits.YAML_VALUES`:
a "billion laughs" file is a few hundred bytes that expand to 10^9 values), and for JSON no key
twice in one object (every parser keeps the last and drops the rest without a word: a
hand-merged COCO file with ``"annotations"`` twice loses the first list)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from detkit.data import limits
from detkit.exceptions import DatasetError

TOO_DEEP = limits.NESTING.exceeded("nested deeper than Python's parser goes")


def parse_yaml(text: str, source: str) -> Any:
    """YAML ``text`` (safe tags only) as Python objects, or a `DatasetError` naming ``source``:
    malformed (line, column), nested deeper than `limits.NESTING`, or more values than
    `limits.YAML_VALUES` once its aliases are expanded. (Its size is bounded where it is read.)"""
    if (depth := flow_depth(text)) > limits.NESTING.value:
        raise DatasetError(limits.NESTING.exceeded(depth), source)
    try:
        data = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise DatasetError(f"{where}malformed YAML; fix the file", source=source) from None
    except RecursionError:
        raise DatasetError(TOO_DEEP, source) from None
    values, depth = measure(data, limits.YAML_VALUES.value)
    if values > limits.YAML_VALUES.value:
        raise DatasetError(limits.YAML_VALUES.exceeded(values) + " (aliases such as *name count each time)", source)
    if depth > limits.NESTING.value:
        raise DatasetError(limits.NESTING.exceeded(depth), source)
    return data


def flow_depth(text: str) -> int:
    """How deep the brackets (``[`` and ``{``) of ``text`` nest, those in quotes counted too: at
    most the depth of its flow collections. PyYAML's scanner takes time quadratic in that depth
    (10,000 ``[`` take seconds before its parser recurses too deep), so a file deeper than
    `limits.NESTING` is refused before it is parsed."""
    depth = deepest = 0
    for bracket in re.findall(r"[\[\]{}]", text):
        depth = depth + 1 if bracket in "[{" else max(depth - 1, 0)
        deepest = max(deepest, depth)
    return deepest


def read_yaml_document(path: Path) -> Any:
    """The YAML file at ``path`` (`parse_yaml`), read as `read_text` reads."""
    from detkit.data.formats.fields import read_text

    return parse_yaml(read_text(path, limit=limits.YAML_BYTES), str(path))


def measure(data: Any, most: int) -> tuple[int, int]:
    """``(values, depth)`` of a parsed document, each container and scalar one value, shared
    containers (YAML aliases) counted at each place they appear, a container that holds itself
    as deep as its nesting goes; the count stops a little past ``most``."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (values, depth) of a container measured
    visiting: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        key = id(node)
        children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
        if children_done:
            visiting.discard(key)
            inner = [sizes.get(id(c), (1, 0)) for c in children]
            total = 1 + sum(v for v, _ in inner)
            sizes[key] = (min(total, most + 1), 1 + max((d for _, d in inner), default=0))
            continue
        if key in sizes:
            continue
        if key in visiting:  # a container inside itself: endless
            return most + 1, limits.NESTING.value + 1
        visiting.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if isinstance(c, (dict, list)) and id(c) not in sizes)
    return sizes.get(id(data), (1, 0))


def check_unique_keys(text: str, source: str) -> None:
    """A `DatasetError` naming ``source`` and the key when an object of the JSON ``text`` (text
    that parses) holds a key twice."""
    if (key := repeated_key(text)) is not None:
        raise DatasetError(
            f"key {key!r} appears twice in one object, and a reader would keep only the last; merge the two", source
        )


def repeated_key(text: str) -> str | None:
    """The first key found twice in one object of the JSON ``text``, or None. Only for text that parses."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        found = dict(pairs)
        if len(found) != len(pairs):
            seen: set[str] = set()
            raise _Repeated(next(k for k, _ in pairs if k in seen or seen.add(k)))
        return found

    try:
        json.loads(text, object_pairs_hook=unique)
    except _Repeated as e:
        return str(e.args[0])
    return None


class _Repeated(Exception):
    pass
