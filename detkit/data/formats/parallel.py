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
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

Item, Result = TypeVar("Item"), TypeVar("Result")
MAX_WORKERS = 16
CHUNKS_PER_WORKER = 4  # so that a slow chunk evens out


def map_files(work: Callable[[Sequence[Item]], list[Result]], items: Sequence[Item], per_worker: int) -> list[Result]:
    """``work`` (one result per item, in order) over ``items``, split among up to one process
    per CPU this process may use, each with at least ``per_worker`` items (below that, forking
    costs about what it saves). ``work`` must be a module-level function (or a
    `functools.partial` of one) for the workers to receive it."""
    workers = _workers(len(items), per_worker)
    if workers < 2:
        return work(items)
    size = -(-len(items) // (CHUNKS_PER_WORKER * workers))
    chunks = [items[start : start + size] for start in range(0, len(items), size)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return [result for chunk in pool.map(work, chunks) for result in chunk]


def _workers(count: int, per_worker: int) -> int:
    if sys.platform != "linux" or multiprocessing.current_process().daemon:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), count // per_worker, MAX_WORKERS))
