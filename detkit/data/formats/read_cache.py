"""What the VOC and YOLO readers got from each image's files, kept between runs while those
files are unchanged.

Every training run and tool reads its dataset again. COCO keeps a folder's annotations in one
json; VOC and YOLO keep them in a file per image, which costs two to three times as much to read
(an xml to parse, or a label file to open and split, besides the image's header). Ultralytics
keeps a ``labels.cache`` beside the labels for the same reason; detkit keeps its cache in its own
folder, never in the dataset's (a dataset may be read-only, and no input is ever written to), at
``$DETKIT_CACHE_DIR`` (``$XDG_CACHE_HOME/detkit``, ``~/.cache/detkit`` by default; an empty
``DETKIT_CACHE_DIR`` turns it off).

A file's result is reused only while every file it came from has the same device, inode, size,
modification and change times as when it was read (a change time cannot be set back, so an
edit is seen even when a tool restores the modification time). Files changed within
`RACY_SECONDS` of the reading, links, and files with a problem are read again every time. A
cache that cannot be read or written is passed over: reading works as without it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from detkit.data.formats.parallel import map_files
from detkit.files import write_bytes_atomic

Item, Result = TypeVar("Item"), TypeVar("Result")
Stamp = tuple[int, int, int, int, int] | None  # device, inode, size, modification, change time (ns); None: no file
RACY_SECONDS = 2.0  # file times are as coarse as 2 s on some file systems: an edit this close to a reading may not show
FORMAT = 3  # bump when what a reader caches changes (2: YOLO results record whether a label file was there;
# 3: VOC results name the object fields not kept)
log = logging.getLogger(__name__)


def cache_folder() -> Path | None:
    """The folder detkit keeps its caches in; None when ``DETKIT_CACHE_DIR`` is set empty."""
    configured = os.environ.get("DETKIT_CACHE_DIR")
    if configured is not None:
        return Path(configured).expanduser() if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "detkit"


def stamp(path: str) -> Stamp | bool:
    """The file's identity and times; None when nothing is there; False for a link (its target
    could change without the link's times moving) or a path that cannot be looked at."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return False
    if stat.S_ISLNK(info.st_mode):
        return False
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def cached_map_files(
    work: Callable[[Sequence[Item]], list[Result]],
    items: Sequence[Item],
    per_worker: int,
    reader: str,
    settings: tuple[Any, ...],
    files_of: Callable[[Item, Result], Sequence[str] | None],
    description: str,
) -> list[Result]:
    """`map_files` (``work`` over ``items``, its bar named ``description``), with each result
    kept in the cache of ``reader`` for these ``settings`` (everything besides the files that the
    results depend on) and reused while its files are unchanged. ``files_of(item, result)`` names
    the files a result was read from (those absent included: a file that appears changes it), or
    None for a result not to keep (one with a problem, read again for its message every time)."""
    path = _cache_path(reader, settings)
    kept = _load(path) if path else {}
    started = time.time_ns()
    results: list[Any] = [None] * len(items)
    missing = []
    for index, item in enumerate(items):
        entry = kept.get(item)
        if entry is not None and tuple(map(stamp, entry[0])) == entry[1]:
            results[index] = entry[2]
        else:
            missing.append(index)
    fresh = map_files(work, [items[i] for i in missing], per_worker, description) if missing else []
    recent = started - int(RACY_SECONDS * 1e9)
    for index, result in zip(missing, fresh):
        results[index] = result
        kept.pop(items[index], None)
        files = files_of(items[index], result)
        if files is None:
            continue
        stamps = [stamp(file) for file in files]
        if all(s is None or (s is not False and s[4] < recent) for s in stamps):
            kept[items[index]] = (tuple(files), tuple(stamps), result)
    if path and (missing or len(kept) != len(items)):
        _save(path, {item: kept[item] for item in items if item in kept})
    return results


def _cache_path(reader: str, settings: tuple[Any, ...]) -> Path | None:
    folder = cache_folder()
    if folder is None:
        return None
    key = hashlib.sha256(repr((FORMAT, reader, settings)).encode()).hexdigest()[:32]
    return folder / "readers" / f"{reader}-{key}.pickle"


def _load(path: Path) -> dict[Any, tuple[tuple[str, ...], tuple[Stamp, ...], Any]]:
    try:
        with open(path, "rb") as file:
            kept = _CacheUnpickler(file).load()
    except FileNotFoundError:
        return {}
    except Exception as e:  # any damage (truncation, another version's classes) means: read the files
        log.debug("read cache %s passed over: %s", path, e)
        return {}
    return kept if isinstance(kept, dict) else {}


# What a reader's results pickle into: its named tuples and numpy arrays. Any other name in a
# cache file (someone else's, or written over) is refused: unpickling may call what it names.
CACHED_GLOBALS = frozenset(
    {
        ("detkit.data.formats.yolo", "_ImageFiles"),
        ("detkit.data.formats.voc", "_Parsed"),
        ("detkit.data.formats.voc", "_Objects"),
        ("detkit.data.images.signatures", "Signature"),
        ("numpy", "dtype"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
    }
)


class _CacheUnpickler(pickle.Unpickler):
    """Unpickles only `CACHED_GLOBALS`; anything else is an `UnpicklingError` (the cache is then passed over)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in CACHED_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not what detkit caches")
        return super().find_class(module, name)


def _save(path: Path, kept: dict[Any, Any]) -> None:
    try:
        write_bytes_atomic(path, pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL))
    except OSError as e:  # a read-only home, a full disk: the next reading reads the files
        log.debug("read cache %s not written: %s", path, e)
