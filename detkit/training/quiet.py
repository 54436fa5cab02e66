"""Third-party messages that tell a detkit user nothing, silenced one by one; each says why it is harmless."""

from __future__ import annotations

import logging
import warnings

LIGHTNING_INFO = "lightning.pytorch.utilities.rank_zero"


def silence_known_noise() -> None:
    """Silence the known-harmless messages below (idempotent: safe to call for every trainer)."""
    # Lightning 2.6's own pytree helper builds a LeafSpec, which torch >= 2.9 deprecates in favour
    # of TreeSpec.is_leaf(); nothing a user can change, and the result is the same.
    warnings.filterwarnings(
        "ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated", category=FutureWarning
    )
    # Scoring a checkpoint (tools/evaluate.py, errors, diagnose) needs its weights, not the
    # checkpoint callbacks' state that Lightning asks for to resume training.
    warnings.filterwarnings("ignore", message=r"Be aware that when using `ckpt_path`, callbacks used to create")
    logging.getLogger(LIGHTNING_INFO).addFilter(_no_tips)
    # Optuna's storage layer imports alembic, which logs each of its plugins at INFO ("setup
    # plugin alembic.autogenerate...") when an Optuna sweep starts; detkit keeps studies in memory.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _no_tips(record: logging.LogRecord) -> bool:
    """Drop Lightning's advertisement tips (a cloud logger); detkit logs to TensorBoard."""
    return not str(record.msg).startswith("💡 Tip")
