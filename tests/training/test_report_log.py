"""A report logs through the loggers its run's config chose (`detkit.training.loggers`): each in
a place of its own, the training's records kept, and never where a shared run's config points
outside the run."""

import csv
import json
import logging

from omegaconf import OmegaConf

from detkit.training.loggers import ReportLog

CSV = {"_target_": "lightning.pytorch.loggers.CSVLogger", "name": "", "version": ""}
JSONL = {"_target_": "tests.training.jsonl_logger.JsonLinesLogger", "version": "train"}


def _run_config(trained_in, **loggers):
    return OmegaConf.create({"paths": {"output_dir": str(trained_in)}, "logger": loggers})


def test_a_report_logs_beside_the_training_records_of_a_moved_run(tmp_path):
    trained_in, run = tmp_path / "where_it_trained", tmp_path / "copy"
    (run / "csv").mkdir(parents=True)
    (run / "csv" / "metrics.csv").write_text("step,train/loss\n0,1.5\n")
    config = _run_config(
        trained_in, csv={**CSV, "save_dir": str(trained_in / "csv")}, jsonl={**JSONL, "save_dir": str(trained_in / "j")}
    )
    with ReportLog.of_run(config, run, "diagnosis") as log:
        log.scalars({"diagnosis/error_dev": 0.25, "diagnosis/error_test": None})
        log.text("diagnosis/report", "# a report")  # the JSON-lines logger has no client: nothing, no error
    assert (run / "csv" / "metrics.csv").read_text() == "step,train/loss\n0,1.5\n", "the training's rows kept"
    with (run / "csv" / "diagnosis" / "metrics.csv").open() as rows:
        assert list(csv.DictReader(rows)) == [{"diagnosis/error_dev": "0.25", "step": "0"}]
    lines = [json.loads(line) for line in (run / "j" / "diagnosis.jsonl").read_text().splitlines()]
    assert lines == [{"step": 0, "diagnosis/error_dev": 0.25}], "undefined values are not logged"
    assert not trained_in.exists(), "the folder it was trained in is not written"
    assert any((run / "tensorboard").glob("events.out.tfevents.*"))


def test_a_shared_runs_logger_that_points_outside_it_is_left_out(tmp_path, caplog):
    run, elsewhere = tmp_path / "run", tmp_path / "home"
    config = _run_config(
        run,
        csv={**CSV, "save_dir": str(elsewhere)},
        mlflow={"_target_": "lightning.pytorch.loggers.MLFlowLogger", "tracking_uri": "https://collector.example"},
    )
    with caplog.at_level(logging.WARNING), ReportLog.of_run(config, run, "errors") as log:
        log.scalars({"errors/dev/dAP_missed": 0.1})
    assert [type(logger).__name__ for logger in log.loggers] == ["TensorBoardLogger"]
    assert not elsewhere.exists()
    assert "logger.csv.save_dir" in caplog.text and "logger.mlflow.tracking_uri" in caplog.text
