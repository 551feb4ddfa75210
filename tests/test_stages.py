"""The stage graph: a changed setting redoes exactly the stages that read it and those after them."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from mimic_keras import config as config_lib
from mimic_keras import fit, stages
from mimic_keras.layout import Layout

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _stage_lines(out):
    """{stage: what its first line said} ("up to date", "rerun: ...")."""
    lines = {}
    for stage, text in re.findall(r"^\[(\w+)\] (.*)$", out, re.M):
        if not text.startswith("done"):
            lines.setdefault(stage, text)
    return lines


def _report(workdir):
    with open(os.path.join(workdir, "report.json")) as f:
        report = json.load(f)
    report["models"] = {r["model"]: r for r in report["models"]}
    return report


def _redone(lines):
    return {stage for stage, text in lines.items() if text != "up to date"}


@pytest.mark.parametrize(
    "override, redone, why",
    [
        ("mimic.hidden=16", {"mimic", "control", "evaluate", "export"}, "mimic.hidden 32 → 16"),
        ("distill.loss=kd", {"mimic", "evaluate", "export"}, "distill.loss l2_logits → kd"),
        ("data.views=2", {"label", "mimic", "evaluate", "export"}, "data.views 1 → 2"),
        ("teacher.dense_units=(12,)", {"teacher", "label", "mimic", "evaluate", "export"}, "teacher.dense_units"),
        ("control_train.dropout=0.3", {"control", "evaluate", "export"}, "control_train.dropout null → 0.3"),
    ],
)
def test_a_change_redoes_exactly_its_readers_and_what_follows(tiny_copy, capsys, override, redone, why):
    workdir, args = tiny_copy
    before = _report(workdir)
    assert fit.main([*args, override]) == 0
    lines = _stage_lines(capsys.readouterr().out)
    assert _redone(lines) == redone
    first = next(stage for stage in stages.PIPELINE if stage in redone)
    assert lines[first].startswith("rerun: ") and why in lines[first]
    for stage in stages.PIPELINE:
        if stage in redone and stage != first:
            assert lines[stage].startswith("rerun: ")  # why: a field it reads too, or "<stage> was redone"
    if "evaluate" in redone:
        assert lines["evaluate"].startswith("rerun: ") and "redone" in lines["evaluate"]

    after = _report(workdir)  # the report and the export show the new models
    if override.startswith("mimic.hidden"):
        assert after["models"]["mimic"]["parameters"] < before["models"]["mimic"]["parameters"]
        assert after["models"]["control"]["parameters"] == after["models"]["mimic"]["parameters"]
    if override.startswith("distill.loss"):
        assert after["objectives"]["mimic"].startswith("KD")
    if override.startswith("data.views"):
        assert after["transfer_examples"] == 3 * 160
    if override.startswith("teacher."):
        assert after["models"]["teacher_0"]["parameters"] != before["models"]["teacher_0"]["parameters"]
    with open(os.path.join(workdir, "export.json")) as f:
        exported = json.load(f)["mimic"]
    # A new mimic is a new served version; the same mimic (a control-only change) keeps its version.
    assert exported.endswith(os.path.join("run", "2" if "mimic" in redone else "1"))
    with open(os.path.join(workdir, "config.json")) as f:  # the workdir's config now holds the change
        saved = config_lib.from_dict(json.load(f))
    assert config_lib.apply_overrides(saved, [override]) == saved

    assert fit.main(["all", "--workdir", workdir]) == 0  # the workdir's config is the base: nothing to redo
    assert _redone(_stage_lines(capsys.readouterr().out)) == set()


def test_the_control_on_the_transfer_set_follows_the_teachers_labels(tiny_copy, capsys):
    workdir, args = tiny_copy
    transfer = ["control_train.data=transfer", "control_train.augment=false"]
    assert fit.main([*args, *transfer]) == 0
    assert _redone(_stage_lines(capsys.readouterr().out)) == {"control", "evaluate", "export"}
    report = _report(workdir)
    assert report["objectives"]["control"] == "cross-entropy on transfer-set labels"
    with open(os.path.join(workdir, "control", "history.json")) as f:
        history = json.load(f)
    assert len(history["epoch"]) == 2 and "val_accuracy" in history
    from mimic_keras.tasks import get_task, training

    cfg = config_lib.get_preset(os.path.join(workdir, "config.json"))
    task, layout = get_task(cfg), Layout(workdir)
    train, _, count = training.transfer_labels(task, layout, cfg.control_train)
    labels = [y for _, y, _ in train.as_numpy_iterator()]
    mimic_batches = list(training.transfer_datasets(task, layout, cfg.mimic_train)[0])
    assert count == sum(len(y) for y in labels) == report["transfer_examples"] == 2 * 160  # the mimic's views
    assert len(labels) == len(mimic_batches)  # the same steps as the mimic (same batch size here)
    assert fit.main([*args, *transfer, "data.views=2"]) == 0
    assert _redone(_stage_lines(capsys.readouterr().out)) == {"label", "mimic", "control", "evaluate", "export"}


def test_a_field_added_after_a_stage_ran_keeps_it_up_to_date_at_its_default(tiny_copy):
    workdir, _ = tiny_copy
    cfg = config_lib.get_preset(os.path.join(workdir, "config.json"))
    path = Layout(workdir).stamp("mimic")
    with open(path) as f:
        stamp = json.load(f)
    del stamp["config"]["mimic.groups"]  # as written before the field existed
    with open(path, "w") as f:
        json.dump(stamp, f)
    assert stages.check("mimic", cfg, Layout(workdir)).up_to_date
    status = stages.check("mimic", config_lib.apply_overrides(cfg, ["mimic.groups=2"]), Layout(workdir))
    assert not status.up_to_date and status.reason == "mimic.groups (unset) → 2"


@pytest.mark.parametrize("stage, section", [("teacher", "teacher_train"), ("mimic", "mimic_train"),
                                              ("control", "control_train")])
def test_patience_at_its_default_keeps_a_stage_done_before_it_existed_up_to_date(tmp_path, stage, section):
    from mimic_keras import stamps

    cfg = config_lib.get_preset("cifar10-quick")
    output = tmp_path / "model.keras"
    output.write_text("weights")
    read, defaults = stages.reads(stage, cfg), stages.defaults(stage, cfg)
    assert read[f"{section}.patience"] is None
    old = {k: v for k, v in read.items() if k != f"{section}.patience"}  # a stamp written before the field
    path = str(tmp_path / "stamp.json")
    stamps.write(path, stage, 1, old, {}, [str(output)], str(tmp_path))
    assert stamps.status(path, 1, read, {}, [str(output)], str(tmp_path), defaults=defaults).up_to_date
    patient = config_lib.apply_overrides(cfg, [f"{section}.patience=5", f"{section}.checkpoint=best"])
    status = stamps.status(path, 1, stages.reads(stage, patient), {}, [str(output)], str(tmp_path), defaults=defaults)
    assert not status.up_to_date and f"{section}.patience (unset) → 5" in status.reason


def test_force_then_evaluate_reports_the_new_model(tiny_copy, capsys):
    workdir, args = tiny_copy
    report = os.path.join(workdir, "report.json")
    mtime = os.path.getmtime(report)
    assert fit.main(["mimic", "--force", *args[1:]]) == 0
    assert "[mimic] forced" in capsys.readouterr().out
    assert fit.main(["evaluate", *args[1:]]) == 0
    assert "[evaluate] rerun: mimic was redone" in capsys.readouterr().out
    assert os.path.getmtime(report) > mtime


def test_a_stage_refuses_to_run_on_stale_inputs(tiny_copy, capsys):
    workdir, args = tiny_copy
    assert fit.main(["mimic", *args[1:], "data.views=2"]) == 2
    assert "run stage 'label' first (data.views 1 → 2)" in capsys.readouterr().err
    on_labels = ["control", *args[1:], "data.views=2", "control_train.dropout=0.1"]
    transfer = ["control_train.data=transfer", "control_train.augment=false"]
    assert fit.main([*on_labels, *transfer]) == 2  # on the transfer set, the control needs the new labels
    assert "stage control: run stage 'label' first (data.views 1 → 2)" in capsys.readouterr().err
    assert fit.main(on_labels) == 0  # on the labelled training set it does not


def test_a_killed_stage_leaves_nothing_that_counts_as_done(tiny_copy):
    workdir, args = tiny_copy
    cmd = [sys.executable, "-m", "mimic_keras.fit", "mimic", *args[1:], "mimic.hidden=20", "mimic_train.epochs=50"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # kill it once it is training
        if line.startswith("Epoch 2/"):
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    cfg = config_lib.get_preset(os.path.join(workdir, "config.json"))
    assert cfg.mimic.hidden == 20
    status = stages.check("mimic", cfg, Layout(workdir))
    assert not status.up_to_date and status.reason == "no record of what made its outputs"
    assert not stages.check("evaluate", cfg, Layout(workdir)).up_to_date


def test_bad_values_fail_fast_with_one_line_before_anything_runs(tmp_path):
    workdir = tmp_path / "run"
    for bad in ("distill.loss=nonsense", "optimizer=adamw", "mimic_train.optimizer=adamw", "mimic.hidden=1.5"):
        started = time.time()
        result = subprocess.run([sys.executable, "-m", "mimic_keras.fit", "all", "--preset", "cifar10-quick",
                                 "--workdir", str(workdir), bad], cwd=ROOT, capture_output=True, text=True)
        assert time.time() - started < 5
        assert result.returncode == 2 and result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error: ")
        assert not workdir.exists()  # no config.json written, no stage started


def test_config_command_prints_every_field_with_help(capsys):
    assert fit.main(["config", "--preset", "timit-quick", "mimic.hidden=4000"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^mimic.hidden = 4000 +# H, units of the one non-linear hidden layer", out, re.M)
    assert "data.context = 7" in out and "data.views" not in out
    assert "distill.loss = l2_logits" in out and "kd" in out


def _fit_in_subprocess(args):
    result = subprocess.run([sys.executable, "-m", "mimic_keras.fit", *args], cwd=ROOT, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_deterministic_runs_give_identical_models(tiny_run, tmp_path):
    """Op determinism set per process (hence subprocesses): two mimics from the same seed are equal."""
    import keras
    import numpy as np

    workdir = tiny_run[0]
    weights = []
    for name in ("a", "b"):
        copy = tmp_path / name
        shutil.copytree(workdir, copy)
        _fit_in_subprocess(["mimic", "--force", "--workdir", str(copy), "deterministic=true"])
        model = keras.saving.load_model(copy / "mimic" / "model.keras", compile=False)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_between_lists_what_a_change_must_redo_to_reach_a_stage():
    cfg = config_lib.get_preset("cifar10-quick")
    assert stages.between("teacher", "mimic", cfg) == ["teacher", "label", "mimic"]
    assert stages.between("mimic", "mimic", cfg) == ["mimic"]
    assert stages.between("teacher", "control", cfg) == []  # the label-trained control needs no teacher
    transfer = config_lib.apply_overrides(cfg, ["control_train.data=transfer", "control_train.augment=false"])
    assert stages.between("teacher", "control", transfer) == ["teacher", "label", "control"]
