"""Every figure the package draws, from JSON data alone, so anyone can regenerate them.

    python -m mimic_keras.plots runs/cifar10-cpu/report.json docs/experiments/losses.json

A run's report (`report.json`, written by the evaluate stage; `fit report` redraws it) gives,
in the run folder:

    curves.png    train and validation loss per epoch, mimic and control side by side
    hidden.png    hidden-unit statistics per epoch, mimic vs control (when the histories have them)

A sweep (`docs/experiments/<name>.json`, written by `experiments/mimic_sweep.py`) gives, next to it:

    <name>.png           validation accuracy and loss against wall-clock minutes, one line per variant
    <name>_hidden.png    hidden-unit statistics per epoch, one line per variant (when the curves have them)
    <name>_teacher.png   student vs teacher test accuracy, one point per variant (when rows have the teacher's)

Nothing here reads a model, a dataset or a log file: only the dicts of those JSON files.
"""

import argparse
import json
import os
import sys

import numpy as np

# The hidden-unit statistics drawn (see `mimic_keras.diagnostics`), with their axis labels.
HIDDEN_PANELS = (
    ("hidden_active", "units active per example (fraction)"),
    ("hidden_dead", "dead units (fraction)"),
    ("hidden_top1", "strongest unit's share of activation"),
)
DEFAULT_OBJECTIVES = {"mimic": "L2 on teacher logits", "control": "cross-entropy on labels"}


class MissingHistoriesError(ValueError):
    """A run report written before evaluate stored the training histories in it."""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    """Writes `fig` to `path` through a temporary file (a reader never sees half a PNG); closes it."""
    plt = _pyplot()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def _has_hidden(history):
    return any(history.get(key) for key, _ in HIDDEN_PANELS)


