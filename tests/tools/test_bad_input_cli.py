"""The bad-input contract at the command line: fuzzed exports in each format given to
tools/convert.py (it reads every format and writes every other) end with exit 0, or exit 2
and one message; never a traceback, never a changed input. A sample of the readers' fuzzers
(tests/data/test_bad_input.py), since each run composes a Hydra config."""

import shutil

import pytest
from hypothesis import given, settings

from tests.data.test_bad_input import (
    EXAMPLES,
    FUZZ,
    _fresh,
    _mutated_coco,
    _voc,
    _yolo,
    coco_mutations,
    voc_fields,
    yolo_lines,
)
from tests.data.test_formats import _digest

CLI = settings(FUZZ, max_examples=max(1, EXAMPLES // 64))  # 15 each in CI


def _convert(run_tool_here, tmp_path, folder, *source):
    out = tmp_path / "out"
    shutil.rmtree(out, ignore_errors=True)
    before = _digest(folder)
    result = run_tool_here("convert", *source, f"data.root={folder}", "to=coco", f"dst={out}")
    assert result.returncode in (0, 2) and "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0 or (result.stderr.startswith("error: ") and not out.exists()), result.stderr
    assert _digest(folder) == before


@pytest.mark.slow
@CLI
@given(mutation=coco_mutations())
def test_convert_of_a_fuzzed_coco_export_exits_0_or_2(run_tool_here, tmp_path, mutation):
    folder = _fresh(tmp_path, "coco")
    _mutated_coco(folder, mutation)
    _convert(run_tool_here, tmp_path, folder, "data=coco")


@pytest.mark.slow
@CLI
@given(label=yolo_lines())
def test_convert_of_a_fuzzed_yolo_export_exits_0_or_2(run_tool_here, tmp_path, label):
    text, encoding = label
    folder = _yolo(_fresh(tmp_path, "yolo"), text.encode(encoding, errors="replace"))
    _convert(run_tool_here, tmp_path, folder, "data=yolo")


@pytest.mark.slow
@CLI
@given(fields=voc_fields())
def test_convert_of_a_fuzzed_voc_export_exits_0_or_2(run_tool_here, tmp_path, fields):
    box, image_set = fields
    folder = _voc(_fresh(tmp_path, "voc"), box=box, image_set=image_set)
    _convert(run_tool_here, tmp_path, folder, "data=voc")
