"""Scores the checkpoints a training kept along the way as a sweep row scores its final model.

A run with `<stage>_train.save_epochs=(10,20,30)` keeps `<stage>/epoch_<n>.keras`, and one that
keeps its best validation epoch (`checkpoint=best|best_accuracy`) also its last, `last.keras`;
this scores each of them, and the kept final model, with the task's `student_scores` (for TIMIT: state frame
accuracy, PER on dev and test with the decoder tuned on dev for each model), next to the
validation accuracy its `log.csv` recorded at that epoch: how a score moved along the run (of
an unfinished run, its checkpoints so far).

    python experiments/score_checkpoints.py runs/timit-full-timit_losses_long-l2_logits \
        [--stage mimic] [--json docs/experiments/timit_losses_long_l2_logits_epochs.json]
"""

import argparse
import json
import os
import re
import sys

from mimic_keras import console

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mimic_sweep import _task  # noqa: E402

COLUMNS = ("test_accuracy", "dev_per", "test_per")


def checkpoints(run_dir):
    """[(epoch, path)] of the `epoch_<n>.keras` files in a training's folder, by epoch."""
    found = []
    for name in os.listdir(run_dir):
        match = re.fullmatch(r"epoch_(\d+)\.keras", name)
        if match:
            found.append((int(match.group(1)), os.path.join(run_dir, name)))
    return sorted(found)


def score_checkpoints(workdir, stage="mimic"):
    """Rows {epoch, file, val_accuracy, <scores>} for each kept checkpoint, then the final model.

    A run still training (or killed, to be resumed) has no final model yet: its checkpoints so far
    are scored, which is how far it got.
    """
    import keras

    from mimic_keras.training import read_csv_log

    task, layout = _task(workdir)
    run_dir = layout.run_dir(stage)
    logged = dict(zip(*(read_csv_log(os.path.join(run_dir, "log.csv")).get(k, []) for k in ("epoch", "val_accuracy"))))
    # (epoch, file, the name of its transcripts folder)
    kept = [(epoch, path, f"{stage}_epoch_{epoch}") for epoch, path in checkpoints(run_dir)]
    if os.path.exists(layout.model(stage)):  # unfinished: none yet
        kept.append((None, layout.model(stage), stage))
    last = os.path.join(run_dir, "last.keras")
    if os.path.exists(last):  # the last logged epoch's, beside a best epoch's model.keras
        kept.append((max(logged, default=None), last, f"{stage}_last"))
    rows = []
    for epoch, path, name in kept:
        model = keras.saving.load_model(path, compile=False)
        scores = task.student_scores(model, layout, name)
        row = {"epoch": epoch, "file": os.path.basename(path)}
        if epoch in logged:
            row["val_accuracy"] = logged[epoch]
        row.update(scores)
        rows.append(row)
    return rows


def _cell(value, key):
    if value is None:
        return "—"
    return f"{value:.2%}" if key in ("val_accuracy", *COLUMNS) else str(value)


def table(rows):
    """A markdown table of the rows' epoch, validation accuracy and main scores."""
    keys = ["val_accuracy", *[k for k in COLUMNS if any(k in r for r in rows)]]
    lines = ["| epoch | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        epoch = "kept model" if r["epoch"] is None else str(r["epoch"])
        lines.append(f"| {epoch} | " + " | ".join(_cell(r.get(k), k) for k in keys) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workdir", help="a run (or sweep variant) folder")
    parser.add_argument("--stage", default="mimic", help="the training whose checkpoints to score (mimic, control)")
    parser.add_argument("--json", help="also write the rows here")
    args = parser.parse_args(argv)
    run_dir = os.path.join(args.workdir, args.stage)
    if not os.path.isdir(run_dir):
        parser.error(f"{run_dir} does not exist")
    rows = score_checkpoints(args.workdir, args.stage)
    print(table(rows))
    if args.json:
        command = console.command_line("experiments/score_checkpoints.py", argv)
        with open(args.json, "w") as f:
            json.dump({"kind": "checkpoints", "command": command, "workdir": args.workdir, "stage": args.stage,
                       "rows": rows}, f, indent=2, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
