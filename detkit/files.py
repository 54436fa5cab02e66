"""Atomic file output: a temp file in the target's directory, then a rename."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes files private; outputs are ordinary files
        os.replace(tmp, path)
    except OSError as error:  # a full disk, a quota: named by the file being written
        Path(tmp).unlink(missing_ok=True)
        raise OSError(error.errno, error.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


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
