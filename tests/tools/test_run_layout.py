"""Every path a run folder holds is named once, in `detkit.runs.layout`: with every name
changed there (the reports' files too), each tool writes its outputs under the new names and
reads them back, and no default name appears anywhere (issue 41). The same runs show that a
logger is one yaml: added to a copy of configs/, training and every report reach it (issue 59)."""

import json
import shutil
from dataclasses import fields
from pathlib import Path

import pytest

from detkit.runs import layout, saved_config
from tests.conftest import ROOT, TINY_SHAPES_OVERRIDES, TRAINING_SEED
from tests.tools import conftest as tools_conftest

pytestmark = pytest.mark.slow  # trains nine tiny runs, one tool after another (in this process)

DEFAULT = layout.RunLayout()
MOVED = layout.RunLayout(
    **{f.name: f"moved_{getattr(DEFAULT, f.name)}" for f in fields(DEFAULT) if f.name != "checkpoint_suffix"},
    checkpoint_suffix=".weights",
)
DEFAULT_REPORTS = layout.ReportFiles()
MOVED_REPORTS = layout.ReportFiles(
    **{f.name: f"moved_{getattr(DEFAULT_REPORTS, f.name)}" for f in fields(DEFAULT_REPORTS)}
)
# a logger no detkit code names: its yaml, added to configs/logger/, is all it takes
JSONL_LOGGER = """jsonl:
  _target_: tests.training.jsonl_logger.JsonLinesLogger
  save_dir: ${paths.output_dir}/jsonl
  version: train
"""
TINY = [*TINY_SHAPES_OVERRIDES, f"seed={TRAINING_SEED}", f"data_seed={TRAINING_SEED}", "trainer.max_epochs=2"]


def default_names_in(folder: Path) -> list[str]:
    """Paths under ``folder`` with a default layout name as a part (Hydra's own .hydra/ aside)."""
    names = {getattr(DEFAULT, f.name) for f in fields(DEFAULT)} - {DEFAULT.checkpoint_suffix, "best", "last"}
    stems = {getattr(DEFAULT_REPORTS, f.name) for f in fields(DEFAULT_REPORTS)}
    found = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if ".hydra" in parts or "project" in parts[:1]:  # Hydra's own, and the copy of tools/ and configs/
            continue
        report = path.is_file() and path.name.split(".")[0] in stems
        if names & set(parts) or path.suffix == DEFAULT.checkpoint_suffix or report:
            found.append(str(path.relative_to(folder)))
    return found


def logged(folder: Path, version: str) -> set[str]:
    """The names the JSON-lines logger received in ``folder`` for ``version`` (a report's name)."""
    lines = (folder / "jsonl" / f"{version}.jsonl").read_text(encoding="utf-8").splitlines()
    return {name for line in lines for name in json.loads(line)}


def test_every_tool_finds_its_outputs_under_changed_layout_names(run_tool_here, tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "LAYOUT", MOVED)
    monkeypatch.setattr(layout, "REPORTS", MOVED_REPORTS)
    project = tmp_path / "project"  # the tools and configs, with one yaml added: a new logger
    shutil.copytree(ROOT / "tools", project / "tools")
    shutil.copytree(ROOT / "configs", project / "configs")
    (project / "configs" / "logger" / "jsonl.yaml").write_text(JSONL_LOGGER)
    monkeypatch.setattr(tools_conftest, "ROOT", project)
    monkeypatch.setattr(saved_config, "PROJECT_CONFIGS", project / "configs")
    run = tmp_path / "run"

    def ok(*command: str) -> None:
        result = run_tool_here(*command, tiny=False)
        assert result.returncode == 0, result.stderr[-3000:]

    ok("train", *TINY, "logger=[tensorboard,jsonl]", f"hydra.run.dir={run}")
    assert "dev/mAP" in logged(run, "train")
    for name in (MOVED.config, MOVED.metrics, MOVED.splits, MOVED.tensorboard):
        assert (run / name).exists(), name
    assert {p.name for p in (run / MOVED.checkpoints).iterdir()} == {"moved_best.weights", "moved_last.weights"}

    ok("train", f"resume={run}", "trainer.max_epochs=3")  # reads moved_last.weights and moved_config.yaml
    ok("evaluate", f"run={run}")
    assert (run / MOVED.evaluations / "dev" / MOVED.metrics).is_file()
    ok("errors", f"run={run}")
    assert (run / MOVED.errors / "dev" / "moved_errors.json").is_file()
    assert any(name.startswith("errors/dev/dAP_") for name in logged(run, "moved_errors"))
    ok("data_health", f"run={run}")
    assert (run / MOVED.data_health / "moved_health.json").is_file()
    assert "data_health/copy_clusters" in logged(run, "moved_health")
    assert (run / MOVED.predictions / "dev.json").is_file()
    ok("predict", f"run={run}", f"images={tmp_path / 'data' / 'shapes' / 'images'}", "draw=false")
    assert (run / MOVED.predict / "moved_predictions.json").is_file()
    ok("export", f"run={run}")
    assert (run / MOVED.export / "moved_model.onnx").is_file()
    ok("diagnose", f"run={run}", "learning_curve=[0.5,1.0]", "bootstrap.samples=20")
    share = run / MOVED.learning_curve / "train_0.5"
    assert (share / MOVED.splits).is_dir() and (share / MOVED.checkpoints / "moved_best.weights").is_file()
    assert (run / "moved_diagnosis.md").is_file() and (run / "moved_learning_curve.json").is_file()
    assert "diagnosis/error_dev" in logged(run, "moved_diagnosis")
    assert any(name.startswith("learning_curve/") for name in logged(run, "moved_learning_curve"))
    ok("compare", f"runs=[{run},{share}]", "samples=20", f"out={tmp_path / 'comparison'}")
    assert (tmp_path / "comparison" / MOVED.tensorboard).is_dir()
    assert (tmp_path / "comparison" / "moved_comparison.md").is_file()
    assert any(name.startswith("comparison/") for name in logged(tmp_path / "comparison", "moved_comparison"))

    two_classes = "data.module.source.classes=[circle,square]"
    ok("compare_multitask", *TINY, two_classes, f"hydra.run.dir={tmp_path / 'multitask'}")
    for child in (Path(MOVED.joint), Path(MOVED.per_class) / "circle", Path(MOVED.per_class) / "square"):
        assert (tmp_path / "multitask" / child / MOVED.metrics).is_file(), child
    ok("compare_transfer", *TINY, f"init.checkpoint={run}", f"hydra.run.dir={tmp_path / 'transfer'}")
    for child in (MOVED.finetuned, MOVED.scratch):
        assert (tmp_path / "transfer" / child / MOVED.metrics).is_file(), child

    assert default_names_in(tmp_path) == []
