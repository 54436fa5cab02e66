"""The spread of the diagnosis test's built cases: how far each clears its thresholds, over seeds
and torch thread counts (which change the order of float reductions, as another CPU does).

    python -m tests.workflows.diagnosis_margins --seeds 0 1 2 --threads 1 2 [--cases variance ...]

Each (case, seed, threads) trains in a process of its own, started with ``OMP_NUM_THREADS``, and
prints one row: the named gap, its value, the runner-up gap, the lower end of its interval and
the seconds it took. The smallest margins go into the test's docstring.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import ROOT


def measure_case(problem: str, seed: int) -> dict:
    """One built case, trained and diagnosed in a scratch folder: its margins as plain data."""
    from tests.workflows.test_diagnose import train_and_diagnose  # after OMP_NUM_THREADS is set

    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        diagnosis = train_and_diagnose(Path(scratch), problem, seed)
    gaps = {name: value for name, value in diagnosis["gaps"].items() if value is not None}
    runner_up = max(value for name, value in gaps.items() if name != problem)
    return {
        "case": problem,
        "seed": seed,
        "named": diagnosis["largest_gap"],
        "gap": gaps[problem],
        "runner_up": runner_up,
        "low": diagnosis["gap_details"][problem]["low"],
        "errors": diagnosis["errors"],
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["avoidable_bias", "variance", "data_mismatch"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--one", nargs=2, metavar=("CASE", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_case(args.one[0], int(args.one[1]))))
        return
    print("| case | seed | threads | named | gap | runner-up | interval low | seconds | errors |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---|")
    for problem in args.cases:
        for seed in args.seeds:
            for threads in args.threads:
                env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
                command = [sys.executable, "-m", "tests.workflows.diagnosis_margins", "--one", problem, str(seed)]
                done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                print(
                    f"| {problem} | {seed} | {threads} | {row['named']} | {row['gap']:+.3f} | {row['runner_up']:+.3f} "
                    f"| {row['low']:+.3f} | {row['seconds']:.0f} | {row['errors']} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
