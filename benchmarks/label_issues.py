"""How many injected label errors the label-error finder recovers: precision@k and recall@k of
``tools/errors.py label_issues=true`` against the errors the shapes generator recorded.

    python tools/train.py name=label_noise data.module.source.label_noise=0.05
    python benchmarks/label_issues.py outputs/label_noise/<date_time> [--splits dev test] [--k 5 10] [overrides]

For each split, runs the error analysis with label issues on the run's best checkpoint (its
predictions are cached in the run), reads the split's injected errors from the data's
``label_noise.json`` and prints, at each k and at k = the number injected, the share of the
first k issues that point at an injected error and the share of injected errors they point at.
Overrides go to tools/errors.py (e.g. label_issue_options.high_score=0.95). Run it where the
run was trained: the data root in its config is relative to that folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from omegaconf import OmegaConf

from detkit.analysis.label_issues import LabelIssue, recovered_errors
from detkit.data.shapes import LABEL_NOISE_FILE
from detkit.markdown import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
    parser.add_argument("--k", nargs="+", type=int, default=[5, 10, 20])
    args, overrides = parser.parse_known_args()
    config = OmegaConf.load(args.run / "config.yaml")
    injected = json.loads((Path(config.data.module.source.root) / LABEL_NOISE_FILE).read_text())["errors"]
    rows = []
    for split in args.splits:
        out = args.run / "label_issues" / split
        command = [sys.executable, str(ROOT / "tools" / "errors.py"), f"run={args.run}", f"split={split}"]
        subprocess.run([*command, "label_issues=true", f"out={out}", *overrides], check=True, capture_output=True)
        report = json.loads((out / "label_issues.json").read_text())
        images = set(json.loads((args.run / "splits" / f"{split}.json").read_text())["image_ids"])
        truth = [e for e in injected if e["image_id"] in images]
        issues = [_issue(row) for row in report["issues"]]
        ks = sorted({*args.k, len(truth)})
        (before, after), fixed = report["worth"]["AP50"], report["worth"]["fixed"]
        for row in recovered_errors(issues, truth, ks):
            at_injected = " (= injected)" if row["k"] == len(truth) else ""
            rows.append(
                [
                    split,
                    f"{len(issues)} / {len(truth)}",
                    f"{row['k']}{at_injected}",
                    f"{row['precision']:.2f}",
                    f"{row['recall']:.2f}",
                    f"{after - before:+.3f} ({fixed})",
                ]
            )
    header = ["split", "issues / injected", "k", "precision@k", "recall@k", "AP50 if the first fixed"]
    print("\n".join(markdown_table(header, rows, "lrrrrr")))


def _issue(row: dict) -> LabelIssue:
    """A `LabelIssue` from its row in label_issues.json."""
    values = {f.name: row[f.name] for f in fields(LabelIssue)}
    values["bbox"] = tuple(values["bbox"])
    return LabelIssue(**values)


if __name__ == "__main__":
    main()
