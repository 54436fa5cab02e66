"""tools/errors.py label_issues=true: the labels most likely wrong, from files or a run."""

import base64
import csv
import json
from dataclasses import replace

import torch
from torchvision.io import decode_jpeg

from detkit.data.formats.coco import dataset_to_coco
from detkit.data.shapes import ANNOTATIONS_FILE, LABEL_NOISE_FILE, ensure_shapes
from tests.analysis.test_label_issues import NOISY, _confident_model
from tests.tools.test_cli import _gallery_sources


def test_label_issues_of_a_results_file_are_listed_drawn_and_priced(run_tool_here, tmp_path):
    noisy = tmp_path / "noisy"
    ensure_shapes(noisy, NOISY)
    truth = dataset_to_coco(ensure_shapes(tmp_path / "clean", replace(NOISY, label_noise=0.0)))
    (tmp_path / "results.json").write_text(json.dumps(_confident_model(truth)))
    given_before = (noisy / ANNOTATIONS_FILE).read_bytes()
    result = run_tool_here(
        "errors",
        f"annotations={noisy / ANNOTATIONS_FILE}",
        f"predictions={tmp_path / 'results.json'}",
        f"images={noisy / 'images'}",
        "label_issues=true",
        "worst=5",
        f"out={tmp_path / 'out'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "out"
    report = json.loads((out / "label_issues.json").read_text())
    injected = json.loads((noisy / LABEL_NOISE_FILE).read_text())["errors"]
    assert sum(report["counts"].values()) == len(report["issues"]) >= 0.7 * len(injected)
    (before, after), fixed = report["worth"]["AP50"], report["worth"]["fixed"]
    assert fixed == 20 and after > before, "fixing the first 20 as suggested raises AP50"
    assert set(report["worth"]["model_errors_dAP50"]) >= {"classification", "missed"}
    with (out / "errors.csv").open() as errors, (out / "label_issues.csv").open() as issues:
        header, rows = csv.DictReader(errors).fieldnames, list(csv.DictReader(issues))
    assert list(rows[0]) == header, "the columns of errors.csv: the same sheet to tag"
    assert [int(r["error_id"]) for r in rows] == [i["issue_id"] for i in report["issues"]]
    sources = _gallery_sources((out / "label_issues.html").read_text())
    assert len(sources) == 5, "the first 5 issues, each image embedded"
    image = decode_jpeg(torch.frombuffer(bytearray(base64.b64decode(sources[0].split(",", 1)[1])), dtype=torch.uint8))
    assert image.shape[0] == 3
    assert "What is it worth?" in (out / "label_issues.md").read_text()
    assert "likely label errors on predictions:" in result.stdout and "fixing the first 20" in result.stdout
    assert (noisy / ANNOTATIONS_FILE).read_bytes() == given_before, "the input is not changed"

    rows[0]["tags"], rows[1]["tags"], rows[2]["tags"] = "mislabelled", "mislabelled; small", "fine"
    with (tmp_path / "tagged.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    files = [f"annotations={noisy / ANNOTATIONS_FILE}", f"predictions={tmp_path / 'results.json'}"]
    result = run_tool_here("errors", *files, f"tags={tmp_path / 'tagged.csv'}", f"out={tmp_path / 'out'}")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "tags.json").read_text())
    assert summary["reviewed"] == 3 and summary["tags"]["mislabelled"]["share"] == 2 / 3
    with (out / "mislabelled.csv").open() as handle:
        assert [r["error_id"] for r in csv.DictReader(handle)] == [rows[0]["error_id"], rows[1]["error_id"]]
