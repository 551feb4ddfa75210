"""A new dataset is new files plus one registry line: `tests/clusters` through every stage of `fit all`.

The clusters dataset (float vectors, MLP teacher and mimic) lives only under `tests/`; this
test adds its one line to `mimic_keras.configs.DATASETS` and runs the real CLI path, so a
dataset-specific branch in stages, evaluation, export or the runner that leaves it out fails here.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import config as config_lib
from mimic_keras import configs, fit, stages
from mimic_keras.layout import Layout
from mimic_keras.models.mimics import mimic_param_count
from mimic_keras.tasks import get_task
from tests import clusters
from tests.clusters.task import ClustersTask

STAGES = ("prepare", "teacher", "label", "mimic", "control", "evaluate", "export")


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(configs.DATASETS, "clusters", "tests.clusters.config")  # the one registry line


@pytest.fixture
def source(tmp_path):
    return clusters.write_source(str(tmp_path / "clusters.npz"))


def _stage_lines(out):
    """{stage: its first line}: what the runner decided (run, rerun and why, up to date)."""
    lines = {}
    for line in out.splitlines():
        if line.startswith("["):
            lines.setdefault(line.split("]")[0][1:], line)
    return lines


def test_unregistered_dataset_is_unknown(tmp_path, capsys):
    assert fit.main(["config", "--preset", "clusters", "--workdir", str(tmp_path / "run")]) == 2
    assert "unknown preset 'clusters'" in capsys.readouterr().err


def test_config_lists_the_new_datasets_own_fields(registered, capsys):
    assert fit.main(["config", "--preset", "clusters", "--workdir", "unused"]) == 0
    assert "data.val_fraction" in capsys.readouterr().out
    assert fit.main(["config", "--preset", "clusters", "--workdir", "unused", "mimic.conv_filters=8"]) == 2
    assert "mimic.conv_filters=8: cluster vectors" in capsys.readouterr().err


def test_fit_all_runs_every_stage_for_a_dataset_added_from_new_files(registered, source, tmp_path, capsys):
    workdir, exports = str(tmp_path / "run"), str(tmp_path / "saved_models")
    argv = ["all", "--preset", "clusters", "--workdir", workdir, f"data.source={source}", f"export.dir={exports}",
            "export.tflite=float32,int8"]
    assert fit.main(argv) == 0
    lines = _stage_lines(capsys.readouterr().out)
    assert all(lines[s] == f"[{s}] run: no outputs yet" for s in STAGES), lines
    layout = Layout(workdir)
    cfg = config_lib.get_preset(layout.config)
    assert isinstance(get_task(cfg), ClustersTask)

    with np.load(source) as raw:
        x_test, y_test = raw["x_test"], raw["y_test"]
    with open(layout.report_json) as f:
        report = json.load(f)
    rows = {row["model"]: row for row in report["models"]}
    assert list(rows) == ["teacher_0", "mimic", "control"]
    assert report["test_examples"] == len(y_test) and report["transfer_examples"] == 128  # 160 train, 0.2 held out
    mimic = keras.saving.load_model(layout.model("mimic"))
    assert rows["mimic"]["parameters"] == mimic_param_count(cfg.mimic, 4, (clusters.FEATURES,))
    # The report's numbers are the models' own on the source's test vectors.
    for role in ("mimic", "control"):
        model = keras.saving.load_model(layout.model(role))
        accuracy = np.mean(np.argmax(model.predict(x_test, verbose=0), -1) == y_test)
        assert rows[role]["test_accuracy"] == pytest.approx(accuracy)
        assert 0.0 <= rows[role]["teacher_agreement"] <= 1.0 and rows[role]["val_l2_to_teacher"] >= 0.0
    assert rows["teacher_0"]["test_accuracy"] > 0.8  # separable clusters: the teacher learned them
    assert rows["mimic"]["teacher_agreement"] > 0.5  # and the mimic learned from its logits (chance: 0.25)
    with open(layout.report_md) as f:
        assert f"test set of {len(y_test)} vectors" in f.read()

    # The export serves the mimic on feature vectors, with the class names.
    with open(layout.export_json) as f:
        folder = json.load(f)["mimic"]
    assert folder == os.path.join(exports, "run", "1")
    served = tf.saved_model.load(folder).signatures["serving_default"](features=tf.constant(x_test))
    np.testing.assert_allclose(served["logits"], mimic(x_test), atol=1e-5)
    assert served["classes"].dtype == tf.int64
    with open(os.path.join(folder, "assets.extra", "classes.txt")) as f:
        assert f.read().split() == list(clusters.CLASSES)
    with open(layout.litert_json) as f:
        lite = json.load(f)["mimic"]
    assert lite["keras"]["test_accuracy"] == pytest.approx(rows["mimic"]["test_accuracy"])
    assert lite["variants"]["float32"]["test_accuracy"] == pytest.approx(rows["mimic"]["test_accuracy"])
    assert set(lite["variants"]) == {"float32", "int8"} and os.path.exists(lite["variants"]["int8"]["path"])

    assert fit.main(["report", "--workdir", workdir]) == 0  # the figures redrawn from report.json
    assert "test set of 40 vectors" in capsys.readouterr().out

    # The stamps work for it too: a rerun does nothing; a changed mimic (or data field) is stale from there on.
    assert fit.main(argv) == 0
    assert all(line == f"[{s}] up to date" for s, line in _stage_lines(capsys.readouterr().out).items())
    changed = config_lib.apply_overrides(cfg, ["mimic.hidden=8"])
    fresh = [s for s in STAGES if stages.check(s, changed, layout).up_to_date]
    assert fresh == ["prepare", "teacher", "label"]
    assert stages.check("mimic", changed, layout).reason == "mimic.hidden 16 → 8"
    assert not stages.check("prepare", config_lib.apply_overrides(cfg, ["data.val_fraction=0.25"]), layout).up_to_date


def test_a_task_method_a_dataset_lacks_is_named_in_the_error():
    from mimic_keras.config import get_preset
    from mimic_keras.tasks import Task

    class Partial(Task):  # a dataset that has not written its exporter yet
        pass

    with pytest.raises(NotImplementedError, match=r"dataset 'cifar10': its task \(Partial\) does not implement "
                                                  r"Task\.export"):
        Partial(get_preset("cifar10-quick")).export(None, None, "name")
