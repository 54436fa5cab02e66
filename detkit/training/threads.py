"""How many threads torch trains with on a CPU: the cores this process may use that nothing else
keeps busy.

Measured (`benchmarks/threads.py`, 2-core machine): idle, two threads train 1.28x faster than
one; with one core busy elsewhere, two threads train 2.1x slower than one (each step waits on
the thread that shares a core). So the busy cores are left out, as seen over a short look at
the whole machine's load before training starts.
"""

from __future__ import annotations

import logging
import os

import psutil

log = logging.getLogger(__name__)

LOOK_SECONDS = 0.3  # how long the machine's load is watched before training
BUSY_SHARE = 0.6  # load elsewhere from this share of a core on counts as a busy core


def usable_cores() -> list[int]:
    """The cores this process may run on (its affinity, e.g. under SLURM or taskset)."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))


def busy_cores(cores: list[int], seconds: float = LOOK_SECONDS) -> int:
    """How many of ``cores`` other processes keep busy: their summed load over ``seconds``
    (this process sleeps meanwhile, so its own work is not counted), a core's worth counted from
    ``BUSY_SHARE`` of one."""
    load = psutil.cpu_percent(interval=seconds, percpu=True)
    return int(sum(load[core] for core in cores if core < len(load)) / 100 + 1 - BUSY_SHARE)


def training_threads(processes: int = 1) -> int:
    """Threads for each of ``processes`` training processes on this machine: its usable cores
    shared among them, less (for one process) the cores busy with other work; one line says so
    when some are. With several, the others' start-up would look like other work: not looked at."""
    cores = usable_cores()
    busy = min(busy_cores(cores), len(cores) - 1) if processes == 1 else 0
    threads = max(1, (len(cores) - busy) // processes)
    if busy:
        log.info(
            f"{busy} of {len(cores)} cores busy with other work: training on {threads} thread(s) a process "
            "(OMP_NUM_THREADS=<n> sets it yourself)"
        )
    return threads
