"""Figures drawn from JSON dicts alone: run reports (`eval.figures`), sweeps (`eval.sweep_figures`), and the
`mimic_keras.plots` file dispatcher and CLI."""

import json
import os
import shutil

import numpy as np
import pytest

from mimic_keras import plots
from mimic_keras.eval import figures, sweep_figures

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs")


def _history(loss, hidden=True, top1=(0.05, 0.06, 0.07)):
    h = {"epoch": [1, 2, 3], "loss": loss, "val_loss": [x + 0.5 for x in loss]}
    if hidden:
        h.update(hidden_active=[0.5, 0.4, 0.3], hidden_dead=[0.0, 0.1, 0.2], hidden_mean=[1.0, 1.1, 1.2],
                 hidden_top1=list(top1))
    return h


def _report(hidden=True):
    return {
        "name": "toy", "models": [{"model": "mimic", "test_accuracy": 0.5}],
        "objectives": {"mimic": "KD, T=4", "control": "cross-entropy on labels"},
        "histories": {"mimic": _history([3.0, 2.0, 1.0], hidden), "control": _history([1.5, 1.0, 0.5], hidden, top1=(0.2, 0.3, 0.4))},
    }


def _row(variant, teacher=None, hidden=True, accuracy=0.7):
    curve = {"seconds": [60.0, 120.0, 180.0], "loss": [3.0, 2.0, 1.0], "val_loss": [2.5, 2.0, 1.5],
             "val_accuracy": [0.5, 0.6, 0.7]}
    if hidden:
        curve.update(hidden_active=[0.5, 0.4, 0.3], hidden_dead=[0.0, 0.1, 0.2], hidden_top1=[0.1, 0.2, 0.3])
    row = {"variant": variant, "stage": "mimic", "overrides": "", "epochs": 3, "wall_seconds": 180.0,
           "curve": curve, "parameters": 10, "test_accuracy": accuracy, "test_accuracy_ci95": 0.01,
           "val_l2_to_teacher": 1.0, "test_agreement": 0.8}
    if teacher is not None:
        row["teacher_test_accuracy"] = teacher
    return row


def _sweep(**kwargs):
    return {"base": "runs/x", "common": [], "rows": [_row("a", **kwargs), _row("b", accuracy=0.6, **kwargs)]}


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(path) > 1000


def test_curves_figure_draws_each_roles_history_with_its_objective():
    fig = figures.curves_figure(_report())
    mimic_ax, control_ax = fig.axes
    assert mimic_ax.get_title() == "mimic (KD, T=4)"
    assert control_ax.get_title() == "control (cross-entropy on labels)"
    np.testing.assert_allclose(mimic_ax.lines[0].get_ydata(), [3.0, 2.0, 1.0])  # loss
    np.testing.assert_allclose(control_ax.lines[1].get_ydata(), [2.0, 1.5, 1.0])  # val_loss


def test_plot_run_writes_curves_and_hidden_from_the_dict(tmp_path):
    written = figures.plot_run(_report(), str(tmp_path))
    assert written == [str(tmp_path / "curves.png"), str(tmp_path / "hidden.png")]
    assert all(_is_png(p) for p in written)
    fig = figures.run_hidden_figure(_report())
    active, dead, top1 = fig.axes
    assert [line.get_label() for line in dead.lines] == ["mimic", "control"]
    np.testing.assert_allclose(top1.lines[0].get_ydata(), [0.05, 0.06, 0.07])
    np.testing.assert_allclose(top1.lines[1].get_ydata(), [0.2, 0.3, 0.4])


def test_plot_run_without_hidden_stats_writes_only_curves(tmp_path):
    assert figures.plot_run(_report(hidden=False), str(tmp_path), prefix="x_") == [str(tmp_path / "x_curves.png")]
    assert not (tmp_path / "hidden.png").exists() and not (tmp_path / "x_hidden.png").exists()


def test_report_without_histories_is_a_clear_error():
    report = _report()
    del report["histories"]
    with pytest.raises(figures.MissingHistoriesError, match="no training histories.*fit report --workdir"):
        figures.curves_figure(report)


def test_sweep_figure_plots_accuracy_and_loss_against_minutes():
    fig = sweep_figures.sweep_figure(_sweep())
    acc_ax, loss_ax = fig.axes
    assert [line.get_label() for line in acc_ax.lines] == ["a", "b"]
    np.testing.assert_allclose(acc_ax.lines[0].get_xdata(), [1.0, 2.0, 3.0])
    np.testing.assert_allclose(acc_ax.lines[0].get_ydata(), [50.0, 60.0, 70.0])
    np.testing.assert_allclose(loss_ax.lines[1].get_ydata(), [2.5, 2.0, 1.5])


def test_sweep_without_validation_accuracy_gets_the_loss_panel_only():
    sweep = _sweep()
    for r in sweep["rows"]:
        del r["curve"]["val_accuracy"]
    (loss_ax,) = sweep_figures.sweep_figure(sweep).axes
    assert loss_ax.get_yscale() == "log" and len(loss_ax.lines) == 2


