"""Per-file work of the readers (image headers, VOC xml files, YOLO label files) shared
among processes.

Reading a file costs tens of microseconds, mostly system calls and parsing that hold
Python's GIL: a thread pool was slower than one thread here, while two processes take half
the time, and on a slow disk they also wait for it side by side. Workers are forked, so
they start in milliseconds with the reader's state (Linux only; elsewhere, inside a
daemonic process such as a DataLoader worker, which may not have children, and for a few
files, the work stays in this process).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from typing import TypeVar

from detkit.progress import progress_bar

Item, Result = TypeVar("Item"), TypeVar("Result")
MAX_WORKERS = 16
CHUNKS_PER_WORKER = 4  # so that a slow chunk evens out
PROGRESS_CHUNK = 256  # files between the progress bar's counts, in one process


def map_files(
    work: Callable[[Sequence[Item]], list[Result]], items: Sequence[Item], per_worker: int, description: str
) -> list[Result]:
    """``work`` (one result per item, in order) over ``items``, split among up to one process
    per CPU this process may use, each with at least ``per_worker`` items (below that, forking
    costs about what it saves), counted on a progress bar named ``description``. ``work`` must
    be a module-level function (or a `functools.partial` of one) for the workers to receive it."""
    workers = _workers(len(items), per_worker)
    size = max(1, -(-len(items) // (CHUNKS_PER_WORKER * workers)) if workers > 1 else PROGRESS_CHUNK)
    chunks = [items[start : start + size] for start in range(0, len(items), size)]
    results: list[Result] = []
    with progress_bar(len(items), description, "files") as bar, ExitStack() as stack:
        done: Iterable[list[Result]] = map(work, chunks)
        if workers > 1:
            pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")))
            done = pool.map(work, chunks)
        for chunk in done:
            results.extend(chunk)
            bar.update(len(chunk))
    return results


def _workers(count: int, per_worker: int) -> int:
    if sys.platform != "linux" or multiprocessing.current_process().daemon:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), count // per_worker, MAX_WORKERS))
