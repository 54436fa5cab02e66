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
    logging.getLogger(LIGHTNING_INFO).addFilter(_not_noise)
    # The Predictor keeps each batch's detections itself (gathered across processes): it
    # returns nothing from predict_step on purpose.
    warnings.filterwarnings("ignore", message=r"predict returned None if it was on purpose")
    _one_copy_of_each_line()
    # Optuna's storage layer imports alembic, which logs each of its plugins at INFO ("setup
    # plugin alembic.autogenerate...") when an Optuna sweep starts; detkit keeps studies in memory.
    logging.getLogger("alembic").setLevel(logging.WARNING)


NOISE = (
    "💡 Tip",  # advertisements (a cloud logger); detkit logs to TensorBoard
    "GPU available: False",  # no accelerator to report (one that is there, used or not, is still said)
    "TPU available: False",
    "Loading `train_dataloader` to estimate",  # the schedules ask for the step count; nothing to act on
    "Trainer already configured with model summary",  # detkit's summary (without FLOPs) replaces Lightning's
)


def _not_noise(record: logging.LogRecord) -> bool:
    """Drop the Lightning messages in `NOISE`."""
    return not str(record.msg).startswith(NOISE)


def _one_copy_of_each_line() -> None:
    """The ``lightning`` package logger prints every message itself (``INFO: ...``) and passes it
    on to the root logger, which a tool's Hydra logging config prints again: once the root has
    a handler, Lightning's own console handler goes."""
    if logging.getLogger().handlers:
        package = logging.getLogger("lightning")
        for handler in [h for h in package.handlers if type(h) is logging.StreamHandler]:
            package.removeHandler(handler)
