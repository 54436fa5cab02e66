"""Hydra sweeps of tools/train.py, end to end: seeds on one split, an Optuna search of the dev
metric, and tools/compare.py on the sweep folder."""

import json

import pytest
import yaml

SHORT = ["trainer.max_steps=2", "evaluation.splits=[dev]", "callbacks.dev_images.every_n_epochs=0"]


def _jobs(sweep):
    return sorted((p for p in sweep.iterdir() if p.is_dir()), key=lambda p: int(p.name))


def _dev(job, metric):
    return json.loads((job / "metrics.json").read_text())["dev"][metric]


@pytest.mark.slow
def test_a_seed_sweep_of_two_configs_shares_one_split_and_is_compared_by_config(run_tool, tmp_path):
    result = run_tool("train", "seed=0,1", "optimizer.lr=0.003,0.0003", *SHORT, "hydra.sweep.dir=sweep", "-m")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _jobs(tmp_path / "sweep")
    assert len(jobs) == 4
    manifests = {(job / "splits" / "dev.json").read_text() for job in jobs}
    assert len(manifests) == 1, "the seed draws the training, not the split"
    assert sorted(yaml.safe_load((job / "config.yaml").read_text())["seed"] for job in jobs) == [0, 0, 1, 1]

    result = run_tool("compare", "sweep=sweep", "metric=mAP50", "samples=50", "out=cmp")
    assert result.returncode == 0, result.stderr[-3000:]
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert sorted(comparison["configs"]) == ["optimizer.lr=0.0003", "optimizer.lr=0.003"]
    for config in comparison["configs"].values():
        assert sorted(config["seeds"]) == [0, 1] and config["seed_std"] is not None
    (pair,) = comparison["pairs"]
    assert pair["seed_interval"] is not None
    assert "Seeds and images" in result.stdout


@pytest.mark.slow
def test_a_two_trial_optuna_search_returns_the_dev_metric_and_its_trials_compare(run_tool, tmp_path):
    # The tests' data fixes batch size and input size: the search varies the learning rate alone.
    result = run_tool("train", "hparams_search=optuna", "hydra.sweeper.n_trials=2", *SHORT, "hydra.sweep.dir=hp", "-m")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _jobs(tmp_path / "hp")
    assert len(jobs) == 2
    rates = [yaml.safe_load((job / "config.yaml").read_text())["optimizer"]["lr"] for job in jobs]
    assert rates[0] != rates[1] and all(0.0003 <= rate <= 0.01 for rate in rates)
    found = yaml.safe_load((tmp_path / "hp" / "optimization_results.yaml").read_text())
    assert found["best_value"] == max(_dev(job, "mAP") for job in jobs), "train.py returned its dev mAP"
    assert found["best_params"]["optimizer.lr"] in rates

    result = run_tool("compare", "sweep=hp", "samples=20", "out=cmp")
    assert result.returncode == 0, result.stderr[-3000:]
    comparison = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert sorted(comparison["configs"]) == sorted(f"optimizer.lr={rate}" for rate in rates)
    assert [c["runs"] for c in comparison["configs"].values()] == [["0"], ["1"]]
