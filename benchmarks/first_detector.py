"""Time to a first detector: wall time from `python tools/train.py` to dev mAP50 >= 0.5.

    python benchmarks/first_detector.py [--target 0.5] [overrides for tools/train.py ...]

Runs the quick start as a user would, in a fresh working directory (so the shapes data is
generated too), and reads from the run's TensorBoard events when dev mAP50 first reached the
target, as seconds since the command started. The baseline is the whole command's wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[1]
METRIC = "dev/mAP50"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=float, default=0.5)
    args, overrides = parser.parse_known_args()
    with tempfile.TemporaryDirectory() as work:
        started = time.time()
        command = [sys.executable, str(ROOT / "tools" / "train.py"), "hydra.run.dir=run", *overrides]
        subprocess.run(command, cwd=work, check=True, capture_output=True)
        total = time.time() - started
        events = EventAccumulator(str(Path(work) / "run" / "tensorboard"), size_guidance={"scalars": 0}).Reload()
        curve = [(event.wall_time - started, event.step, event.value) for event in events.Scalars(METRIC)]
    reached = next(((seconds, step, value) for seconds, step, value in curve if value >= args.target), None)
    for seconds, step, value in curve:
        print(f"{seconds:7.1f} s  step {step:5d}  {METRIC} {value:.3f}")
    if reached is None:
        print(f"{METRIC} never reached {args.target} (whole command {total:.1f} s)")
    else:
        print(f"{METRIC} >= {args.target} after {reached[0]:.1f} s (step {reached[1]}); whole command {total:.1f} s")


if __name__ == "__main__":
    main()
