"""benchmarks/gpu_check.py: every section runs end to end on the CPU (``--cpu``), and a failing
section is reported while the others still run (device time is too scarce to lose a report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import product
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_check  # noqa: E402  (a script's module, beside its imports in benchmarks/)


def test_a_failing_section_is_reported_and_the_next_still_runs(tmp_path):
    check = gpu_check.Check(tmp_path, gpu_check.CPU, tmp_path)

    def broken(check):
        raise ValueError("no such device")

    check.run("broken", broken)
    check.run("fine", lambda check: {"rows": [{"case": "a", "images/s": 1.5}]})
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["sections"]["broken"]["ok"] is False
    assert "ValueError: no such device" in report["sections"]["broken"]["error"]
    assert report["sections"]["fine"]["ok"] is True
    markdown = (tmp_path / "report.md").read_text()
    assert "## broken: FAILED" in markdown and "## fine: ok" in markdown and "| a | 1.5 |" in markdown


@pytest.mark.slow
def test_every_section_runs_on_the_cpu(tmp_path):
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--cpu", "--out", str(tmp_path)]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    sections = json.loads((tmp_path / "report.json").read_text())["sections"]
    assert list(sections) == list(gpu_check.SECTIONS)
    assert {name: s.get("error") for name, s in sections.items() if not s["ok"]} == {}
    cpu = gpu_check.CPU
    steps = sections["train_step"]["rows"]
    cases = {(r["model"], r["image_size"], r["precision"]) for r in steps}
    assert cases == set(product(cpu.models, cpu.image_sizes, cpu.precisions))
    assert all(r["plain images/s"] > 0 and r["detkit images/s"] > 0 for r in steps)
    assert len(sections["layout"]["rows"]) == 4 and all(r["images/s"] > 0 for r in sections["layout"]["rows"])
    assert [r["workers"] for r in sections["loader"]["rows"]] == sorted({2, len(os.sched_getaffinity(0))})
    assert sections["evaluation"]["images"] == cpu.eval_images
    assert 0.0 <= sections["quickstart"]["runs"][0]["dev mAP50"] <= 1.0
    assert sections["ddp"]["largest difference"] == 0.0
    expected = "passed" if torch.cuda.is_available() else "skipped"
    assert expected in sections["gpu_tests"]["summary"]
