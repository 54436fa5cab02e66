"""What to label next:  python tools/label_next.py run=<run> pool=<folder of images> budget=<N>

Scores every pool image with the run's detector and picks them (strategy=random, the default: no
strategy beat random when measured; uncertainty, diversity or hybrid rank them), then writes
ranking.{csv,json}, selection.png (the selection with the detector's boxes) and prelabels.json
(COCO: CVAT and Label Studio import it, so a person corrects instead of drawing).
"""

from pathlib import Path

from omegaconf import DictConfig

from detkit.exceptions import ConfigError
from detkit.runs import layout
from detkit.workflows.cli import run_hydra_tool
from detkit.workflows.options import typed

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def main(cfg: DictConfig) -> None:
    if not cfg.run or not cfg.pool or cfg.budget is None:
        raise ConfigError("give run=<a run directory>, pool=<a folder of unlabelled images> and budget=<N>")
    from detkit.workflows.label_next import LabelNextOptions, label_next

    out, rows = label_next(typed(LabelNextOptions, cfg))
    for row in rows[:10]:
        print(f"{row['rank']:4d}  {row['file_name']}  (uncertainty {row['uncertainty']:.2f})")
    more = f" (and {len(rows) - 10} more)" if len(rows) > 10 else ""
    written = (
        f"{layout.report_file(out, 'ranking', '.csv')}, {layout.REPORTS.selection}.png, {layout.REPORTS.prelabels}.json"
    )
    print(f"{len(rows)} image(s) to label next{more}: {written}")


if __name__ == "__main__":
    run_hydra_tool(main, CONFIGS, "label_next")
