"""Outputs never overlap inputs (`detkit.workflows.outputs`): an output folder that is, lies
inside or holds any input of the command, named directly or through a link, is refused; one
inside a run folder it reads is not, unless it meets the run's checkpoints, splits or config."""

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from detkit.exceptions import ConfigError
from detkit.workflows.outputs import INPUT_KEYS, check_apart, output_folder


@dataclass
class Options:
    """A typed options object, as the workflows take: a few input keys and out."""

    out: str | None = None
    run: str | None = None
    images: str | None = None
    annotations: str | None = None


@pytest.fixture
def tree(tmp_path):
    data = tmp_path / "data"
    (data / "images").mkdir(parents=True)
    (data / "images" / "a.png").write_bytes(b"png")
    (data / "train.json").write_text("{}")
    run = tmp_path / "run"
    for part in ("checkpoints", "splits"):
        (run / part).mkdir(parents=True)
    (run / "config.yaml").write_text("seed: 0\n")
    (tmp_path / "link_to_data").symlink_to(data)
    return tmp_path


def _outputs_over(input_path: Path, tmp_path: Path) -> dict[str, Path]:
    """Every way an output can overlap ``input_path``: be it, hold it, lie inside it (a
    folder), each also through a link."""
    link = tmp_path / f"link_to_{input_path.name}"
    if not link.exists():
        link.symlink_to(input_path)
    ways = {"is": input_path, "is, through a link": link, "holds": input_path.parent}
    if input_path.is_dir():
        ways |= {"lies inside": input_path / "out", "lies inside, through a link": link / "deeper" / "out"}
    return ways


@pytest.mark.parametrize("key", INPUT_KEYS)
@pytest.mark.parametrize("target", ["images", "train.json"])
def test_an_output_over_any_input_key_is_refused_in_every_way(tree, key, target):
    given = tree / "data" / target
    options = {}
    node = options
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = str(given)
    for way, out in _outputs_over(given, tree).items():
        with pytest.raises(ConfigError, match=f"out={out} (is|lies inside|holds) .*{key}=") as refused:
            check_apart(out, options)
        assert "choose a folder apart from it" in str(refused.value), way


def test_inputs_named_through_a_link_are_resolved(tree):
    options = Options(images=str(tree / "link_to_data" / "images"))
    with pytest.raises(ConfigError, match="lies inside"):
        check_apart(tree / "data" / "images" / "drawn", options)


@pytest.mark.parametrize("part", ["checkpoints", "splits", "config.yaml"])
def test_an_output_may_lie_in_a_run_it_reads_but_not_over_what_the_run_was_made_from(tree, part):
    run = tree / "run"
    options = Options(run=str(run))
    for allowed in (run, run / "eval" / "dev", run / "predict"):
        check_apart(allowed, options)
    for refused in (run / part, run / part / "x", tree):
        with pytest.raises(ConfigError, match="which this command reads"):
            check_apart(refused, options)


def test_a_default_output_is_checked_as_a_given_one(tree):
    images = tree / "run" / "predict"
    images.mkdir()
    options = Options(run=str(tree / "run"), images=str(images))
    with pytest.raises(ConfigError, match=r"the default output folder .*predict \(or out=\) is images="):
        output_folder(options, images)
    assert output_folder(Options(run=str(tree / "run")), images) == images


def test_outputs_apart_from_every_input_pass(tree):
    options = Options(run=str(tree / "run"), images=str(tree / "data" / "images"), annotations=str(tree / "data"))
    for out in (tree / "elsewhere", tree / "run" / "predict", tree / "data_out"):
        assert output_folder(Options(**{**options.__dict__, "out": str(out)}), "unused") == out
    assert not os.path.exists(tree / "elsewhere"), "checking makes nothing"
