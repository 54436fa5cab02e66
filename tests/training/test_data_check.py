"""The data's check as training starts: one line per finding, the report in the run folder."""

import json
import logging
from pathlib import Path

from detkit.data.health.planted_copies import copies_across_splits
from detkit.data.shapes import ensure_shapes
from detkit.data.splits.split_data import SplitPlan
from detkit.training.data_check import check_data_at_start
from tests.conftest import TINY_SHAPES, compose_train

FOUR = {"train": 0.5, "train_dev": 0.125, "dev": 0.25, "test": 0.125}


def test_copies_across_splits_are_said_in_one_line_and_reported_in_the_run(tmp_path, caplog):
    dataset = ensure_shapes(tmp_path / "shapes", TINY_SHAPES)
    data, _ = copies_across_splits(SplitPlan("auto", {"fractions": FOUR}, 0).settle(dataset), 3)
    cfg = compose_train(tmp_path)
    run_dir = Path(cfg.paths.output_dir)
    with caplog.at_level(logging.WARNING, logger="detkit.training.data_check"):
        check_data_at_start(cfg, data, run_dir)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "3 cluster(s) of copies or near-identical images span splits" in lines[0], lines
    report = json.loads((run_dir / "data_health" / "health.json").read_text())
    assert len(report["duplicates"]["leaks"]) == 3 and (run_dir / "data_health" / "leaks.png").is_file()


def test_the_check_is_off_at_zero_and_above_its_size(tmp_path, caplog, tiny_shapes):
    data = SplitPlan("auto", {"fractions": FOUR}, 0).settle(tiny_shapes)
    for limit, said in ((0, False), (len(tiny_shapes) - 1, True)):
        cfg = compose_train(tmp_path, [f"data.health_check_images={limit}"], out=f"limit{limit}")
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="detkit.training.data_check"):
            check_data_at_start(cfg, data, Path(cfg.paths.output_dir))
        assert not (Path(cfg.paths.output_dir) / "data_health").exists()
        assert any("python tools/data_health.py" in r.getMessage() for r in caplog.records) == said
