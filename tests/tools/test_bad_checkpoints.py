"""A file that is not a detkit checkpoint, wherever a tool reads one, is one message naming it and
what it is not; the safe loader refuses code, and no tool suggests turning it off."""

import os

import pytest
import torch

from detkit.errors import ConfigError
from detkit.models.transfer import read_checkpoint
from detkit.training.run import train
from tests.conftest import compose_train


class RunsCode:
    """Unpickling this would run a shell command (what a malicious checkpoint does)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def bad_checkpoints(tmp_path):
    """Four files named .ckpt that are not checkpoints, and the file the malicious one would make."""
    marker = tmp_path / "code_ran"
    files = {name: tmp_path / f"{name}.ckpt" for name in ("truncated", "malicious", "number", "list")}
    torch.save({"state_dict": {"model.weight": torch.zeros(64, 64)}, "epoch": 3}, files["truncated"])
    files["truncated"].write_bytes(files["truncated"].read_bytes()[:300])
    torch.save({"state_dict": {}, "payload": RunsCode(marker)}, files["malicious"])
    torch.save(5, files["number"])
    torch.save([1, 2], files["list"])
    return files, marker


MESSAGES = {
    "truncated": "is truncated or not a checkpoint at all",
    "malicious": "holds objects other than tensors and plain data, which detkit never loads",
    "number": "is a int without a 'state_dict'",
    "list": "is a list without a 'state_dict'",
}


@pytest.mark.parametrize("kind", list(MESSAGES))
def test_every_kind_of_bad_checkpoint_is_named_without_advice_to_unsafe_loading(bad_checkpoints, kind):
    files, marker = bad_checkpoints
    with pytest.raises(ConfigError) as raised:
        read_checkpoint(files[kind])
    assert MESSAGES[kind] in str(raised.value) and str(files[kind]) in str(raised.value)
    assert "weights_only" not in str(raised.value) and not marker.exists(), "no code ran"


@pytest.mark.parametrize("tool", ["evaluate", "errors", "diagnose", "predict"])
def test_tools_reading_a_checkpoint_refuse_a_malicious_one_with_exit_2(run_tool_here, bad_checkpoints, tool):
    files, marker = bad_checkpoints
    result = run_tool_here(tool, f"run={files['malicious']}", *(["images=nowhere"] if tool == "predict" else []))
    assert result.returncode == 2 and MESSAGES["malicious"] in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not marker.exists()


def test_resume_and_init_refuse_files_that_are_not_checkpoints(tmp_path, bad_checkpoints):
    files, marker = bad_checkpoints
    with pytest.raises(ConfigError, match=MESSAGES["number"]):
        train(compose_train(tmp_path, [f"init.checkpoint={files['number']}"]))
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    files["malicious"].rename(run / "checkpoints" / "last.ckpt")
    with pytest.raises(ConfigError, match=MESSAGES["malicious"]):
        train(compose_train(tmp_path, [f"resume={run}", "trainer.max_epochs=1"]))
    assert not marker.exists()
