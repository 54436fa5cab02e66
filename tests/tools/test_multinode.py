"""Two "nodes" on one machine, launched as a cluster launches them: torchrun's c10d rendezvous,
and the environment srun gives each task (Lightning's SLURM environment). Each node is a
separate launch started two seconds after the other, as nodes of a real job start, with no
``hydra.run.dir``: the run directory must still be one."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from detkit.training.run import build_datamodule
from tests.conftest import ROOT, compose_train, free_port
from tests.tools.conftest import tool_command

NODES = 2
TIMEOUT = 600
ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # each node's, and the one-process evaluation compared with them


def _node_command(launcher: str, node: int, port: int, overrides: list[str]) -> tuple[list[str], dict[str, str]]:
    """One node's command line and environment: a new run on the tests' tiny data with the
    two-node trainer, or (``overrides`` with ``resume=``) a run's own config."""
    fresh = not any(o.startswith("resume=") for o in overrides)
    trainer = ["trainer=ddp_cpu", f"trainer.num_nodes={NODES}", "trainer.devices=1"] if fresh else []
    train = tool_command("train", *trainer, *overrides, tiny=fresh)
    env = {**os.environ, **ONE_THREAD}
    if launcher == "torchrun":
        rendezvous = [f"--nnodes={NODES}", "--nproc_per_node=1", f"--node_rank={node}", "--rdzv_backend=c10d"]
        command = [sys.executable, "-m", "torch.distributed.run", *rendezvous, f"--rdzv_endpoint=127.0.0.1:{port}"]
        return [*command, *train[1:]], env
    slurm = {  # what srun --nodes=2 --ntasks-per-node=1 sets in each task
        "SLURM_JOB_ID": "4242",
        "SLURM_STEP_ID": "0",
        "SLURM_JOB_NAME": "train",
        "SLURM_NTASKS": str(NODES),
        "SLURM_NNODES": str(NODES),
        "SLURM_NTASKS_PER_NODE": "1",
        "SLURM_NODELIST": "localhost",
        "SLURM_PROCID": str(node),
        "SLURM_LOCALID": "0",
        "SLURM_NODEID": str(node),
        "MASTER_PORT": str(port),
    }
    return train, {**env, **slurm}


def _start(launcher: str, folder: Path, overrides: tuple = ([], []), cwds: tuple = ()) -> list:
    """Each node's launch (with its ``overrides``; in ``folder`` or its own of ``cwds``), 2 s
    apart, each in its own session: ``(process, log)`` per node."""
    port, nodes = free_port(), []
    for node in range(NODES):
        command, env = _node_command(launcher, node, port, overrides[node])
        log = folder / f"node{node}.log"
        with log.open("w") as out:
            started = subprocess.Popen(
                command,
                cwd=cwds[node] if cwds else folder,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        nodes.append((started, log))
        time.sleep(2)  # a later node stamps a later time: the run directory must not follow it
    return nodes


def _launch(launcher: str, folder: Path, overrides: tuple = ([], []), cwds: tuple = ()) -> list:
    """`_start`, then what each node printed once all ended (a `CompletedProcess` per node)."""
    results = []
    for process, log in _start(launcher, folder, overrides, cwds):
        process.wait(timeout=TIMEOUT)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, log.read_text(), ""))
    return results


@pytest.mark.slow
@pytest.mark.ddp
@pytest.mark.parametrize("launcher", ["torchrun", "slurm"])
def test_two_nodes_train_into_one_run_that_scores_as_one_process(run_tool, tmp_path, launcher):
    nodes = _launch(launcher, tmp_path)
    for result in nodes:
        assert result.returncode == 0, result.stdout[-3000:]
    runs = [p.parent for p in (tmp_path / "outputs").glob("*/*/.hydra")]
    assert len(runs) == 1, f"one run directory for both nodes, found {runs}"
    run = runs[0]
    if launcher == "slurm":
        assert run.name == "slurm-4242.0", "a SLURM job's run is named by its job and step"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    said = "".join(result.stdout for result in nodes)
    assert said.count("effective batch size 8 = 4 per process x 2 processes x 1 accumulated (processes: 2 node(s)") == 1
    trained = json.loads((run / "metrics.json").read_text())
    # with the nodes' one thread: another thread count sums floats in another order, and this
    # barely trained model's near-tied detections then rank otherwise (mAP 0.009 -> 0.017 here)
    alone = run_tool("evaluate", f"run={run}", "trainer=cpu", "split=dev", f"out={tmp_path / 'alone'}", env=ONE_THREAD)
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert json.loads((tmp_path / "alone" / "metrics.json").read_text())["dev"] == pytest.approx(
        trained["dev"], abs=1e-9
    )
    assert ROOT not in run.parents


