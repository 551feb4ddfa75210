import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import fit, plots


def test_all_writes_every_stage_output(tiny_run):
    workdir, exports, _ = tiny_run
    with open(os.path.join(workdir, "config.json")) as f:
        assert json.load(f)["mimic"]["hidden"] == 32  # the resolved config, overrides applied
    with open(os.path.join(workdir, "report.json")) as f:
        report = json.load(f)
    models = {r["model"]: r for r in report["models"]}
    assert set(models) == {"teacher_0", "teacher_1", "ensemble", "mimic", "control"}
    assert models["mimic"]["parameters"] == models["control"]["parameters"]
    assert models["ensemble"]["parameters"] == 2 * models["teacher_0"]["parameters"]
    assert report["test_examples"] == 60
    assert report["transfer_examples"] == 2 * (200 - 40)  # originals + 1 view each
    for r in report["models"]:
        assert 0.0 <= r["test_accuracy"] <= 1.0 and np.isfinite(r["val_loss"])
    with open(os.path.join(workdir, "mimic", "history.json")) as f:
        history = json.load(f)
    assert history["epoch"] == [1, 2, 3] and len(history["val_loss"]) == 3
    assert history["loss"][-1] < history["loss"][0]
    assert report["histories"]["mimic"] == history  # what the figures are redrawn from
    assert set(report["histories"]) == {"teacher_0", "teacher_1", "mimic", "control"}
    assert len(report["histories"]["control"]["hidden_dead"]) == 2
    assert report["objectives"]["mimic"] == "L2 on teacher logits"
    assert os.path.getsize(os.path.join(workdir, "curves.png")) > 1000
    assert os.path.getsize(os.path.join(workdir, "hidden.png")) > 1000
    assert "| mimic |" in open(os.path.join(workdir, "report.md")).read()
    with open(os.path.join(workdir, "export.json")) as f:
        exported = json.load(f)
    assert exported["mimic"] == os.path.join(exports, "run", "1")  # named for the workdir
    assert os.path.exists(os.path.join(exported["mimic"], "saved_model.pb"))
    assert not os.path.exists(os.path.join(workdir, "mimic", "backup"))  # removed after success


def test_rerun_skips_finished_stages(tiny_run, capsys):
    workdir, _, args = tiny_run
    mtime = os.path.getmtime(os.path.join(workdir, "mimic", "model.keras"))
    assert fit.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("up to date") == 7 and "[report]" not in out  # `all` leaves figures to evaluate
    assert os.path.getmtime(os.path.join(workdir, "mimic", "model.keras")) == mtime


def test_nan_loss_stops_with_a_clear_error_and_keeps_good_outputs(tiny_copy, capsys):
    workdir, args = tiny_copy
    model = os.path.join(workdir, "mimic", "model.keras")
    mtime = os.path.getmtime(model)
    bad = ["mimic", *args[1:], "mimic_train.learning_rate=1e30", "mimic_train.optimizer=sgd",
           "mimic_train.schedule=constant"]
    assert fit.main(bad) == 2
    err = capsys.readouterr().err
    assert "stage mimic" in err and "loss became" in err and "step" in err
    assert os.path.getmtime(model) == mtime


def _copy_run_files(workdir, dest, *names):
    for name in names:
        os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
        shutil.copy(os.path.join(workdir, name), os.path.join(dest, name))
    return str(dest)


def test_report_stage_redraws_figures_from_report_json_alone(tiny_run, tmp_path, capsys):
    workdir, _, _ = tiny_run
    copy = _copy_run_files(workdir, tmp_path / "copy", "config.json", "report.json")  # no models, no histories
    for _ in range(2):  # never skipped as done
        assert fit.main(["report", "--workdir", copy]) == 0  # the config is the workdir's
        assert "[report] done" in capsys.readouterr().out
    for name in ("curves.png", "hidden.png"):
        assert os.path.getsize(os.path.join(copy, name)) > 1000


def test_report_stage_adds_histories_to_an_old_report(tiny_run, tmp_path, capsys):
    workdir, _, _ = tiny_run
    old = _copy_run_files(workdir, tmp_path / "old", "config.json", "report.json", "mimic/history.json",
                          "control/history.json")
    with open(os.path.join(old, "report.json")) as f:
        report = json.load(f)
    histories = report.pop("histories")
    with open(os.path.join(old, "report.json"), "w") as f:
        json.dump(report, f)
    assert plots.main([os.path.join(old, "report.json")]) == 1  # the plots CLI says what to do
    assert "fit report --workdir" in capsys.readouterr().err
    assert fit.main(["report", "--workdir", old]) == 0
    with open(os.path.join(old, "report.json")) as f:
        filled = json.load(f)["histories"]
    assert filled == {k: histories[k] for k in ("mimic", "control")}  # the teachers' files were not copied
    assert os.path.getsize(os.path.join(old, "curves.png")) > 1000


