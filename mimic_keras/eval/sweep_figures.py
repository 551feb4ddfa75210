"""The figures of a sweep (`docs/experiments/<name>.json`, written by `experiments/mimic_sweep.py`).

Next to the sweep's JSON:

    <name>.png           validation accuracy and loss against wall-clock minutes, one line per variant
    <name>_hidden.png    hidden-unit statistics per epoch, one line per variant (when the curves have them)
    <name>_teacher.png   student vs teacher test accuracy, one point per variant (when rows have the teacher's)
    <name>_size.png      test accuracy (and PER) against transfer-set size (when rows have several sizes)
    <name>_width.png     test accuracy (and PER) against parameters (when an objective's rows have several)
"""

import numpy as np

from mimic_keras.eval.figures import has_hidden, hidden_figure, pyplot, save


def sweep_figure(sweep):
    """Validation accuracy and validation loss against wall-clock minutes, one line per variant.

    Sweeps whose curves have no validation accuracy (the earliest ones) get the loss panel only.
    """
    plt = pyplot()
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
    series = {r["variant"]: r.get("curve", {}) for r in sweep["rows"] if has_hidden(r.get("curve", {}))}
    if not series:
        return None
    return hidden_figure(series, "hidden layer per variant")


def teacher_figure(sweep):
    """Student test accuracy (± 95% CI) against teacher test accuracy, one labelled point per variant.

    Returns None unless rows have at least two different `teacher_test_accuracy` values (one
    teacher for every variant makes no such figure). The dotted line is y = x: a point on it is
    a student as accurate as its teacher.
    """
    rows = [r for r in sweep["rows"] if r.get("teacher_test_accuracy") is not None]
    if len({r["teacher_test_accuracy"] for r in rows}) < 2:
        return None
    plt = pyplot()
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
    # a `--stage teacher` row trains its own teachers, but its accuracy is its mimic's
    students = sorted({"mimic" if r.get("stage") == "teacher" else r.get("stage", "mimic") for r in rows})
    ax.set_xlabel("teacher test accuracy (%)")
    ax.set_ylabel(f"{'/'.join(students)} test accuracy (%, ± 95% CI)")
    ax.legend()
    fig.tight_layout()
    return fig


# A control row's objective is `<control_train.data> labels` (experiments/mimic_sweep.py); its legend entry:
CONTROL_OBJECTIVES = {"labels labels": "labels (control)", "transfer labels": "transfer-set labels (control)"}


def size_figure(sweep):
    """Test accuracy (and, for TIMIT, PER) against transfer-set size, one line per objective.

    Returns None unless rows carry `transfer_examples` of at least two sizes. Rows of one
    objective (`l2_logits`, `kd`, ...) share a line, in order of size; error bars are the
    95% intervals (utterance-clustered accuracy, speaker-resampled PER); a dashed line marks the
    teacher's accuracy when every row has the same teacher.
    """
    return _against(sweep, "transfer_examples",
                    lambda speech: f"transfer set ({'frames' if speech else 'examples'} per epoch)")


def width_figure(sweep):
    """Test accuracy (and, for TIMIT, PER) against the student's parameters, one line per objective.

    For widths and bottlenecks side by side, e.g. a mimic sweep merged with its label-trained
    controls (`experiments/merge_sweeps.py`; a control's line is named by `CONTROL_OBJECTIVES`).
    Returns None unless some objective has rows of at least two sizes; otherwise as `size_figure`.
    """
    return _against(sweep, "parameters", lambda speech: "parameters", per_objective=True)


def _against(sweep, key, xlabel, per_objective=False):
    """Test accuracy (and PER for speech) against `rows[i][key]` on a log axis, one line per objective.

    None unless rows carry `key` with at least two values (with `per_objective`, two within one
    objective's rows); `xlabel(speech)` names the x axis.
    """
    rows = [r for r in sweep["rows"] if r.get(key)]
    groups = {}
    for r in sorted(rows, key=lambda r: r[key]):
        groups.setdefault(r.get("objective", "mimic"), []).append(r)
    spans = [{r[key] for r in group} for group in groups.values()] if per_objective else [{r[key] for r in rows}]
    if not any(len(values) > 1 for values in spans):
        return None
    speech = any("test_per" in r for r in rows)
    plt = pyplot()
    fig, axes = plt.subplots(1, 2 if speech else 1, figsize=(11 if speech else 6, 4), squeeze=False)
    acc_ax = axes[0][0]
    for objective, group in groups.items():
        objective = CONTROL_OBJECTIVES.get(objective, objective)
        x = np.array([r[key] for r in group], dtype=float)
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
        ax.set_xlabel(xlabel(speech))
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
        `_teacher` when rows carry different `teacher_test_accuracy` values, `_size`
        when they carry different `transfer_examples`, and `_width` when rows of one objective
        carry different `parameters`.

    Example:
        >>> plot_sweep(json.load(open("docs/experiments/losses.json")), "docs/experiments/losses.png")
        ['docs/experiments/losses.png']
    """
    stem = png_path[: -len(".png")] if png_path.endswith(".png") else png_path
    written = [save(sweep_figure(sweep), png_path)]
    for suffix, make in (("_hidden", sweep_hidden_figure), ("_teacher", teacher_figure), ("_size", size_figure),
                         ("_width", width_figure)):
        fig = make(sweep)
        if fig is not None:
            written.append(save(fig, f"{stem}{suffix}.png"))
    return written
