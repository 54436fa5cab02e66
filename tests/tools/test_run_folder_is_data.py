"""A run folder copied from someone else is data: no tool that opens a run calls what its
config.yaml names (issue 38). Each tool is given a run whose config names os.system,
subprocess.run or builtins.open; nothing is called, and the tool ends with exit 2."""

from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import run_config

pytestmark = pytest.mark.slow  # each runs a tool (in this process)

ATTACKS = {
    "os.system": lambda marker, victim: {"_target_": "os.system", "_args_": [f"touch {marker}"]},
    "subprocess.run": lambda marker, victim: {"_target_": "subprocess.run", "args": ["touch", str(marker)]},
    "builtins.open": lambda marker, victim: {"_target_": "builtins.open", "file": str(victim), "mode": "w"},
}
TOOLS = {
    "evaluate": lambda run: ["evaluate", f"run={run}"],
    "predict": lambda run: ["predict", f"run={run}", f"images={run}/images"],
    "export": lambda run: ["export", f"run={run}"],
    "diagnose": lambda run: ["diagnose", f"run={run}"],
    "errors": lambda run: ["errors", f"run={run}"],
    "compare": lambda run: ["compare", f"runs=[{run.parent / 'mine'},{run}]"],
    "resume": lambda run: ["train", f"resume={run}"],
}


def hostile_run(folder: Path, target: str, marker: Path, victim: Path) -> Path:
    """A run folder with checkpoints of detkit's form and a config whose data, model and
    callbacks name ``target``."""
    attack = ATTACKS[target](marker, victim)
    config = {
        "seed": 0,
        "data": {"module": attack, "class_names": ["a"], "num_classes": 1},
        "model": {**attack, "name": "ssdlite320_mobilenet_v3_large", "image_size": 320},
        "callbacks": {"evil": attack},
        "evaluation": {"backend": "pycocotools", "splits": ["dev"]},
        "trainer": {"max_epochs": 1},
        "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.01},
    }
    (folder / "checkpoints").mkdir(parents=True)
    (folder / "images").mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    checkpoint = {"state_dict": {"model.w": torch.zeros(1)}, "epoch": 0, "global_step": 1, "detkit_class_names": ["a"]}
    for name in ("best", "last"):
        torch.save(checkpoint, folder / "checkpoints" / f"{name}.ckpt")
    return folder


@pytest.mark.parametrize("target", sorted(ATTACKS))
@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_no_tool_calls_what_a_run_folders_config_names(run_tool_here, tmp_path, tool, target):
    marker, victim = tmp_path / "called", tmp_path / "thesis.tex"
    victim.write_text("years of work\n")
    run = hostile_run(tmp_path / "shared_run", target, marker, victim)
    hostile_run(tmp_path / "mine", target, marker, victim)  # compare's other run
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    result = run_tool_here(*TOOLS[tool](run), tiny=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith("error: ") and f"={target!r} is not a class detkit builds" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists() and victim.read_text() == "years of work\n"
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before, "the run folder is untouched"


def test_a_new_training_into_a_folder_holding_a_run_is_refused(run_tool_here, tmp_path):
    run = tmp_path / "finished"
    (run / "checkpoints").mkdir(parents=True)
    (run / ".hydra").mkdir()
    (run / "checkpoints" / "best.ckpt").write_bytes(b"weights")
    result = run_tool_here("train", f"hydra.run.dir={run}")
    assert result.returncode == 2 and "holds a run already" in result.stderr and f"resume={run}" in result.stderr
    assert (run / "checkpoints" / "best.ckpt").read_bytes() == b"weights" and not (run / "config.yaml").exists()


def test_a_resume_with_fewer_epochs_than_done_is_refused_before_the_config_is_written(tmp_path):
    from omegaconf import OmegaConf

    from detkit.exceptions import ConfigError
    from detkit.training.run import check_epochs_left

    (tmp_path / "checkpoints").mkdir()
    torch.save({"epoch": 2}, tmp_path / "checkpoints" / "last.ckpt")  # three epochs done
    with pytest.raises(
        ConfigError, match=r"trained 3 epochs, more than trainer.max_epochs=1; pass trainer.max_epochs=3"
    ):
        check_epochs_left(OmegaConf.create({"trainer": {"max_epochs": 1}}), tmp_path)
    check_epochs_left(OmegaConf.create({"trainer": {"max_epochs": 3}}), tmp_path)  # evaluates again: allowed


def test_a_resume_of_a_run_another_process_writes_is_refused_before_anything_is_written(run_tool_here, tmp_path):
    import json
    import os
    import socket

    run = hostile_run(tmp_path / "live", "os.system", tmp_path / "m", tmp_path / "v")
    (run / "config.yaml").write_text(yaml.safe_dump(run_config()))  # a run's config, as the schema takes it
    (run / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": "now"}))
    result = run_tool_here("train", f"resume={run}", tiny=False)
    assert result.returncode == 2 and f"is being written by process {os.getpid()}" in result.stderr
    assert not (run / ".hydra").exists()


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        (
            "evaluate",
            ["annotations={data}/annotations.json", "predictions={data}/results.json", "out={data}/results.json"],
        ),
        ("split", ["data=coco", "data.root={data}", "out={data}/splits"]),
        ("split", ["data=coco", "data.root={data}/train.json", "out={data}"]),  # it would write train.json there
        ("predict", ["model={data}/model.onnx", "images={data}/images", "out={data}/images/drawn"]),
    ],
)
def test_an_output_among_the_inputs_is_refused(run_tool_here, tmp_path, tool, arguments):
    from tests.data.test_bad_input import _coco

    data = tmp_path / "data"
    data.mkdir()
    _coco(data)
    (data / "train.json").write_text((data / "annotations.json").read_text())
    (data / "results.json").write_text("[]")
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    arguments = [a.format(data=data) for a in arguments]
    result = run_tool_here(tool, *arguments, tiny=False)
    assert result.returncode == 2 and "outputs never go over, among or around inputs" in result.stderr, result.stderr[
        -2000:
    ]
    assert {p: p.read_bytes() for p in data.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("writer", ["copy", "write"])
def test_a_full_disk_names_the_file_and_leaves_no_staging_folder(run_tool_here, tmp_path, monkeypatch, writer):
    import errno
    import shutil

    from detkit import files
    from tests.data.test_bad_input import _coco

    data = tmp_path / "data"
    data.mkdir()
    _coco(data)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    if writer == "copy":
        monkeypatch.setattr(shutil, "copy2", full)
    else:
        monkeypatch.setattr(files.os, "replace", full)
    result = run_tool_here("convert", f"data.root={data}", "to=yolo", f"dst={tmp_path / 'out'}", tiny=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.startswith(f"error: cannot write {tmp_path / 'out'}") and "No space left" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"], "no staging folder, no output"
