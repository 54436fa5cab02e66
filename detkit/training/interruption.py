"""A training stopped by SIGTERM (what SLURM and Kubernetes send before they stop or preempt a
job) or SIGINT (Ctrl+C) ends with one line saying how to continue, wherever the signal lands:
while the data loads, in an epoch, in a validation, or while the final checkpoint is scored.

Inside its loops Lightning handles both: SIGTERM at the next step boundary, the same on every
process of a DDP launch (it broadcasts the flag), ending with a ``SystemExit`` of code 0 as if
all were well; SIGINT as a ``KeyboardInterrupt`` it turns into ``SystemExit(1)``. Outside them
SIGTERM would end the process without a word, so `stopped_by_signals` raises it where it lands,
as Python does SIGINT, but only while Lightning's own handler is not the one installed."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException

from detkit.exceptions import TrainingInterrupted
from detkit.runs import layout


class _Terminated(BaseException):
    """SIGTERM outside Lightning's loops."""


@dataclass
class Stage:
    """What the training is doing, for the line a signal ends it with: its trainer, once built,
    and whether fitting is over and the final checkpoint is being scored."""

    trainer: L.Trainer | None = None
    scoring: bool = False


@contextlib.contextmanager
def stopped_by_signals(run_dir: Path) -> Iterator[Stage]:
    """Turn SIGTERM and SIGINT during the block into `TrainingInterrupted` (exit 143 / 130),
    whose message says where the run can continue from; the caller keeps the yielded `Stage`."""
    stage = Stage()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:  # else Lightning's handler, which called this one, stops
            raise _Terminated

    in_main_thread = threading.current_thread() is threading.main_thread()  # signals go to the main thread only
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    if in_main_thread:
        signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield stage
    except (_Terminated, SIGTERMException):
        raise TrainingInterrupted("SIGTERM", where_to_continue(stage, run_dir)) from None
    except KeyboardInterrupt:
        raise TrainingInterrupted("SIGINT", where_to_continue(stage, run_dir)) from None
    except SystemExit:
        if stage.trainer is None or not stage.trainer.interrupted:  # Lightning's way of ending on a KeyboardInterrupt
            raise
        raise TrainingInterrupted("SIGINT", where_to_continue(stage, run_dir)) from None
    finally:
        if in_main_thread:  # Lightning leaves SIGINT ignored after a KeyboardInterrupt
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def where_to_continue(stage: Stage, run_dir: Path) -> str:
    """Where an interrupted training stood and the command that continues it."""
    resume = f"python tools/train.py resume={run_dir}"
    if stage.scoring:
        return f"after its last epoch, while scoring the final checkpoint: {resume} scores it and writes metrics.json"
    continues_from = layout.resumable(run_dir)  # what resume= will take
    if continues_from is None:
        return "before training began; nothing was trained: run the same command again"
    epoch = stage.trainer.current_epoch if stage.trainer is not None else 0
    if continues_from.name == layout.LAYOUT.config:
        return f"during epoch {epoch} (counted from 0), before any epoch finished: start it again with {resume}"
    return f"during epoch {epoch} (counted from 0); {continues_from} holds the last whole epoch: continue with {resume}"
