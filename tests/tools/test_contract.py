"""The contract at the tool boundary (issue 58): every tool, every input slot it takes, fed a
generated hostile input of every class: exit 0, or exit 2 with one `error:` line and no
traceback, within a time bound; the command's inputs unchanged; after exit 2, no output left
(not the folder out= names, not a run directory that looks like a run).

The readers' fuzzers (tests/data) drive the readers; this drives whole commands, in this
process (`run_tool_here`), so a slot the readers never see (predict's images, a run's
manifests, an output folder) cannot be missed. CI runs, for every slot, the classes that
`_chosen` rotates onto it (the same examples on every machine); ``DETKIT_CONTRACT=all`` runs
every class on every slot (about 4 minutes more on a 2-core machine)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import struct
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.data.test_bad_input import _coco
from tests.deploy.test_hostile_models import _huge, _onnx

TIME_BOUND_S = 90  # a hostile input fails fast; the valid ones here take seconds


class Case:
    """Where a hostile input goes: ``arguments`` of ``tool`` with ``{slot}`` where it goes
    (``{run}``, ``{data}``, ``{model}``, ``{pool}``, ``{tmp}`` name valid inputs), and its kind."""

    def __init__(self, tool: str, kind: str, *arguments: str) -> None:
        self.tool, self.kind, self.arguments = tool, kind, arguments

    @property
    def name(self) -> str:
        slot = next(a for a in self.arguments if "{slot}" in a).split("=")[0]
        return f"{self.tool}-{slot}"


ANNOTATIONS, RESULTS = "{data}/annotations.json", "{data}/results.json"
CASES = [
    Case("train", "data", "data=auto", "data.root={slot}", "trainer.max_epochs=1"),
    Case("train", "run", "init.checkpoint={slot}", "data=auto", "data.root={data}", "trainer.max_epochs=1"),
    Case("train", "run", "resume={slot}"),
    Case("split", "data", "data=auto", "data.root={slot}", "out={tmp}/splits"),
    Case("split", "out", "data=coco", "data.root={data}/annotations.json", "out={slot}"),
    Case("convert", "data", "data.root={slot}", "to=yolo", "dst={tmp}/converted"),
    Case("convert", "out", "data.root={data}", "to=yolo", "dst={slot}"),
    Case("evaluate", "run", "run={slot}"),
    Case("evaluate", "checkpoint", "run={run}", "checkpoint={slot}"),
    Case("evaluate", "json", "annotations={slot}", f"predictions={RESULTS}", "out={tmp}/eval"),
    Case("evaluate", "results", f"annotations={ANNOTATIONS}", "predictions={slot}", "out={tmp}/eval"),
    Case("evaluate", "out", f"annotations={ANNOTATIONS}", f"predictions={RESULTS}", "out={slot}"),
    Case("predict", "run", "run={slot}", "images={data}/images", "out={tmp}/predicted"),
    Case("predict", "model", "model={slot}", "images={data}/images", "out={tmp}/predicted"),
    Case("predict", "images", "model={model}", "images={slot}", "out={tmp}/predicted"),
    Case("predict", "json", "model={model}", "images={data}/images", "annotations={slot}", "out={tmp}/predicted"),
    Case("predict", "out", "model={model}", "images={data}/images", "out={slot}"),
    Case("export", "run", "run={slot}", "out={tmp}/exported"),
    Case("export", "checkpoint", "run={run}", "checkpoint={slot}", "out={tmp}/exported"),
    Case("export", "out", "run={run}", "out={slot}"),
    Case("diagnose", "run", "run={slot}", "out={tmp}/diagnosis"),
    Case("diagnose", "json", "run={run}", "human.annotations={slot}", "out={tmp}/diagnosis"),
    Case("errors", "run", "run={slot}", "out={tmp}/errors"),
    Case("errors", "json", "annotations={slot}", f"predictions={RESULTS}", "out={tmp}/errors"),
    Case("errors", "results", f"annotations={ANNOTATIONS}", "predictions={slot}", "out={tmp}/errors"),
    Case("errors", "images", f"annotations={ANNOTATIONS}", f"predictions={RESULTS}", "images={slot}", "out={tmp}/e"),
    Case("errors", "out", f"annotations={ANNOTATIONS}", f"predictions={RESULTS}", "out={slot}"),
    Case("compare", "run", "runs=[{run},{slot}]", "out={tmp}/comparison"),
    Case("data_health", "data", "data=auto", "data.root={slot}", "out={tmp}/health"),
    Case("data_health", "run", "run={slot}", "out={tmp}/health"),
    Case("label_next", "images", "run={run}", "pool={slot}", "budget=1", "out={tmp}/next"),
    Case("label_next", "run", "run={slot}", "pool={pool}", "budget=1", "out={tmp}/next"),
    Case("label_next", "out", "run={run}", "pool={pool}", "budget=1", "out={slot}"),
]


# --- the hostile inputs: each makes one under ``tmp`` from the valid ones and returns its path


def _fifo(ctx: dict) -> str:
    os.mkfifo(ctx["tmp"] / "fifo")
    return str(ctx["tmp"] / "fifo")


def _dangling(ctx: dict) -> str:
    (ctx["tmp"] / "dangling").symlink_to(ctx["tmp"] / "nothing")
    return str(ctx["tmp"] / "dangling")


def _loop(ctx: dict) -> str:
    (ctx["tmp"] / "loop").symlink_to(ctx["tmp"] / "loop")
    return str(ctx["tmp"] / "loop")


def _empty_file(ctx: dict) -> str:
    (ctx["tmp"] / "empty.json").write_bytes(b"")
    return str(ctx["tmp"] / "empty.json")


def _empty_folder(ctx: dict) -> str:
    (ctx["tmp"] / "empty").mkdir()
    return str(ctx["tmp"] / "empty")


def _missing(ctx: dict) -> str:
    return str(ctx["tmp"] / "missing")


def _image_folder(ctx: dict, hostile: Callable[[Path], None]) -> str:
    """A copy of the valid dataset (annotations and images) with one image made hostile, so
    that the folder serves both as a data root and as a folder of images."""
    folder = ctx["tmp"] / "hostile_data"
    shutil.copytree(ctx["data"], folder)
    hostile(folder / "images" / "a.png")
    return str(folder)


def _png_header(path: Path, width: int, height: int) -> None:
    """A PNG whose header says ``width`` x ``height``, with one row of pixels: what a reader
    learns from the header alone."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))  # noqa: E731
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 4)))