@pytest.mark.slow
@pytest.mark.ddp
def test_a_node_that_fails_before_joining_ends_the_others_with_a_message_not_a_hang(tmp_path):
    """srun's tasks, node 1 refused by its config before it joins: node 0 would wait for it for
    Lightning's 30 minutes; with trainer.ddp_timeout_s=10 it stops then, naming the setting."""
    started = time.monotonic()
    waiting, failed = _launch("slurm", tmp_path, (["trainer.ddp_timeout_s=10"], ["data.module.batch_size=-1"]))
    assert time.monotonic() - started < 180
    assert failed.returncode == 2 and "error: data.batch_size must be >= 1" in failed.stdout
    assert waiting.returncode == 2, waiting.stdout[-3000:]
    assert "error: process 0 of 2 waited trainer.ddp_timeout_s=10 s for the other processes" in waiting.stdout
    assert "Traceback" not in waiting.stdout


@pytest.mark.slow
@pytest.mark.ddp
def test_nodes_given_different_configs_stop_together_naming_the_difference(tmp_path):
    first, second = _launch("torchrun", tmp_path, ([], ["optimizer.lr=0.01"]))
    said = first.stdout + second.stdout
    assert first.returncode != 0 and second.returncode != 0
    # torchrun's rendezvous may make either node process 0
    assert re.search(r"optimizer\.lr=0\.0(1|03) \(process 0: 0\.0(03|1)\)", said), said[-3000:]
    assert "the processes of this launch were given different configs" in said
    assert not list((tmp_path / "outputs").glob("*/*/checkpoints/*.ckpt")), "nothing trained"


@pytest.mark.slow
@pytest.mark.ddp
def test_two_nodes_killed_mid_epoch_resume_to_the_uninterrupted_result(tmp_path):
    # 48 scenes: an epoch of 13 steps, about 4 s, so that the kill (0.3 s after the first
    # epoch's checkpoint is seen) lands in the second epoch; with 16, 4 steps, the second epoch
    # could end first on a fast CPU (its checkpoint then said epoch 2)
    steps = ["trainer.max_epochs=4", "data.module.source.num_scenes=48", "evaluation.splits=[dev]"]
    steps += ["callbacks.dev_images.every_n_epochs=0"]
    for result in _launch("torchrun", tmp_path, ([*steps, "name=whole"],) * NODES):
        assert result.returncode == 0, result.stdout[-3000:]

    killed = _start("torchrun", tmp_path, ([*steps, "name=killed"],) * NODES)
    last, deadline = None, time.monotonic() + 300
    try:
        while time.monotonic() < deadline and all(process.poll() is None for process, _ in killed):
            last = next((tmp_path / "outputs" / "killed").glob("*/checkpoints/last.ckpt"), None)
            if last is not None and torch.load(last, weights_only=True)["epoch"] >= 1:
                time.sleep(0.3)  # into the next epoch's steps
                break
            time.sleep(0.2)
    finally:
        for process, _ in killed:  # both nodes at once, agents and workers
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert last is not None and torch.load(last, weights_only=True)["epoch"] == 1, "killed during epoch 2"
    for result in _launch("torchrun", tmp_path, (["resume=last", "name=killed"],) * NODES):
        assert result.returncode == 0, result.stdout[-3000:]

    runs = [next((tmp_path / "outputs" / name).iterdir()) for name in ("whole", "killed")]
    whole, resumed = (torch.load(run / "checkpoints" / "last.ckpt", weights_only=True) for run in runs)
    assert resumed["global_step"] == whole["global_step"] and resumed["epoch"] == whole["epoch"] == 3
    for key, value in whole["state_dict"].items():  # exact: the same shuffles, augmentations and updates
        assert torch.equal(resumed["state_dict"][key], value), key
    metrics = [json.loads((run / "metrics.json").read_text())["dev"] for run in runs]
    assert metrics[1] == metrics[0]


@pytest.mark.slow
@pytest.mark.ddp
def test_nodes_reading_different_data_under_one_config_stop_naming_it(tmp_path):
    """Each node in its own folder, as on machines of their own: node 1's data/ is the same
    generated dataset with one box moved by a pixel (an edited copy), the command line the same."""
    folders = (tmp_path / "node0", tmp_path / "node1")
    folders[0].mkdir()
    build_datamodule(compose_train(folders[1]))  # what the command line generates, in data/
    annotations = folders[1] / "data" / "shapes" / "annotations.json"
    coco = json.loads(annotations.read_text())
    coco["annotations"][0]["bbox"][0] += 1
    annotations.write_text(json.dumps(coco))
    first, second = _launch("torchrun", tmp_path, cwds=folders)
    said = first.stdout + second.stdout
    assert first.returncode != 0 and second.returncode != 0
    # (the run directories differ too: on one machine each node's folder has another path)
    fingerprints = r"the data read \(fingerprint of its records\)='([0-9a-f]+)' \(process 0: '([0-9a-f]+)'\)"
    found = re.search(fingerprints, said)
    assert found and found[1] != found[2], said[-3000:]
    assert not list(tmp_path.glob("node*/outputs/*/*/checkpoints/*.ckpt")), "nothing trained"
