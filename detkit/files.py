"""Atomic file output: a temp file in the target's directory, then a rename."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


@contextlib.contextmanager
def atomic_file(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """A file to write ``path``'s new content into: a temp file beside it, renamed onto it when
    the block ends without an error (removed when it raises), so that readers see the old file
    or the whole new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as file:
            yield file
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; outputs are ordinary files
        os.replace(tmp, path)
    except OSError as error:  # a full disk, a quota: named by the file being written
        Path(tmp).unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    with atomic_file(path) as file:
        file.write(data)
    return Path(path)


class JsonListWriter:
    """A JSON list written a few items at a time (`extend`), so that memory does not grow with
    its length, into an `atomic_file`: ``path`` holds the old file or the whole list."""

    def __init__(self, file: IO[str]) -> None:
        self.file = file
        self.count = 0

    def extend(self, items: Iterable[Any]) -> None:
        for item in items:
            self.file.write(("[" if self.count == 0 else ",") + json.dumps(item))
            self.count += 1


@contextlib.contextmanager
def json_list_atomic(path: str | Path) -> Iterator[JsonListWriter]:
    """A `JsonListWriter` onto ``path``, complete (``[...]``) when the block ends."""
    with atomic_file(path, "w") as file:
        writer = JsonListWriter(file)
        yield writer
        file.write("[]\n" if writer.count == 0 else "]\n")


def write_text_atomic(path: str | Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | Path, obj: Any, indent: int | None = 2) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=indent, sort_keys=False) + "\n")


def write_report(out: str | Path, stem: str, data: Any, markdown: str, png: bytes) -> None:
    """``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` in ``out``, each atomically."""
    out = Path(out)
    write_json_atomic(out / f"{stem}.json", data)
    write_text_atomic(out / f"{stem}.md", markdown)
    write_bytes_atomic(out / f"{stem}.png", png)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
