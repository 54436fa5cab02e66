"""A logger no detkit code knows: Lightning's Logger interface, writing JSON lines. The tests add
it as a yaml in a copy of configs/ to show that adding a logger is its yaml."""

from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger


class JsonLinesLogger(Logger):
    """Each ``log_metrics`` call as one JSON line in ``<save_dir>/<version>.jsonl``."""

    def __init__(self, save_dir: str, version: str = "train") -> None:
        super().__init__()
        self._save_dir, self._version = Path(save_dir), version

    @property
    def name(self) -> str:
        return "jsonl"

    @property
    def version(self) -> str:
        return self._version

    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._save_dir.mkdir(parents=True, exist_ok=True)
        with open(self._save_dir / f"{self._version}.jsonl", "a", encoding="utf-8") as file:
            file.write(json.dumps({"step": step, **metrics}) + "\n")

    def lines(self) -> list[dict[str, Any]]:
        path = self._save_dir / f"{self._version}.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.is_file() else []