def _strip(path: Path) -> None:
    Image.new("RGB", (100_000, 1), (200, 10, 10)).save(path)


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


def _json(ctx: dict, text: str) -> str:
    (ctx["tmp"] / "hostile.json").write_text(text)
    return str(ctx["tmp"] / "hostile.json")


def _ids_past_64_bits(ctx: dict) -> str:
    coco = json.loads((ctx["data"] / "annotations.json").read_text())
    coco["images"][0]["id"] = coco["annotations"][0]["image_id"] = 2**64
    coco["annotations"][1]["id"] = -(2**70)
    return _json(ctx, json.dumps(coco))


def _results_past_64_bits(ctx: dict) -> str:
    return _json(ctx, json.dumps([{"image_id": 2**64, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.5}]))


def _run_copy(ctx: dict, edit: Callable[[Path], None]) -> str:
    run = ctx["tmp"] / "hostile_run"
    shutil.copytree(ctx["run"], run, ignore=shutil.ignore_patterns("tensorboard", "eval", "errors", "predict", ".lock"))
    edit(run)
    return str(run)


def _config_edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        config = yaml.safe_load((run / "config.yaml").read_text())
        change(config)
        (run / "config.yaml").write_text(yaml.safe_dump(config))

    return edit


def _manifest_edit(ids: Callable[[list], list]) -> Callable[[Path], None]:
    def edit(run: Path) -> None:
        manifest = json.loads((run / "splits" / "dev.json").read_text())
        manifest["image_ids"] = ids(manifest["image_ids"])
        (run / "splits" / "dev.json").write_text(json.dumps(manifest))

    return edit


def _config_a_folder(run: Path) -> None:
    (run / "config.yaml").unlink()
    (run / "config.yaml").mkdir()


