"""Lightning checkpoints written whole or not at all (`detkit.runs.checkpoints` reads them)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from detkit.files import write_bytes_atomic


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written whole or not at all: serialised in memory, then a temp file beside
    the target, renamed over it (`detkit.files.write_bytes_atomic`). Lightning's own save goes
    through fsspec's transaction, whose temp file is in the system's temp directory: when that is
    another file system the final move is a copy, which a kill can leave half-written."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_bytes_atomic(path, buffer.getvalue())
