"""Time to a first detector: wall time from `python tools/train.py` to dev mAP50 >= 0.5, and
where the quick start's time goes.

    python benchmarks/first_detector.py [--target 0.5] [overrides for tools/train.py ...]

Runs the quick start as a user would, in a fresh working directory (so the shapes data is
generated too), and reads from the run's TensorBoard events when dev mAP50 first reached the
target, as seconds since the command started. The baseline is the whole command's wall time.
The budget table splits it into phases (`detkit.training.phase_times.PhaseTimes`, added to the
run as a callback); the imports are also timed alone, in another process, to show their share of
the start-up (in the run they cannot be told apart from the data and the model).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from detkit.markdown import markdown_table
from detkit.runs import layout

ROOT = Path(__file__).resolve().parents[1]
METRIC = "dev/mAP50"
TIMER = "+callbacks.phase_times={_target_: detkit.training.phase_times.PhaseTimes}"
IMPORTS = "import detkit.training.run, detkit.workflows.cli"  # what tools/train.py imports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=float, default=0.5)
    args, overrides = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as work:
        started = time.time()
        command = [sys.executable, str(ROOT / "tools" / "train.py"), "hydra.run.dir=run", TIMER, *overrides]
        subprocess.run(command, cwd=work, check=True, capture_output=True)
        total = time.time() - started
        events = EventAccumulator(str(Path(work) / "run" / "tensorboard"), size_guidance={"scalars": 0}).Reload()
        curve = [(event.wall_time - started, event.step, event.value) for event in events.Scalars(METRIC)]
        phases = json.loads(layout.report_file(Path(work) / "run", "phase_times", ".json").read_text())
    imports = min(_seconds([sys.executable, "-c", IMPORTS], ROOT) for _ in range(3))  # warm, as in the run
    reached = next(((seconds, step, value) for seconds, step, value in curve if value >= args.target), None)
    for seconds, step, value in curve:
        print(f"{seconds:7.1f} s  step {step:5d}  {METRIC} {value:.3f}")
    if reached is None:
        print(f"{METRIC} never reached {args.target} (whole command {total:.1f} s)")
    else:
        print(f"{METRIC} >= {args.target} after {reached[0]:.1f} s (step {reached[1]}); whole command {total:.1f} s")
    print()
    print("\n".join(budget(imports, phases["started"] - started, phases["seconds"], total)))


def budget(imports: float, before_trainer: float, seconds: dict[str, float], total: float) -> list[str]:
    """The budget table: each phase's seconds and share of the whole command."""
    drawn = seconds.pop("dev images drawn", 0.0)
    rows = [(f"start-up: imports ({imports:.1f} s alone), data, splits, model", before_trainer)]
    for phase, value in seconds.items():
        rows.append((phase, value))
        if phase == "validation":
            rows.append(("  of which dev images drawn", drawn))
    rows += [("after the final scoring: results, exit", total - before_trainer - sum(seconds.values()))]
    rows += [("whole command", total)]
    table = [[name, f"{value:.1f}", f"{value / total:.0%}"] for name, value in rows]
    return markdown_table(["phase", "seconds", "share"], table, "lrr")


def _seconds(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