def _garbage_checkpoint(ctx: dict) -> str:
    (ctx["tmp"] / "garbage.ckpt").write_bytes(np.random.default_rng(0).bytes(4096))
    return str(ctx["tmp"] / "garbage.ckpt")


def _cut_checkpoint(ctx: dict) -> str:
    best = ctx["run"] / "checkpoints" / "best.ckpt"
    (ctx["tmp"] / "cut.ckpt").write_bytes(best.read_bytes()[: best.stat().st_size // 2])
    return str(ctx["tmp"] / "cut.ckpt")


def _huge_model(ctx: dict) -> str:
    import onnx

    path = _onnx(ctx["tmp"] / "huge.onnx")
    model = onnx.load(str(path))
    _huge(model, "run")
    path.write_bytes(model.SerializeToString())
    return str(path)


def _overlapping(where: str) -> Callable[[dict], str]:
    """An output that is, lies inside, holds or links to the input the case names first."""

    def make(ctx: dict) -> str:
        given = Path(ctx["input"])
        if where == "link":
            (ctx["tmp"] / "link_to_input").symlink_to(given)
            return str(ctx["tmp"] / "link_to_input")
        return str({"is": given, "inside": given / "out", "holds": given.parent}[where])

    return make


PATHS = {"fifo": _fifo, "dangling link": _dangling, "link loop": _loop, "missing": _missing}
FILES = {**PATHS, "empty file": _empty_file, "folder": _empty_folder}
IMAGES = {
    "100000x1 image": lambda ctx: _image_folder(ctx, _strip),
    "20000x20000 header": lambda ctx: _image_folder(ctx, lambda p: _png_header(p, 20_000, 20_000)),
    "truncated image": lambda ctx: _image_folder(ctx, _truncated),
}
JSONS = {
    "malformed json": lambda ctx: _json(ctx, '{"images": [}'),
    "deep json": lambda ctx: _json(ctx, "[" * 100_000 + "]" * 100_000),
    "not coco": lambda ctx: _json(ctx, '{"images": 5, "annotations": "x", "categories": null}'),
}
RUNS = {
    "config without data": lambda ctx: _run_copy(ctx, _config_edit(lambda c: c.pop("data"))),
    "config with odd model": lambda ctx: _run_copy(ctx, _config_edit(lambda c: c["model"].update(image_size="x"))),
    "model edited": lambda ctx: _run_copy(
        ctx, _config_edit(lambda c: c["model"].update(name="fasterrcnn_mobilenet_v3_large_320_fpn"))
    ),
    "manifest of unknown ids": lambda ctx: _run_copy(ctx, _manifest_edit(lambda ids: [*ids, 10**12])),
    "manifest malformed": lambda ctx: _run_copy(ctx, lambda run: (run / "splits" / "dev.json").write_text("{")),
    "no checkpoints": lambda ctx: _run_copy(ctx, lambda run: shutil.rmtree(run / "checkpoints")),
    "config a folder": lambda ctx: _run_copy(
        ctx, lambda run: ((run / "config.yaml").unlink(), (run / "config.yaml").mkdir())
    ),
}
HOSTILE: dict[str, dict[str, Callable[[dict], str]]] = {
    "data": {**PATHS, **IMAGES, "folder of nothing": _empty_folder, "ids past 64 bits": _ids_past_64_bits},
    "run": {**PATHS, **RUNS, "empty folder": _empty_folder, "checkpoint garbage": _garbage_checkpoint},
    "checkpoint": {**FILES, "garbage": _garbage_checkpoint, "cut short": _cut_checkpoint},
    "model": {**FILES, "garbage": _garbage_checkpoint, "huge tensor": _huge_model},
    "images": {**PATHS, **IMAGES, "empty folder": _empty_folder},
    "json": {**FILES, **JSONS, "ids past 64 bits": _ids_past_64_bits},
    "results": {**FILES, **JSONS, "ids past 64 bits": _results_past_64_bits},
    "out": {f"out {way} an input": _overlapping(way) for way in ("is", "inside", "holds", "link")},
}


def _chosen() -> list[tuple[Case, str]]:
    """Each case with the classes of its kind: all of them with ``DETKIT_CONTRACT=all``, else
    two, rotated by the case's place, so that CI meets every class on some slot."""
    every = os.environ.get("DETKIT_CONTRACT") == "all"
    chosen = []
    for index, case in enumerate(CASES):
        names = list(HOSTILE[case.kind])
        picks = names if every else [names[(2 * index + k) % len(names)] for k in (0, 1)]
        chosen += [(case, name) for name in dict.fromkeys(picks)]
    return chosen


def _fingerprint(*folders: Path) -> dict[str, str]:
    """Every regular file under ``folders`` (links not followed), by path: its content's hash."""
    found = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_symlink():
                found[str(path)] = hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()
    return found


def _run_inputs(run: Path) -> list[Path]:
    return [run / "checkpoints", run / "splits"]


class _Hung(Exception):
    pass


def _alarm(signum, frame):
    raise _Hung


@pytest.fixture(scope="module")
def valid_inputs(tmp_path_factory, easy_run):
    """The valid inputs the cases name: a COCO folder, its results, an exported-signature
    model, a pool of images and a trained run."""
    base = tmp_path_factory.mktemp("contract")
    data = base / "data"
    data.mkdir()
    _coco(data)
    (data / "results.json").write_text(
        json.dumps([{"image_id": 7, "category_id": 3, "bbox": [10, 5, 20, 10], "score": 0.9}])
    )
    (base / "model").mkdir()
    model = _onnx(base / "model" / "model.onnx")
    pool = base / "pool"
    shutil.copytree(data / "images", pool)
    return {"data": data, "model": model, "pool": pool, "run": easy_run()}


@pytest.mark.slow
@pytest.mark.parametrize(("case", "hostile"), _chosen(), ids=[f"{c.name}-{h}" for c, h in _chosen()])
def test_every_tool_keeps_the_contract_on_every_hostile_input(run_tool_here, valid_inputs, tmp_path, case, hostile):
    data = tmp_path / "data"
    shutil.copytree(valid_inputs["data"], data)  # the case's own copy: it may try to write there
    ctx = {**valid_inputs, "data": data, "tmp": tmp_path}
    values = {k: str(v) for k, v in ctx.items()}
    inputs = [a for a in case.arguments if "{slot}" not in a and "{" in a and not a.startswith(("out=", "dst="))]
    ctx["input"] = inputs[0].split("=", 1)[1].format(**values) if inputs else values["data"]
    if ctx["input"] == values["run"]:  # outputs may go into a run they read: not over its checkpoints
        ctx["input"] = str(valid_inputs["run"] / "checkpoints" / "best.ckpt")
    slot = HOSTILE[case.kind][hostile](ctx)
    values["slot"] = slot
    arguments = [a.format(**values) for a in case.arguments]
    watched = [data, valid_inputs["model"].parent, *_run_inputs(valid_inputs["run"])]
    writes_into_slot = case.arguments[0] == "resume={slot}"  # a resumed run is its own output
    if (
        Path(slot).is_dir()
        and not Path(slot).is_symlink()
        and Path(slot).is_relative_to(tmp_path)
        and not writes_into_slot
    ):
        watched.append(Path(slot))
    before = _fingerprint(*watched)
    out = next((a.split("=", 1)[1] for a in arguments if a.startswith(("out=", "dst="))), None)
    out_existed = out is not None and os.path.lexists(out)

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_BOUND_S)
    started = time.monotonic()
    try:
        result = run_tool_here(case.tool, *arguments, tiny=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)

    said = result.stderr[-3000:]
    assert time.monotonic() - started < TIME_BOUND_S
    assert result.returncode in (0, 2), said
    assert "Traceback" not in result.stderr, said
    assert _fingerprint(*watched) == before, "the inputs are unchanged"
    if case.kind == "out":
        assert result.returncode == 2 and "which this command reads" in result.stderr, said
    if result.returncode == 2:
        assert result.stderr.count("error: ") == 1 and result.stderr.startswith("error: "), said
        if out is not None and not out_existed:
            assert not os.path.lexists(out), "no output left by a command that failed"
        runs = list((tmp_path / "outputs").rglob(".hydra")) if (tmp_path / "outputs").is_dir() else []
        assert not runs, f"a failed start left a run directory: {runs}"
