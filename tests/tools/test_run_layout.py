"""Every path a run folder holds is named once, in `detkit.runs.layout`: with every name
changed there, each tool writes its outputs under the new names and reads them back, and no
default name appears anywhere (issue 41)."""

from dataclasses import fields
from pathlib import Path

import pytest

from detkit.runs import layout
from tests.conftest import TINY_SHAPES_OVERRIDES, TRAINING_SEED

pytestmark = pytest.mark.slow  # trains nine tiny runs, one tool after another (in this process)

DEFAULT = layout.RunLayout()
MOVED = layout.RunLayout(
    **{f.name: f"moved_{getattr(DEFAULT, f.name)}" for f in fields(DEFAULT) if f.name != "checkpoint_suffix"},
    checkpoint_suffix=".weights",
)
TINY = [*TINY_SHAPES_OVERRIDES, f"seed={TRAINING_SEED}", f"data_seed={TRAINING_SEED}", "trainer.max_epochs=2"]


def default_names_in(folder: Path) -> list[str]:
    """Paths under ``folder`` with a default layout name as a part (Hydra's own .hydra/ aside)."""
    names = {getattr(DEFAULT, f.name) for f in fields(DEFAULT)} - {DEFAULT.checkpoint_suffix, "best", "last"}
    found = []
    for path in folder.rglob("*"):
        parts = path.relative_to(folder).parts
        if ".hydra" in parts:
            continue
        if names & set(parts) or path.suffix == DEFAULT.checkpoint_suffix:
            found.append(str(path.relative_to(folder)))
    return found


def test_every_tool_finds_its_outputs_under_changed_layout_names(run_tool_here, tmp_path, monkeypatch):
    monkeypatch.setattr(layout, "LAYOUT", MOVED)
    run = tmp_path / "run"

    def ok(*command: str) -> None:
        result = run_tool_here(*command, tiny=False)
        assert result.returncode == 0, result.stderr[-3000:]

    ok("train", *TINY, f"hydra.run.dir={run}")
    for name in (MOVED.config, MOVED.metrics, MOVED.splits, MOVED.tensorboard):
        assert (run / name).exists(), name
    assert {p.name for p in (run / MOVED.checkpoints).iterdir()} == {"moved_best.weights", "moved_last.weights"}

    ok("train", f"resume={run}", "trainer.max_epochs=3")  # reads moved_last.weights and moved_config.yaml
    ok("evaluate", f"run={run}")
    assert (run / MOVED.evaluations / "dev" / MOVED.metrics).is_file()
    ok("errors", f"run={run}")
    assert (run / MOVED.errors / "dev" / "errors.json").is_file()
    assert (run / MOVED.predictions / "dev.json").is_file()
    ok("predict", f"run={run}", f"images={tmp_path / 'data' / 'shapes' / 'images'}", "draw=false")
    assert (run / MOVED.predict / "predictions.json").is_file()
    ok("export", f"run={run}")
    assert (run / MOVED.export / "model.onnx").is_file()
    ok("diagnose", f"run={run}", "learning_curve=[0.5,1.0]", "bootstrap.samples=20")
    share = run / MOVED.learning_curve / "train_0.5"
    assert (share / MOVED.splits).is_dir() and (share / MOVED.checkpoints / "moved_best.weights").is_file()
    ok("compare", f"runs=[{run},{share}]", "samples=20", f"out={tmp_path / 'comparison'}")
    assert (tmp_path / "comparison" / MOVED.tensorboard).is_dir()

    two_classes = "data.module.source.classes=[circle,square]"
    ok("compare_multitask", *TINY, two_classes, f"hydra.run.dir={tmp_path / 'multitask'}")
    for child in (Path(MOVED.joint), Path(MOVED.per_class) / "circle", Path(MOVED.per_class) / "square"):
        assert (tmp_path / "multitask" / child / MOVED.metrics).is_file(), child
    ok("compare_transfer", *TINY, f"init.checkpoint={run}", f"hydra.run.dir={tmp_path / 'transfer'}")
    for child in (MOVED.finetuned, MOVED.scratch):
        assert (tmp_path / "transfer" / child / MOVED.metrics).is_file(), child

    assert default_names_in(tmp_path) == []
