"""A file that is not a detkit checkpoint, wherever a tool reads one, is one message naming it and
what it is not; the safe loader refuses code, and no tool suggests turning it off."""

import os

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detkit.exceptions import ConfigError
from detkit.runs.checkpoints import CHECKPOINT_CLASSES, read_checkpoint
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


CHECKPOINT_VALUES = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5), st.just(torch.zeros(2))),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8,
)


@settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    content=CHECKPOINT_VALUES,
    key=st.sampled_from(["state_dict", "epoch", CHECKPOINT_CLASSES, "x"]),
    cut=st.one_of(st.none(), st.integers(0, 2000)),
)
def test_fuzzed_checkpoints_are_read_or_refused_with_one_message(tmp_path, content, key, cut):
    """Odd contents where a checkpoint's parts go, or the file cut short: never another error."""
    path = tmp_path / "fuzzed.ckpt"
    torch.save({"state_dict": {"model.weight": torch.ones(3)}, key: content}, path)
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    try:
        state, names = read_checkpoint(path)
        assert all(isinstance(v, torch.Tensor) for v in state.values())
        assert names is None or all(isinstance(n, str) for n in names)
    except ConfigError as error:
        assert str(path) in str(error) and "weights_only" not in str(error)
