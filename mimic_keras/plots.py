"""Every figure the package draws, from JSON data alone, so anyone can regenerate them.

    python -m mimic_keras.plots runs/cifar10-cpu/report.json docs/experiments/losses.json

A run's report (`report.json`) gives `curves.png` and `hidden.png` in its folder
(`mimic_keras.eval.figures`); a sweep (`docs/experiments/<name>.json`) gives `<name>.png`,
`<name>_hidden.png`, `<name>_teacher.png`, `<name>_size.png` and `<name>_width.png` next to it
(`mimic_keras.eval.sweep_figures`).

Nothing here reads a model, a dataset or a log file: only the dicts of those JSON files.
"""

import argparse
import json
import os
import sys

from mimic_keras.eval.figures import plot_run
from mimic_keras.eval.sweep_figures import plot_sweep

NO_FIGURES = ("intervals", "checkpoints", "factorize", "groups", "calibration")  # kinds of results JSON that are tables only


def kind_of(data):
    """`"sweep"` (a dict with `rows`), `"run"` (a dict with `models`), or a kind without figures.

    Those are the files with a `"kind"`: `"intervals"`, the paired-interval files beside a
    sweep's table (`experiments/stored_intervals.py`, `experiments/paired_ci.py --json`),
    `"checkpoints"`, the scores of a run's kept epochs (`experiments/score_checkpoints.py
    --json`), `"factorize"`, a mimic factorised at several ranks (`python -m
    mimic_keras.factorize`), `"groups"`, what each group of a mimic's hidden layer does
    (`python -m mimic_keras.eval.groups --json`), and `"calibration"`, models' accuracy beside
    their softmaxes' calibration (`experiments/frame_calibration.py --json`).

    Raises:
        ValueError: for anything else.
    """
    if isinstance(data, dict) and data.get("kind") in NO_FIGURES:
        return data["kind"]
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        return "sweep"
    if isinstance(data, dict) and isinstance(data.get("models"), list):
        return "run"
    raise ValueError("neither a run report (a `models` list) nor a sweep (a `rows` list)")


def write_plots(json_path):
    """Reads a run report or sweep JSON file and writes its figures next to it.

    A run's `report.json` gives `curves.png` (and `hidden.png`) in its folder; another report
    file `<x>_report.json` or `<x>.json` gives `<x>_curves.png`; a sweep `<x>.json` gives
    `<x>.png` (and `<x>_hidden.png`, `<x>_teacher.png`).

    Args:
        json_path: path of the JSON file.

    Returns:
        The paths written.

    Raises:
        ValueError: the file is not a report or a sweep (`MissingHistoriesError` for a report
            without training histories), or not JSON.
    """
    with open(json_path) as f:
        try:
            data = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{json_path}: not JSON ({e})") from e
    folder, name = os.path.split(json_path)
    stem = os.path.splitext(name)[0]
    try:
        kind = kind_of(data)
        if kind in NO_FIGURES:
            return []
        if kind == "sweep":
            return plot_sweep(data, os.path.join(folder, f"{stem}.png"))
        prefix = stem[: -len("report")] if stem.endswith("report") else f"{stem}_"
        return plot_run(data, folder, prefix=prefix)
    except ValueError as e:
        raise type(e)(f"{json_path}: {e}") from e


def main(argv=None):
    """`python -m mimic_keras.plots FILE.json [...]`: writes each file's figures; 1 if any failed."""
    parser = argparse.ArgumentParser(
        prog="python -m mimic_keras.plots", description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("files", nargs="+", metavar="FILE.json", help="run reports (report.json) or sweep JSON files")
    status = 0
    for path in parser.parse_args(argv).files:
        try:
            for written in write_plots(path):
                print(written)
        except (OSError, ValueError) as e:
            print(f"error: {e}", file=sys.stderr)
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
