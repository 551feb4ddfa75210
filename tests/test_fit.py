import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import fit, plots
from mimic_keras.data import cifar10
from tests.helpers import toy_images

TINY = [
    "data.limit=None", "data.val_size=40", "data.views=1",
    "teacher.conv_filters=(8,)", "teacher.dense_units=(16,)", "teacher.num_teachers=2",
    "mimic.conv_filters=4", "mimic.bottleneck=8", "mimic.hidden=32",
    "teacher_train.epochs=2", "mimic_train.epochs=3", "control_train.epochs=2",
    "teacher_train.batch_size=64", "mimic_train.batch_size=64", "control_train.batch_size=64",
]


def _image_tree(root, n_train=200, n_test=60):
    """A class-per-folder PNG tree, the form users have after unpacking an image copy."""
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        x, y = toy_images(n, seed=seed)
        for i, (img, label) in enumerate(zip(x, y)):
            folder = os.path.join(root, split, cifar10.CLASSES[label])
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:04d}.png"), "wb") as f:
                f.write(tf.io.encode_png(img).numpy())
    return root


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit")
    source = _image_tree(str(root / "images"))
    workdir, exports = str(root / "run"), str(root / "saved_models")
    args = ["all", "--preset", "cifar10-quick", "--workdir", workdir, f"data.source={source}",
            f"export_dir={exports}", *TINY]
    assert fit.main(args) == 0
    return workdir, exports, args


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
    assert exported["mimic"] == os.path.join(exports, "cifar10-quick-mimic", "1")
    assert os.path.exists(os.path.join(exported["mimic"], "saved_model.pb"))
    assert not os.path.exists(os.path.join(workdir, "mimic", "backup"))  # removed after success


def test_rerun_skips_finished_stages(tiny_run, capsys):
    workdir, _, args = tiny_run
    mtime = os.path.getmtime(os.path.join(workdir, "mimic", "model.keras"))
    assert fit.main(args) == 0
    out = capsys.readouterr().out
    assert out.count("skipped") == 7 and "[report]" not in out  # `all` leaves figures to evaluate
    assert os.path.getmtime(os.path.join(workdir, "mimic", "model.keras")) == mtime


def test_nan_loss_stops_with_a_clear_error_and_keeps_good_outputs(tiny_run, capsys):
    workdir, _, args = tiny_run
    model = os.path.join(workdir, "mimic", "model.keras")
    mtime = os.path.getmtime(model)
    bad = ["mimic", "--force", *args[1:], "mimic_train.learning_rate=1e30", "mimic_train.optimizer=sgd",
           "mimic_train.schedule=constant"]
    assert fit.main(bad) == 1
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
    assert fit.main(["report", "--workdir", str(tmp_path / "none")]) == 1
    assert "run the evaluate stage first" in capsys.readouterr().err
    assert fit.main(["report", "--preset", "cifar10-quick", "--workdir", str(tmp_path / "fresh")]) == 1
    err = capsys.readouterr().err
    assert "report.json is missing: run the evaluate stage first" in err and "Traceback" not in err


def test_stage_needs_its_inputs(tmp_path, capsys):
    assert fit.main(["mimic", "--preset", "cifar10-quick", "--workdir", str(tmp_path)]) == 1
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
            f"export_dir={tmp_path / 'saved_models'}"]
    assert fit.main(args) == 0
    with open(os.path.join(workdir, "report.json")) as f:
        report = json.load(f)
    accuracies = {r["model"]: r["test_accuracy"] for r in report["models"]}
    assert report["test_examples"] == 10_000
    assert min(accuracies.values()) > 0.3  # every model learned something real


def test_prepare_with_other_data_options_is_not_skipped(tiny_run, capsys):
    workdir, _, args = tiny_run
    changed = ["prepare", *args[1:], "data.val_size=30"]
    assert fit.main(changed) == 1  # the converter refuses to overwrite without --force
    assert "prepare" in capsys.readouterr().err
    assert fit.main(["prepare", *args[1:]]) == 0  # the original options: skipped
    assert "[prepare] skipped" in capsys.readouterr().out


def _linked_run(tiny_run, tmp_path, overrides):
    """A Run over tiny_run's data, teachers and transfer set (links), with other options."""
    from mimic_keras import config as config_lib
    from mimic_keras.stages import Run

    workdir, _, _ = tiny_run
    for part in ("data", "teacher", "transfer"):
        os.symlink(os.path.join(workdir, part), tmp_path / part)
    cfg = config_lib.apply_overrides(config_lib.get_preset(os.path.join(workdir, "config.json")), overrides)
    return Run(cfg, str(tmp_path))


@pytest.mark.parametrize("views, expected", [(None, 320), (1, 320), (0, 160)])
def test_transfer_views_selects_originals_and_first_views(tiny_run, tmp_path, views, expected):
    run = _linked_run(tiny_run, tmp_path, [f"data.transfer_views={views}"])
    train, _, count = run.task.transfer_datasets(run, run.cfg.mimic_train)
    assert count == expected  # the LR schedule's step count is built from it
    assert sum(int(tf.shape(x)[0]) for x, _ in train) == expected


def test_transfer_views_beyond_the_transfer_set_is_refused(tiny_run, tmp_path):
    run = _linked_run(tiny_run, tmp_path, ["data.transfer_views=2"])
    with pytest.raises(ValueError, match="1 augmented views"):
        run.task.transfer_datasets(run, run.cfg.mimic_train)


def test_students_log_hidden_unit_statistics(tiny_run):
    workdir, _, _ = tiny_run
    for stage in ("mimic", "control"):
        with open(os.path.join(workdir, stage, "history.json")) as f:
            history = json.load(f)
        assert len(history["hidden_dead"]) == len(history["epoch"])
        assert 0.0 < history["hidden_active"][-1] <= 1.0
    with open(os.path.join(workdir, "teacher", "teacher_0", "history.json")) as f:
        assert "hidden_active" not in json.load(f)  # deep teachers have no single hidden layer


def test_label_is_redone_after_the_data_is_converted_again(tiny_run, tmp_path):
    import shutil

    from mimic_keras.data import writer

    run = _linked_run(tiny_run, tmp_path, [])
    assert run.is_done("label")
    os.remove(tmp_path / "data")
    shutil.copytree(os.path.join(tiny_run[0], "data"), tmp_path / "data")
    manifest = writer.read_manifest(str(tmp_path / "data"))
    writer.write_manifest(str(tmp_path / "data"), {**manifest, "fingerprint": "another conversion"})
    assert not run.is_done("label")
    with pytest.raises(ValueError, match="another conversion of the data"):
        run._require("label")
