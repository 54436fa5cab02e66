"""The logger config group: TensorBoard always (the run folder's own record), and CSV or MLflow
beside it, each getting the metrics per step, the config and the final scores."""

import csv
import json
from pathlib import Path

import pytest

from detkit.training.run import train
from detkit.workflows.diagnose import DiagnoseOptions, diagnose_run
from detkit.workflows.options import typed
from tests.conftest import compose_config, compose_train

pytestmark = pytest.mark.slow  # each trains a tiny run

SHORT = ["trainer.max_epochs=2", "trainer.log_every_n_steps=1", "callbacks.dev_images.every_n_epochs=0"]


def test_logger_csv_writes_lightnings_csv_beside_tensorboard(tmp_path):
    train(compose_train(tmp_path, [*SHORT, "logger=csv"]))
    run = tmp_path / "run"
    with (run / "csv" / "metrics.csv").open() as rows:
        logged = list(csv.DictReader(rows))
    assert [r["dev/mAP"] for r in logged if r.get("dev/mAP")], "each validation's dev mAP"
    assert any(r.get("train/loss") for r in logged) and any(r.get("final/dev_mAP") for r in logged)
    assert "seed: 0" in (run / "csv" / "hparams.yaml").read_text()
    assert any((run / "tensorboard").glob("events.out.tfevents.*")), "TensorBoard stays the run's record"

    _diagnose(run)  # a report: its own CSV version, the training's metrics.csv kept
    with (run / "csv" / "metrics.csv").open() as rows:
        assert list(csv.DictReader(rows)) == logged
    with (run / "csv" / "diagnosis" / "metrics.csv").open() as rows:
        (diagnosis,) = list(csv.DictReader(rows))
    saved = json.loads((run / "diagnosis.json").read_text())
    assert float(diagnosis["diagnosis/error_dev"]) == pytest.approx(saved["errors"]["dev"])


def _diagnose(run: Path) -> None:
    diagnose_run(typed(DiagnoseOptions, compose_config("diagnose", [f"run={run}", "bootstrap.samples=20"])))


def test_logger_mlflow_is_read_back_by_mlflows_own_client(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # mlflow.db lands beside outputs/, in the folder the command runs from
    run = train(compose_train(tmp_path, [*SHORT, "logger=[tensorboard,mlflow]", "name=shapes_mlflow"]))
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("shapes_mlflow")
    (found,) = client.search_runs([experiment.experiment_id])
    history = client.get_metric_history(found.info.run_id, "dev/mAP")
    per_epoch, final = history[:2], history[2:]  # the best checkpoint is scored again unless it is the last epoch's
    assert len(per_epoch) == 2 and per_epoch[0].step < per_epoch[1].step, "one dev mAP per epoch"
    assert [m.value for m in final] in ([], [pytest.approx(max(m.value for m in per_epoch))]), "then the best's"
    assert found.data.metrics["final/dev_mAP"] == pytest.approx(run.metrics["dev"]["mAP"])
    assert found.data.params["seed"] == "0" and found.data.params["model/name"] == "ssdlite320_mobilenet_v3_large"
    artifacts = {a.path for a in client.list_artifacts(found.info.run_id)}
    assert {"config.yaml", "metrics.json"} <= artifacts
    local = client.download_artifacts(found.info.run_id, "metrics.json", str(tmp_path / "back"))
    assert json.loads(Path(local).read_text())["dev"] == run.metrics["dev"]
    assert any((tmp_path / "run" / "tensorboard").glob("events.out.tfevents.*"))

    _diagnose(tmp_path / "run")  # a report: a run of its own in the same experiment, named after the training's
    (report,) = [r for r in client.search_runs([experiment.experiment_id]) if r.info.run_id != found.info.run_id]
    assert report.info.run_name == f"{found.info.run_name}/diagnosis"
    saved = json.loads((tmp_path / "run" / "diagnosis.json").read_text())
    assert report.data.metrics["diagnosis/error_dev"] == pytest.approx(saved["errors"]["dev"])
    assert "diagnosis" in {a.path for a in client.list_artifacts(report.info.run_id)}, "the report's text"