def _hidden_figure(series, title):
    """One panel per statistic of `HIDDEN_PANELS`; `series` maps a line label to its history dict."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    fig, axes = plt.subplots(1, len(HIDDEN_PANELS), figsize=(14, 4))
    for ax, (key, ylabel) in zip(axes, HIDDEN_PANELS):
        for label, history in series.items():
            values = history.get(key) or []
            epochs = history.get("epoch") or list(range(1, len(values) + 1))
            if values:
                ax.plot(epochs[: len(values)], values, marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


# -- a run's report ---------------------------------------------------------------------------


def run_histories(report):
    """The `histories` of a run report (model name → per-epoch lists).

    Raises:
        MissingHistoriesError: when the report has none (written before evaluate stored them).
    """
    histories = report.get("histories")
    if not histories or not any(histories.get(role) for role in ("mimic", "control")):
        raise MissingHistoriesError(
            f"report {report.get('name', '')!r} has no training histories (it was written before evaluate "
            "stored them); run `python -m mimic_keras.fit report --workdir RUN` on its run folder to add "
            "them from the run's history files"
        )
    return histories


def curves_figure(report):
    """Train and validation loss per epoch for the mimic and the control, side by side.

    Args:
        report: a run report dict (`report.json`) with `histories`.

    Returns:
        A matplotlib figure with one axes per role.
    """
    histories = run_histories(report)
    objectives = {**DEFAULT_OBJECTIVES, **report.get("objectives", {})}
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, role in zip(axes, ("mimic", "control")):
        history = histories.get(role) or {}
        epochs = history.get("epoch", [])
        for key, style in (("loss", "-"), ("val_loss", "--")):
            if key in history:
                ax.plot(epochs, history[key], style, marker="o", label=key)
        ax.set_title(f"{role} ({objectives[role]})")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.legend()
    fig.tight_layout()
    return fig


def run_hidden_figure(report):
    """Hidden-unit statistics per epoch, mimic vs control; None when the histories have none."""
    histories = run_histories(report)
    series = {role: histories[role] for role in ("mimic", "control") if histories.get(role)}
    if not any(_has_hidden(h) for h in series.values()):
        return None
    return _hidden_figure(series, f"{report.get('name', 'run')}: the shallow nets' hidden layer")


def plot_run(report, out_dir, prefix=""):
    """Writes a run report's figures into `out_dir`: `<prefix>curves.png` and `<prefix>hidden.png`.

    Args:
        report: a run report dict (`report.json`) with `histories`.
        out_dir: the folder to write to (the run folder).
        prefix: put before each file name, e.g. `"cifar10_cpu_"`.

    Returns:
        The paths written (no `hidden.png` when the histories have no hidden-unit statistics).

    Example:
        >>> plot_run(json.load(open("runs/x/report.json")), "runs/x")
        ['runs/x/curves.png', 'runs/x/hidden.png']
    """
    written = [_save(curves_figure(report), os.path.join(out_dir, f"{prefix}curves.png"))]
    hidden = run_hidden_figure(report)
    if hidden is not None:
        written.append(_save(hidden, os.path.join(out_dir, f"{prefix}hidden.png")))
    return written


# -- a sweep ---------------------------------------------------------------------------------


def sweep_figure(sweep):
    """Validation accuracy and validation loss against wall-clock minutes, one line per variant.

    Sweeps whose curves have no validation accuracy (the earliest ones) get the loss panel only.
    """
    plt = _pyplot()
    if any(r.get("curve", {}).get("val_accuracy") for r in sweep["rows"]):
        fig, (acc_ax, loss_ax) = plt.subplots(1, 2, figsize=(11, 4))
        axes = (acc_ax, loss_ax)
        acc_ax.set_ylabel("validation accuracy (%)")
    else:
        fig, loss_ax = plt.subplots(figsize=(6, 4))
        acc_ax, axes = None, (loss_ax,)
    for r in sweep["rows"]:
        curve = r.get("curve", {})
        minutes = np.asarray(curve.get("seconds", []), dtype=float) / 60
        if acc_ax is not None and curve.get("val_accuracy"):
            acc = np.asarray(curve["val_accuracy"], dtype=float) * 100
            n = min(len(minutes), len(acc))
            acc_ax.plot(minutes[:n], acc[:n], marker="o", label=r["variant"])
        if curve.get("val_loss"):
            n = min(len(minutes), len(curve["val_loss"]))
            loss_ax.plot(minutes[:n], curve["val_loss"][:n], marker="o", label=r["variant"])
    loss_ax.set_ylabel("validation loss (each variant's own objective)")
    loss_ax.set_yscale("log")
    for ax in axes:
        ax.set_xlabel("wall-clock minutes")
        if ax.lines:
            ax.legend()
    fig.tight_layout()
    return fig


def sweep_hidden_figure(sweep):
    """Hidden-unit statistics per epoch, one line per variant; None when no row's curve has them."""
    series = {r["variant"]: r.get("curve", {}) for r in sweep["rows"] if _has_hidden(r.get("curve", {}))}
    if not series:
        return None
    return _hidden_figure(series, "hidden layer per variant")


def teacher_figure(sweep):
    """Student test accuracy (± 95% CI) against teacher test accuracy, one labelled point per variant.

    Returns None unless rows have at least two different `teacher_test_accuracy` values (one
    teacher for every variant makes no such figure). The dotted line is y = x: a point on it is
    a student as accurate as its teacher.
    """
    rows = [r for r in sweep["rows"] if r.get("teacher_test_accuracy") is not None]
    if len({r["teacher_test_accuracy"] for r in rows}) < 2:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 5))
    x = np.array([r["teacher_test_accuracy"] for r in rows]) * 100
    y = np.array([r["test_accuracy"] for r in rows]) * 100
    err = np.array([r.get("test_accuracy_ci95", 0.0) for r in rows]) * 100
    ax.errorbar(x, y, yerr=err, fmt="o", capsize=4)
    for i, (xi, yi, r) in enumerate(zip(x, y, rows)):  # staggered, so neighbours' names do not overlap
        ax.annotate(r["variant"], (xi, yi), textcoords="offset points", xytext=(6, (4, -12, 18, -26)[i % 4]))
    lo, hi = min(x.min(), (y - err).min()), max(x.max(), (y + err).max())
    pad = max(1.0, 0.1 * (hi - lo))
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], ":", color="gray", label="y = x")
    stages = sorted({r.get("stage", "mimic") for r in rows})
    ax.set_xlabel("teacher test accuracy (%)")
    ax.set_ylabel(f"{'/'.join(stages)} test accuracy (%, ± 95% CI)")
    ax.legend()
    fig.tight_layout()
    return fig


