"""The figures of a run's report, from its JSON alone, and the helpers every figure shares.

A run's report (`report.json`, written by the evaluate stage; `fit report` redraws it) gives,
in the run folder:

    curves.png    train and validation loss per epoch, mimic and control side by side
    hidden.png    hidden-unit statistics per epoch, mimic vs control (when the histories have them)

A sweep's figures are in `mimic_keras.eval.sweep_figures`; `python -m mimic_keras.plots FILE.json`
draws either. Nothing here reads a model, a dataset or a log file: only the dicts of those JSON files.
"""

import os

# The hidden-unit statistics drawn (see `mimic_keras.diagnostics`), with their axis labels.
HIDDEN_PANELS = (
    ("hidden_active", "units active per example (fraction)"),
    ("hidden_dead", "dead units (fraction)"),
    ("hidden_top1", "strongest unit's share of activation"),
)
DEFAULT_OBJECTIVES = {"mimic": "L2 on teacher logits", "control": "cross-entropy on labels"}


class MissingHistoriesError(ValueError):
    """A run report written before evaluate stored the training histories in it."""


def pyplot():
    """`matplotlib.pyplot` on the file-only Agg backend (imported on first use: no GUI, no import cost)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path):
    """Writes `fig` to `path` through a temporary file (a reader never sees half a PNG); closes it."""
    plt = pyplot()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp.png"
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def has_hidden(history):
    """True when a history (or a sweep row's curve) has any hidden-unit statistic."""
    return any(history.get(key) for key, _ in HIDDEN_PANELS)


def hidden_figure(series, title):
    """One panel per statistic of `HIDDEN_PANELS`; `series` maps a line label to its history dict."""
    plt = pyplot()
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
    plt = pyplot()
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
    if not any(has_hidden(h) for h in series.values()):
        return None
    return hidden_figure(series, f"{report.get('name', 'run')}: the shallow nets' hidden layer")


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
    written = [save(curves_figure(report), os.path.join(out_dir, f"{prefix}curves.png"))]
    hidden = run_hidden_figure(report)
    if hidden is not None:
        written.append(save(hidden, os.path.join(out_dir, f"{prefix}hidden.png")))
    return written