def test_sweep_hidden_figure_has_one_line_per_variant_with_stats():
    sweep = _sweep()
    sweep["rows"].append(_row("no_stats", hidden=False))
    active, dead, top1 = sweep_figures.sweep_hidden_figure(sweep).axes
    assert [line.get_label() for line in active.lines] == ["a", "b"]
    np.testing.assert_allclose(dead.lines[0].get_xdata(), [1, 2, 3])  # epochs, from the list's length
    np.testing.assert_allclose(top1.lines[1].get_ydata(), [0.1, 0.2, 0.3])


def test_plot_sweep_writes_hidden_and_teacher_figures_when_rows_have_them(tmp_path):
    png = str(tmp_path / "s.png")
    two_teachers = _sweep(teacher=0.8)
    two_teachers["rows"][1]["teacher_test_accuracy"] = 0.9
    assert sweep_figures.plot_sweep(two_teachers, png) == [png, str(tmp_path / "s_hidden.png"),
                                                   str(tmp_path / "s_teacher.png")]
    assert all(_is_png(str(p)) for p in tmp_path.glob("s*.png"))
    for name in ("s_hidden.png", "s_teacher.png"):
        os.remove(tmp_path / name)
    assert sweep_figures.plot_sweep(_sweep(hidden=False), png) == [png]
    assert not (tmp_path / "s_hidden.png").exists() and not (tmp_path / "s_teacher.png").exists()
    assert sweep_figures.plot_sweep(_sweep(teacher=0.8), png) == [png, str(tmp_path / "s_hidden.png")]  # one teacher


def test_teacher_figure_places_each_variant_with_its_ci_and_a_diagonal():
    sweep = _sweep(teacher=0.8)
    sweep["rows"][1]["teacher_test_accuracy"] = 0.9
    sweep["rows"].append(_row("old"))  # a row from before teacher accuracies were recorded: left out
    ax = sweep_figures.teacher_figure(sweep).axes[0]
    points = ax.containers[0]  # the errorbar container
    np.testing.assert_allclose(points.lines[0].get_xdata(), [80.0, 90.0])
    np.testing.assert_allclose(points.lines[0].get_ydata(), [70.0, 60.0])
    segments = points.lines[2][0].get_segments()
    np.testing.assert_allclose([s[:, 1] for s in segments], [[69.0, 71.0], [59.0, 61.0]])  # ± CI
    assert [t.get_text() for t in ax.texts] == ["a", "b"]
    diagonal = [line for line in ax.lines if line.get_label() == "y = x"][0]
    np.testing.assert_allclose(diagonal.get_xdata(), diagonal.get_ydata())
    assert ax.get_ylabel().startswith("mimic test accuracy")


def test_teacher_figure_labels_a_teacher_stage_sweeps_rows_as_their_mimics():
    sweep = _sweep(teacher=0.8)  # `--stage teacher`: each row trains teachers, then its mimic
    sweep["rows"][1]["teacher_test_accuracy"] = 0.9
    for row in sweep["rows"]:
        row["stage"] = "teacher"
    assert sweep_figures.teacher_figure(sweep).axes[0].get_ylabel().startswith("mimic test accuracy")


def _sized(variant, objective, size, accuracy, per=None):
    row = {**_row(variant, accuracy=accuracy), "objective": objective, "transfer_examples": size}
    if per is not None:
        row.update(test_per=per, test_per_ci95=(per - 0.02, per + 0.03))
    return row


def test_size_figure_draws_one_line_per_objective_in_order_of_size():
    rows = [_sized("l2_big", "l2_logits", 400, 0.6), _sized("l2_small", "l2_logits", 100, 0.5),
            _sized("kd_small", "kd", 100, 0.55), _row("control", accuracy=0.4)]  # no size: left out
    ax = sweep_figures.size_figure({"base": "x", "common": [], "rows": rows}).axes[0]
    lines = {c.get_label(): c.lines[0] for c in ax.containers}
    assert sorted(lines) == ["kd", "l2_logits"]
    np.testing.assert_allclose(lines["l2_logits"].get_xdata(), [100, 400])
    np.testing.assert_allclose(lines["l2_logits"].get_ydata(), [50.0, 60.0])
    assert ax.get_xscale() == "log"
    assert not [line for line in ax.lines if line.get_label() == "teacher"]  # no teacher accuracy in the rows
    assert sweep_figures.size_figure({"rows": rows[1:3]}) is None  # one size only
    for r in rows:
        r["teacher_test_accuracy"] = 0.65
    teacher = [line for line in sweep_figures.size_figure({"rows": rows}).axes[0].lines if line.get_label() == "teacher"]
    np.testing.assert_allclose(teacher[0].get_ydata(), [65.0, 65.0])


