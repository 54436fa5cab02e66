"""One prepared check of detkit on a GPU: precision, loader, evaluation and NCCL, in one report.

    python benchmarks/gpu_check.py [--out gpu_check] [--only SECTION ...]   # on a CUDA machine, ~6 min
    python benchmarks/gpu_check.py --cpu [--out gpu_check_cpu]              # the same sections on the CPU, small

Sections, in order; each is timed, and the report is rewritten as each ends, so that a run
stopped by its time limit still leaves what it measured; a section that fails records its error
and the next goes on:
- ``gpu_tests``: the ``gpu``-marked tests (``pytest -m gpu``).
- ``train_step``: images/s of the plain torchvision loop (`train_step.plain_loop`: autocast and a
  gradient scaler, as torchvision's references) and of detkit's Lightning loop, on the same batches
  held in memory, at ``32-true``, ``16-mixed`` and ``bf16-mixed``, for SSDlite and Faster R-CNN
  MobileNet at 320 and 640 px; the ratio detkit / plain per case.
- ``layout``: channels-last and ``torch.compile`` (the backbone) on and off, plain loop, SSDlite 320.
- ``loader``: the training loader's images/s (640 px images, augmented) with detkit's 2 workers
  and with one per core, against what the model consumes at 640 px (the fastest precision).
- ``quickstart``: ``tools/train.py`` as the README runs it, and with ``trainer=gpu``: wall time, dev mAP.
- ``evaluation``: 5,000 generated images predicted on the device by the quick start's detector;
  seconds to predict, to score (COCO evaluation) and to bootstrap 200 samples.
- ``ddp``: ``trainer=ddp`` with one process (NCCL): a ``fast_dev_run`` training, and
  ``tools/evaluate.py`` through it, whose metrics must equal the one-process evaluation's.

``--cpu`` runs every section on the CPU at small sizes (320 px only; ``16-mixed`` is left out: it
needs CUDA; gloo instead of NCCL; ``torch.compile`` with its eager backend, which checks the
plumbing without minutes of compiling), to try the script end to end before device time is spent
(about 2.5 minutes on this project's 2-core CPU). Writes
``<out>/report.json`` and ``<out>/report.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

import torch
from train_step import StepSetup, detkit_loop, plain_loop  # benchmarks/ is the script's folder

from detkit.data.formats.coco import dataset_to_coco, predictions_to_array
from detkit.data.loaders import LoaderOptions
from detkit.data.records import DetectionDataset
from detkit.data.shapes import ShapesParams, ensure_shapes
from detkit.evaluation.bootstrap import bootstrap_metrics
from detkit.evaluation.coco import evaluate_coco
from detkit.evaluation.image_matches import ImageMatches
from detkit.files import write_json_atomic, write_text_atomic
from detkit.markdown import markdown_table
from detkit.runs.run_dir import RunDir
from detkit.workflows.prediction import device_trainer, predict_detections

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("gpu_tests", "train_step", "layout", "loader", "quickstart", "evaluation", "ddp")
MODELS = ("ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn")


@dataclass(frozen=True)
class Sizes:
    """How much each section does: the device's, or the CPU's small try."""

    device: str
    models: tuple[str, ...]
    precisions: tuple[str, ...]
    image_sizes: tuple[int, ...]
    batch: int
    steps: int
    warm_up: int
    loader_batches: int
    eval_images: int
    bootstrap_samples: int
    quickstart: tuple[tuple[str, ...], ...]  # override lists, one run each
    ddp_trainer: str
    one_process_trainer: str
    compile_backend: str  # the CPU's try checks the plumbing only: inductor compiles for minutes there


GPU = Sizes(
    device="cuda",
    models=MODELS,
    precisions=("32-true", "16-mixed", "bf16-mixed"),
    image_sizes=(320, 640),
    batch=16,
    steps=30,
    warm_up=5,
    loader_batches=40,
    eval_images=5000,
    bootstrap_samples=200,
    quickstart=((), ("trainer=gpu",)),
    ddp_trainer="ddp",
    one_process_trainer="gpu",
    compile_backend="inductor",
)
CPU = Sizes(
    device="cpu",
    models=MODELS[:1],  # Faster R-CNN under bf16 autocast takes 4 minutes a try on 2 cores, through the same plumbing
    precisions=("32-true", "bf16-mixed"),
    image_sizes=(320,),
    batch=2,
    steps=2,
    warm_up=1,
    loader_batches=3,
    eval_images=48,
    bootstrap_samples=20,
    quickstart=(
        ("trainer=cpu", "trainer.max_epochs=1", "trainer.limit_train_batches=10", "data.module.source.num_scenes=24"),
    ),
    ddp_trainer="ddp_cpu",
    one_process_trainer="cpu",
    compile_backend="eager",
)


class Check:
    """The report: sections run in order, each written out as it ends."""

    def __init__(self, out: Path, sizes: Sizes, work: Path) -> None:
        self.out, self.sizes, self.work = out, sizes, work
        self.report: dict = {"machine": machine(), "sizes": asdict(sizes), "sections": {}}

    def run(self, name: str, section: Callable[[Check], dict]) -> None:
        started = time.perf_counter()
        try:
            result = {"ok": True, **section(self)}
        except Exception:  # a failing section is reported and the others still run: device time is scarce
            result = {"ok": False, "error": traceback.format_exc(limit=6)}
        result["seconds"] = round(time.perf_counter() - started, 1)
        self.report["sections"][name] = result
        print(f"{name}: {'ok' if result['ok'] else 'FAILED'} in {result['seconds']} s", flush=True)
        write_json_atomic(self.out / "report.json", self.report)
        write_text_atomic(self.out / "report.md", render(self.report))

    def shapes(self, params: ShapesParams) -> DetectionDataset:
        """Generated shapes under the work folder (one folder per size, scene count and seed:
        sections asking for the same data share it, none regenerates another's)."""
        return ensure_shapes(self.work / f"shapes_{params.image_size}_{params.num_scenes}_{params.seed}", params)

    def loading(self, workers: int = 0) -> LoaderOptions:
        """Batches of the check's size read by ``workers`` processes, augmented as training does."""
        return LoaderOptions(self.sizes.batch, None, workers, {}, 0, None)


def machine() -> dict:
    cuda = torch.cuda.is_available()
    return {
        "gpu": torch.cuda.get_device_name(0) if cuda else None,
        "cuda": torch.version.cuda if cuda else None,
        "torch": torch.__version__,
        "cpu cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def gpu_tests(check: Check) -> dict:
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-n", "0", "-p", "no:cacheprovider", "tests"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""
    return {"ok": done.returncode == 0, "returncode": done.returncode, "summary": summary}


def held_batches(check: Check, image_size: int, count: int) -> tuple[list, int]:
    """``count`` augmented training batches of shapes drawn at ``image_size`` px, in memory."""
    params = ShapesParams(num_scenes=max(8, count * check.sizes.batch // 4 + 4), image_size=image_size)
    dataset = check.shapes(params)
    loader = check.loading().loader(dataset, train=True)
    return list(islice(iter(loader), count)), dataset.num_classes


def train_step(check: Check) -> dict:
    sizes, rows = check.sizes, []
    for image_size in sizes.image_sizes:
        batches, classes = held_batches(check, image_size, sizes.warm_up + sizes.steps)
        for model in sizes.models:
            for precision in sizes.precisions:
                setup = StepSetup(model, image_size, sizes.device, precision)
                plain = plain_loop(batches, classes, sizes.steps, setup, sizes.warm_up)
                ours = detkit_loop(batches, classes, sizes.steps, setup, sizes.warm_up)
                rows.append({**asdict(setup), "plain images/s": plain, "detkit images/s": ours, "ratio": ours / plain})
                print(f"  {model} {image_size} px {precision}: plain {plain:.1f}, detkit {ours:.1f}", flush=True)
    return {"rows": rows}


def layout(check: Check) -> dict:
    sizes, rows = check.sizes, []
    compile_warm_up = 2  # compiling happens in the first steps: they are warm-up, not timed
    batches, classes = held_batches(check, 320, sizes.warm_up + compile_warm_up + sizes.steps)
    precision = sizes.precisions[-1]
    for channels_last in (False, True):
        for compiled in (False, True):
            setup = StepSetup(
                device=sizes.device,
                precision=precision,
                channels_last=channels_last,
                compile_backbone=compiled,
                compile_backend=sizes.compile_backend,
            )
            speed = plain_loop(batches, classes, sizes.steps, setup, sizes.warm_up + compile_warm_up * compiled)
            rows.append({"channels_last": channels_last, "compile": compiled, "images/s": speed})
    return {"rows": rows, "precision": precision, "compile backend": sizes.compile_backend}


def loader(check: Check) -> dict:
    sizes, rows = check.sizes, []
    params = ShapesParams(num_scenes=max(8, sizes.loader_batches * sizes.batch // 4 + 8), image_size=640)
    dataset = check.shapes(params)
    for workers in sorted({2, check.report["machine"]["cpu cores"]}):
        batches = iter(check.loading(workers).loader(dataset, train=True))
        next(batches)  # the workers start
        seen, started = 0, time.perf_counter()
        for batch in islice(batches, sizes.loader_batches):
            seen += len(batch[0])
        rows.append({"workers": workers, "loader images/s": seen / (time.perf_counter() - started)})
    steps = check.report["sections"].get("train_step", {}).get("rows", [])
    at_640 = [r for r in steps if r["image_size"] == 640 and r["model"] == MODELS[0]]
    model = max((r["detkit images/s"] for r in at_640), default=None)
    return {"rows": rows, "model images/s at 640 (SSDlite, fastest precision)": model}


def quickstart(check: Check) -> dict:
    runs = []
    for index, overrides in enumerate(check.sizes.quickstart):
        run_dir = check.work / f"quickstart_{index}"
        wall = run_tool("train", [f"hydra.run.dir={run_dir}", *overrides], check.work)
        dev = json.loads((run_dir / "metrics.json").read_text())["dev"]
        runs.append({"overrides": list(overrides), "wall s": wall, "dev mAP50": dev["mAP50"], "dev mAP": dev["mAP"]})
    return {"runs": runs, "run_dir": str(check.work / "quickstart_0")}


def run_tool(tool: str, arguments: list[str], cwd: Path) -> float:
    """``tools/<tool>.py`` with ``arguments`` in ``cwd``: its wall seconds; its stderr's end if it fails."""
    command = [sys.executable, str(ROOT / "tools" / f"{tool}.py"), *arguments]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def trained_run(check: Check) -> RunDir:
    section = check.report["sections"].get("quickstart", {})
    if not section.get("ok"):
        raise RuntimeError("needs the quickstart section's run (it did not finish)")
    return RunDir.open(section["run_dir"])


def evaluation(check: Check) -> dict:
    run = trained_run(check)
    started = time.perf_counter()
    params = ShapesParams(num_scenes=check.sizes.eval_images // 4, seed=7)
    dataset = check.shapes(params)
    loader = check.loading(check.report["machine"]["cpu cores"]).loader(dataset)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    detections, forward = predict_detections(run.detector(), loader, device_trainer(check.sizes.device), warm_up=True)
    predicted = time.perf_counter() - started
    results = predictions_to_array(detections, dataset.category_ids)
    truth = dataset_to_coco(dataset)
    started = time.perf_counter()
    metrics = evaluate_coco(truth, results)
    scored = time.perf_counter() - started
    started = time.perf_counter()
    samples = bootstrap_metrics(ImageMatches(truth, results), check.sizes.bootstrap_samples)
    bootstrapped = time.perf_counter() - started
    return {
        "images": len(dataset),
        "seconds": {
            "generate": generated,
            "predict (whole)": predicted,
            "forward passes": forward,
            "COCO evaluation": scored,
            f"bootstrap of {len(samples)} samples": bootstrapped,
        },
        "mAP50": metrics["mAP50"],
    }


def ddp(check: Check) -> dict:
    run = trained_run(check)
    sizes, work = check.sizes, check.work
    ddp_trainer = [f"trainer={sizes.ddp_trainer}", "trainer.devices=1"]
    run_tool("train", [*ddp_trainer, "+trainer.fast_dev_run=true", f"hydra.run.dir={work / 'ddp_run'}"], work)
    scores = {}
    for name, trainer in {"ddp": ddp_trainer, "one": [f"trainer={sizes.one_process_trainer}"]}.items():
        out = work / f"eval_{name}"
        run_tool("evaluate", [f"run={run.path}", *trainer, "trainer.precision=32-true", f"out={out}"], work)
        scores[name] = json.loads((out / "metrics.json").read_text())["dev"]
    differences = {k: abs(scores["ddp"][k] - scores["one"][k]) for k in scores["one"]}
    largest = max(differences.values())
    return {"ok": largest <= 1e-9, "largest difference": largest, "dev mAP (ddp)": scores["ddp"]["mAP"]}


def render(report: dict) -> str:
    """The report as markdown: the machine, then a table per section."""
    lines = ["# GPU check", "", json.dumps(report["machine"]), ""]
    for name, section in report["sections"].items():
        lines += [f"## {name}: {'ok' if section['ok'] else 'FAILED'} ({section['seconds']} s)", ""]
        if "error" in section:
            lines += ["```", section["error"], "```", ""]
        table = section.get("rows") or section.get("runs")
        if table:
            header = list(table[0])
            cells = [[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()] for row in table]
            lines += [*markdown_table(header, cells), ""]
        rest = {k: v for k, v in section.items() if k not in {"ok", "seconds", "error", "rows", "runs"}}
        if rest:
            lines += [f"- {k}: {v}" for k, v in rest.items()] + [""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("gpu_check"))
    parser.add_argument("--cpu", action="store_true", help="every section on the CPU, small")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    args = parser.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        sys.exit("no CUDA device here: run with --cpu to try the script on the CPU")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        check = Check(args.out, CPU if args.cpu else GPU, Path(work))
        for name in args.only:
            check.run(name, globals()[name])
    print(f"report: {args.out / 'report.md'}")


if __name__ == "__main__":
    main()
