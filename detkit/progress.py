"""Progress of long work outside training (images read, predicted, drawn or converted;
bootstrap draws; runs compared) as tqdm bars on standard error: items done of the total, the
rate and the time left. A bar shows only in a terminal, only for work that runs past
`DELAY_SECONDS`, and not with a tool's ``progress=false``; it goes to standard error alone, so
nothing a run writes (its logs, reports, json) ever holds one. Training keeps Lightning's bar."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

Item = TypeVar("Item")
DELAY_SECONDS = 1.0  # quicker work shows no bar

_enabled = True


def set_progress(enabled: bool) -> None:
    """Show bars (in a terminal) or never: a tool's ``progress`` option."""
    global _enabled
    _enabled = enabled


def wanted() -> bool:
    """The ``progress`` option (Lightning's training bar follows it too)."""
    return _enabled


def shown() -> bool:
    """Whether bars show: wanted, standard error is a terminal, and this is the first process of
    a launch (torchrun and Lightning's DDP name each process's rank in the environment)."""
    first = all(os.environ.get(rank, "0") == "0" for rank in ("RANK", "LOCAL_RANK", "NODE_RANK"))
    return _enabled and first and sys.stderr.isatty()


def progress_bar(total: int | None, description: str, unit: str = "images", here: bool = True) -> tqdm:
    """A bar to `tqdm.update` by hand (work that is not one loop), closed by the caller
    (``with progress_bar(...) as bar:``); a silent one where bars do not show, or not ``here``
    (a process other than the first of several)."""
    return tqdm(
        total=total,
        desc=description,
        unit=f" {unit}",
        file=sys.stderr,
        disable=not (here and shown()),
        delay=DELAY_SECONDS,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.5,
    )


def progress(items: Iterable[Item], description: str, total: int | None = None, unit: str = "images") -> Iterator[Item]:
    """``items`` as they come, counted on a bar (`progress_bar`)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with progress_bar(total, description, unit) as bar:
        for item in items:
            yield item
            bar.update(1)