def test_size_figure_of_speech_rows_adds_the_per_and_its_interval():
    rows = [_sized("a", "kd", 100, 0.5, per=0.25), _sized("b", "kd", 300, 0.55, per=0.2)]
    fig = sweep_figures.size_figure({"rows": rows})
    per_ax = fig.axes[1]
    bars = per_ax.containers[0]
    np.testing.assert_allclose(bars.lines[0].get_ydata(), [25.0, 20.0])
    np.testing.assert_allclose([s[:, 1] for s in bars.lines[2][0].get_segments()], [[23.0, 28.0], [18.0, 23.0]])


def test_width_figure_draws_each_objective_against_its_parameters(tmp_path):
    rows = [{**_sized("h8000", "l2_logits", 100, 0.61, per=0.19), "parameters": 8000},
            {**_sized("h2048", "l2_logits", 100, 0.56, per=0.22), "parameters": 2048},
            {**_sized("c8000", "labels labels", None, 0.66, per=0.15), "parameters": 8000},
            {**_sized("c2048", "labels labels", None, 0.64, per=0.16), "parameters": 2048}]
    acc_ax, per_ax = sweep_figures.width_figure({"rows": rows}).axes
    lines = {c.get_label(): c.lines[0] for c in per_ax.containers}
    assert sorted(lines) == ["l2_logits", "labels (control)"]  # a control's objective, named for the legend
    np.testing.assert_allclose(lines["l2_logits"].get_xdata(), [2048, 8000])  # in order of size
    np.testing.assert_allclose(lines["labels (control)"].get_ydata(), [16.0, 15.0])
    assert acc_ax.get_xlabel() == "parameters" and acc_ax.get_xscale() == "log"
    one_each = [rows[0], rows[3]]  # two sizes, but one per objective: no line to draw
    assert sweep_figures.width_figure({"rows": one_each}) is None
    png = str(tmp_path / "w.png")
    assert sweep_figures.plot_sweep({"rows": rows}, png)[-1] == str(tmp_path / "w_width.png")
    assert _is_png(str(tmp_path / "w_width.png"))


def test_kind_of_tells_reports_from_sweeps():
    assert plots.kind_of(_report()) == "run"
    assert plots.kind_of(_sweep()) == "sweep"
    assert plots.kind_of({"kind": "intervals", "rows": []}) == "intervals"  # no figures, not a sweep
    assert plots.kind_of({"kind": "checkpoints", "rows": []}) == "checkpoints"
    assert plots.kind_of({"kind": "factorize", "rows": []}) == "factorize"
    assert plots.kind_of({"kind": "groups", "rows": []}) == "groups"
    assert plots.kind_of({"kind": "calibration", "rows": []}) == "calibration"
    with pytest.raises(ValueError, match="neither a run report"):
        plots.kind_of({"name": "x"})


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return str(path)


def test_write_plots_names_files_after_the_json(tmp_path):
    run = _write(tmp_path / "run" / "report.json", _report())
    assert plots.write_plots(run) == [str(tmp_path / "run" / "curves.png"), str(tmp_path / "run" / "hidden.png")]
    docs = _write(tmp_path / "docs" / "cifar10_cpu_report.json", _report(hidden=False))
    assert plots.write_plots(docs) == [str(tmp_path / "docs" / "cifar10_cpu_curves.png")]
    two_teachers = _sweep(teacher=0.8)
    two_teachers["rows"][1]["teacher_test_accuracy"] = 0.9
    sweep = _write(tmp_path / "docs" / "experiments" / "losses.json", two_teachers)
    folder = tmp_path / "docs" / "experiments"
    assert plots.write_plots(sweep) == [str(folder / n) for n in ("losses.png", "losses_hidden.png", "losses_teacher.png")]
    assert all(_is_png(str(folder / n)) for n in ("losses.png", "losses_hidden.png", "losses_teacher.png"))
    assert plots.write_plots(_write(folder / "losses_paired.json", {"kind": "intervals", "comparisons": []})) == []


def test_committed_sweeps_redraw(tmp_path):
    # The sweep files as written so far (e.g. ce_transfer has no validation accuracy).
    for name in ("losses", "bottleneck", "ce_transfer"):
        path = shutil.copy(os.path.join(DOCS, "experiments", f"{name}.json"), tmp_path)
        assert plots.write_plots(path)[0] == str(tmp_path / f"{name}.png")
        assert _is_png(str(tmp_path / f"{name}.png"))


def test_cli_reports_bad_files_without_a_traceback(tmp_path, capsys):
    old = _report()
    del old["histories"]
    good = _write(tmp_path / "good" / "report.json", _report())
    bad = _write(tmp_path / "old" / "report.json", old)
    other = _write(tmp_path / "other.json", {"name": "x"})
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert plots.main([bad, good, other, str(broken), str(tmp_path / "absent.json")]) == 1
    out, err = capsys.readouterr()
    assert os.path.join(tmp_path, "good", "curves.png") in out.splitlines()
    assert f"error: {bad}: report 'toy' has no training histories" in err
    assert f"error: {other}: neither a run report" in err
    assert f"error: {broken}: not JSON" in err
    assert "absent.json" in err and "Traceback" not in err
    assert not (tmp_path / "old" / "curves.png").exists()
    assert plots.main([good]) == 0