def test_report_stage_needs_report_json(tmp_path, capsys):
    assert fit.main(["report", "--workdir", str(tmp_path / "none")]) == 2
    assert "run the evaluate stage first" in capsys.readouterr().err
    assert fit.main(["report", "--preset", "cifar10-quick", "--workdir", str(tmp_path / "fresh")]) == 2
    err = capsys.readouterr().err
    assert "report.json is missing: run the evaluate stage first" in err and "Traceback" not in err


def test_stage_needs_its_inputs(tmp_path, capsys):
    assert fit.main(["mimic", "--preset", "cifar10-quick", "--workdir", str(tmp_path)]) == 2
    assert "run stage 'label' first" in capsys.readouterr().err


def test_bad_override_is_a_clean_error(tmp_path, capsys):
    assert fit.main(["all", "--preset", "cifar10-quick", "--workdir", str(tmp_path), "mimic.width=3"]) == 2
    assert "unknown config field 'mimic.width'" in capsys.readouterr().err


SHARED_CIFAR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "cifar10-jpeg.tar")


@pytest.mark.large
@pytest.mark.skipif(not os.path.exists(SHARED_CIFAR), reason="needs ../shared/data/cifar10-jpeg.tar")
def test_quick_preset_end_to_end(tmp_path):
    workdir = str(tmp_path / "run")
    args = ["all", "--preset", "cifar10-quick", "--workdir", workdir, f"data.source={SHARED_CIFAR}",
            f"export.dir={tmp_path / 'saved_models'}"]
    assert fit.main(args) == 0
    with open(os.path.join(workdir, "report.json")) as f:
        report = json.load(f)
    accuracies = {r["model"]: r["test_accuracy"] for r in report["models"]}
    assert report["test_examples"] == 10_000
    assert min(accuracies.values()) > 0.3  # every model learned something real


def _linked_run(tiny_run, tmp_path, overrides):
    """(task, layout) over tiny_run's data, teachers and transfer set (links), with other options."""
    from mimic_keras import config as config_lib
    from mimic_keras.layout import Layout
    from mimic_keras.tasks import get_task

    workdir, _, _ = tiny_run
    for part in ("data", "teacher", "transfer"):
        os.symlink(os.path.join(workdir, part), tmp_path / part)
    cfg = config_lib.apply_overrides(config_lib.get_preset(os.path.join(workdir, "config.json")), overrides)
    return get_task(cfg), Layout(str(tmp_path))


@pytest.mark.parametrize("views, expected", [(None, 320), (1, 320), (0, 160)])
def test_transfer_views_selects_originals_and_first_views(tiny_run, tmp_path, views, expected):
    task, layout = _linked_run(tiny_run, tmp_path, [f"data.transfer_views={views}"])
    train, _, count = task.transfer_datasets(layout, task.cfg.mimic_train)
    assert count == expected  # the LR schedule's step count is built from it
    assert sum(int(tf.shape(x)[0]) for x, _ in train) == expected


def test_transfer_views_beyond_the_transfer_set_is_refused(tiny_run, tmp_path):
    task, layout = _linked_run(tiny_run, tmp_path, ["data.transfer_views=2"])
    with pytest.raises(ValueError, match="1 augmented views"):
        task.transfer_datasets(layout, task.cfg.mimic_train)


def test_students_log_hidden_unit_statistics(tiny_run):
    workdir, _, _ = tiny_run
    for stage in ("mimic", "control"):
        with open(os.path.join(workdir, stage, "history.json")) as f:
            history = json.load(f)
        assert len(history["hidden_dead"]) == len(history["epoch"])
        assert 0.0 < history["hidden_active"][-1] <= 1.0
    with open(os.path.join(workdir, "teacher", "teacher_0", "history.json")) as f:
        assert "hidden_active" not in json.load(f)  # deep teachers have no single hidden layer


def test_label_is_redone_after_the_data_is_converted_again(tiny_copy):
    from mimic_keras import config as config_lib
    from mimic_keras import stages
    from mimic_keras.data import writer
    from mimic_keras.layout import Layout

    workdir, _ = tiny_copy
    cfg, layout = config_lib.get_preset(os.path.join(workdir, "config.json")), Layout(workdir)
    assert stages.check("label", cfg, layout).up_to_date
    manifest = writer.read_manifest(layout.data)
    writer.write_manifest(layout.data, {**manifest, "fingerprint": "another conversion"})
    assert not stages.check("prepare", cfg, layout).up_to_date  # its output changed by hand
    assert stages.check("label", cfg, layout).reason == "prepare, teacher out of date"
