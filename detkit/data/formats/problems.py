"""What readers do with the problems they find: raise them all at once, or drop and summarise."""

from __future__ import annotations

import logging

from detkit.errors import ConfigError, DatasetError

ON_INVALID = ("error", "drop")
log = logging.getLogger(__name__)


def check_on_invalid(on_invalid: str) -> None:
    if on_invalid not in ON_INVALID:
        raise ConfigError(f"on_invalid={on_invalid!r}; choose one of {list(ON_INVALID)}")


def settle_problems(problems: list[str], source: str, on_invalid: str) -> None:
    """With ``error``, one `DatasetError` listing every problem; with ``drop``, the offending
    records were skipped by the reader and a warning summarises them."""
    if not problems:
        return
    if on_invalid == "error":
        raise DatasetError(problems, source=source)
    shown = "\n  - ".join(problems[:5])
    more = f"\n  ... and {len(problems) - 5} more" if len(problems) > 5 else ""
    log.warning(
        "%s: dropped %d invalid record(s) (data.on_invalid=drop):\n  - %s%s", source, len(problems), shown, more
    )