def size_figure(sweep):
    """Test accuracy (and, for TIMIT, PER) against transfer-set size, one line per objective.

    Returns None unless rows carry `transfer_examples` of at least two sizes. Rows of one
    objective (`l2_logits`, `kd`, ...) share a line, in order of size; error bars are the
    95% intervals (utterance-clustered accuracy, speaker-resampled PER); a dashed line marks the
    teacher's accuracy when every row has the same teacher.
    """
    rows = [r for r in sweep["rows"] if r.get("transfer_examples")]
    if len({r["transfer_examples"] for r in rows}) < 2:
        return None
    speech = any("test_per" in r for r in rows)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if speech else 1, figsize=(11 if speech else 6, 4), squeeze=False)
    acc_ax = axes[0][0]
    groups = {}
    for r in sorted(rows, key=lambda r: r["transfer_examples"]):
        groups.setdefault(r.get("objective", "mimic"), []).append(r)
    for objective, group in groups.items():
        x = np.array([r["transfer_examples"] for r in group], dtype=float)
        acc = np.array([r["test_accuracy"] for r in group]) * 100
        err = np.array([r.get("test_accuracy_ci95", 0.0) for r in group]) * 100
        acc_ax.errorbar(x, acc, yerr=err, marker="o", capsize=4, label=objective)
        if speech:
            per = np.array([r["test_per"] for r in group]) * 100
            ci = np.array([r.get("test_per_ci95") or (r["test_per"], r["test_per"]) for r in group]) * 100
            axes[0][1].errorbar(x, per, yerr=[per - ci[:, 0], ci[:, 1] - per], marker="o", capsize=4,
                                label=objective)
    teachers = {r.get("teacher_test_accuracy") for r in rows}
    if len(teachers) == 1 and None not in teachers:  # one teacher for every row: its accuracy as a line
        acc_ax.axhline(teachers.pop() * 100, linestyle="--", color="gray", label="teacher")
    acc_ax.set_ylabel(("state frame" if speech else "test") + " accuracy (%, ± 95% CI)")
    if speech:
        axes[0][1].set_ylabel("PER (%, 95% interval)")
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.set_xlabel("transfer set (" + ("frames" if speech else "examples") + " per epoch)")
        ax.legend()
    fig.tight_layout()
    return fig


def plot_sweep(sweep, png_path):
    """Writes a sweep's figures: `png_path`, and beside it `<stem>_hidden.png`, `<stem>_teacher.png`.

    Args:
        sweep: a sweep dict, `{"base", "common", "rows": [{"variant", "curve", "test_accuracy", ...}]}`.
        png_path: the main figure's path, e.g. `docs/experiments/losses.png`.

    Returns:
        The paths written: `png_path`, then `_hidden` when rows' curves carry `hidden_*` lists,
        `_teacher` when rows carry different `teacher_test_accuracy` values, and `_size`
        when they carry different `transfer_examples`.

    Example:
        >>> plot_sweep(json.load(open("docs/experiments/losses.json")), "docs/experiments/losses.png")
        ['docs/experiments/losses.png']
    """
    stem = png_path[: -len(".png")] if png_path.endswith(".png") else png_path
    written = [_save(sweep_figure(sweep), png_path)]
    for suffix, make in (("_hidden", sweep_hidden_figure), ("_teacher", teacher_figure), ("_size", size_figure)):
        fig = make(sweep)
        if fig is not None:
            written.append(_save(fig, f"{stem}{suffix}.png"))
    return written


# -- any JSON file ---------------------------------------------------------------------------


def kind_of(data):
    """`"sweep"` (a dict with `rows`) or `"run"` (a dict with `models`).

    Raises:
        ValueError: for anything else.
    """
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
        if kind_of(data) == "sweep":
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
