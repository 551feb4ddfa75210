import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import config as config_lib
from mimic_keras import grow as grow_lib
from mimic_keras import stages
from mimic_keras.atomic import write_json_atomic
from mimic_keras.config import TeacherConfig
from mimic_keras.data import cifar10, writer
from mimic_keras.layout import Layout
from mimic_keras.models.convnet import build_teacher
from mimic_keras.tasks import get_task
from mimic_keras.teachers_io import TeacherSet, model_fingerprint
from pipelines import label_with_teacher
from tests.helpers import write_image_dir

N_TRAIN, PER_ROUND, POOL, EPSILON = 48, 8, 32, 6.0
TINY = [
    "data.views=0", "teacher.num_teachers=1", "teacher.conv_filters=(8,)", "teacher.dense_units=(16,)",
    "mimic.conv_filters=4", "mimic.bottleneck=8", "mimic.hidden=32", "mimic_train.epochs=1",
    "mimic_train.batch_size=16", "teacher_train.batch_size=16", "teacher_train.augment=false",
]
GROW = dict(per_round=PER_ROUND, pool=POOL, steps=5, step_size=2.0, epsilon=EPSILON, batch_size=8, seed=3)


def _config(*overrides):
    return config_lib.apply_overrides(config_lib.get_preset("cifar10-quick"), [*TINY, *overrides])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished tiny run built by hand (seconds): data, teacher_0, transfer set, an untrained mimic and
    control, config.json, and stamps recording that each stage's outputs match the config."""
    cfg = _config()
    layout = Layout(str(tmp_path_factory.mktemp("grow") / "run"))
    write_image_dir(layout.data, {"train": N_TRAIN, "validation": 8, "test": 16})
    task = get_task(cfg)
    keras.utils.set_random_seed(0)
    os.makedirs(layout.teacher_dir(0))
    build_teacher(cfg.teacher, name="teacher_0").save(layout.model("teacher_0"))
    label_with_teacher.label(layout.data, task.teacher_paths(layout), layout.transfer)
    for role in ("mimic", "control"):
        os.makedirs(layout.run_dir(role))
        task.build_student(role).save(layout.model(role))
    write_json_atomic(layout.config, config_lib.to_dict(cfg))
    for stage in ("prepare", "teacher", "label", "mimic", "control"):
        stages.record(stage, cfg, layout)
    return layout


@pytest.fixture(scope="module")
def grown(run, tmp_path_factory):
    """(out folder, summary) of growing the tiny run once, with a one-epoch teacher fine-tune."""
    out = str(tmp_path_factory.mktemp("grown") / "round_1")
    return out, grow_lib.grow(run.workdir, out, finetune_teacher=1, **GROW)


def _linked(run, tmp_path, *overrides):
    """(cfg, layout) of a copy of the tiny run (data, teacher and transfer linked) with overrides."""
    for part in ("data", "teacher", "transfer"):
        os.symlink(run.path(part), tmp_path / part)
    for part in ("mimic", "control", "stamps"):
        shutil.copytree(run.path(part), tmp_path / part)
    shutil.copy(run.config, tmp_path / "config.json")
    return _config(*overrides), Layout(str(tmp_path))


def test_disagreement_increases_after_ascent(grown):
    _, summary = grown
    d = summary["disagreement"]
    assert d["after"] > d["before"] >= d["scored_mean"] > 0  # the picked are the most disagreed-on
    assert d["increased"] > 0.5


def test_grown_images_stay_in_range_within_epsilon_of_their_sources(run, grown):
    out, _ = grown
    source = {(ex["id"], int(ex["view"])): ex["image"] for ex in
              cifar10.load_split(run.transfer, "train", num_classes=10).as_numpy_iterator()}
    images = list(cifar10.load_split(out, "train", num_classes=10).as_numpy_iterator())
    assert len(images) == PER_ROUND
    changes = [np.abs(ex["image"].astype(int) - source[(ex["id"], int(ex["view"]))].astype(int)).max()
               for ex in images]
    assert max(changes) <= EPSILON and min(changes) > 0


def test_ascent_keeps_the_range_and_the_ball_and_quantises():
    teacher = build_teacher(TeacherConfig(conv_filters=(4,), dense_units=(8,)))
    keras.utils.set_random_seed(1)
    mimic = build_teacher(TeacherConfig(conv_filters=(4,), dense_units=(8,)))
    sources = np.random.default_rng(0).choice([0.0, 1.0, 128.0, 254.0, 255.0], (4, 32, 32, 3)).astype(np.float32)
    for step, epsilon, reach in ((None, 2.5, 2.5), (1.0, 2.5, 2.0)):
        x = grow_lib.ascend([teacher], mimic, sources, 4, 1.5, epsilon, (0.0, 255.0), step, batch_size=3)
        assert x.shape == sources.shape and x.min() >= 0 and x.max() <= 255
        assert np.abs(x - sources).max() <= reach + 1e-4 and np.abs(x - sources).max() > 0
        if step:
            np.testing.assert_array_equal(x, np.round(x))


def test_records_are_a_transfer_set_labelled_by_the_teacher(run, grown):
    out, _ = grown
    manifest = writer.read_manifest(out)
    transfer = writer.read_manifest(run.transfer)
    assert manifest["splits"]["train"]["count"] == PER_ROUND and manifest["teacher"] == transfer["teacher"]
    assert manifest["num_classes"] == 10 and manifest["image_shape"] == [32, 32, 3]
    records = {k: np.stack([ex[k] for ex in cifar10.load_split(out, "train", num_classes=10).as_numpy_iterator()])
               for k in ("image", "logits", "label", "id")}
    assert records["image"].shape == (PER_ROUND, 32, 32, 3) and records["image"].dtype == np.uint8
    teacher = TeacherSet([run.model("teacher_0")])
    np.testing.assert_allclose(records["logits"], teacher(records["image"]), atol=1e-4)
    labels = {ex["id"]: ex["label"] for ex in cifar10.load_split(run.data, "train").as_numpy_iterator()}
    assert [labels[i] for i in records["id"]] == list(records["label"])  # the source's class


def test_summary_json(run, grown):
    out, summary = grown
    with open(os.path.join(out, "grow.json")) as f:
        assert json.load(f) == summary
    assert (summary["grown"], summary["scored"], summary["transfer_examples"]) == (PER_ROUND, POOL, N_TRAIN)
    assert summary["source_run"] == os.path.abspath(run.workdir) and summary["seed"] == 3
    assert summary["mimic_up_to_date"] is True
    assert summary["options"]["epsilon"] == EPSILON and summary["options"]["steps"] == 5
    assert 0 < summary["max_abs_change"] <= EPSILON


def test_teacher_fine_tunes_with_and_without_the_grown_inputs(run, grown):
    out, summary = grown
    finetune = summary["finetune"]
    assert finetune["epochs"] == 1 and finetune["examples"] == PER_ROUND
    for name in ("original", "control", "grown"):
        assert 0.0 <= finetune[name]["test_accuracy"] <= 1.0
    for name in ("control", "grown"):
        assert os.path.isfile(os.path.join(out, f"teacher_0_{name}", "model.keras"))
    assert stages.check("teacher", _config(), run).up_to_date  # the run's teacher untouched


def test_a_rerun_with_the_same_options_does_nothing(run, grown, capsys):
    out, summary = grown
    assert grow_lib.grow(run.workdir, out, finetune_teacher=1, **GROW) == summary
    assert "nothing to do" in capsys.readouterr().out


def test_refuses_a_timit_run_in_one_line(tmp_path, capsys):
    write_json_atomic(str(tmp_path / "config.json"), config_lib.to_dict(config_lib.get_preset("timit-quick")))
    assert grow_lib.main(["--workdir", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "cannot grow the transfer set of a timit run" in err
    assert "utterances" in err and len(err.strip().splitlines()) == 1


def test_refuses_a_run_without_a_mimic_and_bad_options(run, tmp_path, capsys):
    _, layout = _linked(run, tmp_path)
    shutil.rmtree(layout.run_dir("mimic"))
    assert grow_lib.main(["--workdir", layout.workdir, "--out", str(tmp_path / "out")]) == 2
    assert "has no mimic" in capsys.readouterr().err
    assert grow_lib.main(["--workdir", run.workdir, "--out", str(tmp_path / "out"), "--pool", "4"]) == 2
    assert "--pool=4: must be at least --per-round=256" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")


def test_extra_transfer_makes_the_mimic_stale_and_nothing_before_it(run, grown, tmp_path):
    out, _ = grown
    assert stages.check("mimic", _config(), run).up_to_date  # the field at its default: old runs stay done
    cfg = _config(f"data.extra_transfer={out}")
    for stage in ("prepare", "teacher", "label", "control"):
        assert stages.check(stage, cfg, run).up_to_date, stage
    assert stages.check("mimic", cfg, run).reason == f"data.extra_transfer null → {out}"
    assert stages.reads("control", cfg).get("data.extra_transfer") is None


def test_mimic_trains_on_the_grown_set_and_a_changed_one_makes_it_stale(run, grown, tmp_path):
    out, _ = grown
    extra = str(tmp_path / "extra")
    shutil.copytree(out, extra)
    (tmp_path / "run").mkdir()
    cfg, layout = _linked(run, tmp_path / "run", f"data.extra_transfer={extra}")
    task = get_task(cfg)
    train, _, count = task.transfer_datasets(layout, cfg.mimic_train)
    assert count == N_TRAIN + PER_ROUND == task.transfer_examples(layout)
    assert sum(int(tf.shape(x)[0]) for x, _ in train) == count
    stages.run("mimic", cfg, layout, tf.distribute.get_strategy(), {"label": stages.check("label", cfg, layout).fingerprint})
    with open(os.path.join(layout.run_dir("mimic"), "history.json")) as f:
        assert len(json.load(f)["epoch"]) == 1
    assert stages.check("mimic", cfg, layout).up_to_date
    manifest = writer.read_manifest(extra)
    writer.write_manifest(extra, {**manifest, "fingerprint": "another growing"})
    reason = stages.check("mimic", cfg, layout).reason
    assert "manifest.json changed since it was made" in reason
    assert not stages.check("evaluate", cfg, layout).up_to_date


def test_extra_transfer_from_other_teachers_is_refused(run, grown, tmp_path):
    out, _ = grown
    extra = str(tmp_path / "extra")
    shutil.copytree(out, extra)
    manifest = writer.read_manifest(extra)
    manifest["teacher"]["sha256"] = ["0" * 64]
    writer.write_manifest(extra, manifest)
    task = get_task(_config(f"data.extra_transfer={extra}"))
    with pytest.raises(ValueError, match="labelled by other teachers"):
        task.transfer_examples(run)
    assert model_fingerprint(run.model("teacher_0")) in writer.read_manifest(run.transfer)["teacher"]["sha256"]


def test_ascent_refuses_a_model_without_a_gradient_to_its_input():
    from mimic_keras.models.adapters import CastTo

    inputs = keras.Input((8, 8, 1), dtype="uint8")
    flat = lambda cast: keras.layers.Dense(3)(keras.layers.Flatten()(CastTo(cast)(inputs)))  # noqa: E731
    mimic, teacher = keras.Model(inputs, flat("float32")), keras.Model(inputs, flat("uint8"), name="rounding")
    sources = np.zeros((2, 8, 8, 1), np.float32)
    with pytest.raises(ValueError, match="rounding gives no gradient with respect to its input"):
        grow_lib.ascend([teacher], mimic, sources, 1, 1.0, 2.0, (0.0, 255.0), 1.0)


def test_the_extra_examples_are_spread_through_the_epoch_each_once():
    from mimic_keras.tasks.cifar10 import _spread

    base, extra = tf.data.Dataset.range(90), tf.data.Dataset.range(100, 110)
    order = list(_spread(base, extra, 10, 100, seed=0).as_numpy_iterator())
    assert sorted(order) == [*range(90), *range(100, 110)]
    assert any(x >= 100 for x in order[:50]) and order == list(_spread(base, extra, 10, 100, seed=0).as_numpy_iterator())


def test_extra_transfer_is_a_field_of_image_runs_only():
    images = config_lib.apply_overrides(config_lib.get_preset("images"), ["data.extra_transfer=grown"])
    assert images.data.extra_transfer == "grown" and get_task(images).input_range == (0.0, 255.0)
    with pytest.raises(config_lib.ConfigError, match="extra_transfer"):
        config_lib.apply_overrides(config_lib.get_preset("timit-quick"), ["data.extra_transfer=grown"])


def test_cli_grows_a_run(run, tmp_path, capsys):
    out = str(tmp_path / "round")
    args = ["--workdir", run.workdir, "--out", out, "--per-round", "2", "--pool", "4", "--steps", "1"]
    assert grow_lib.main(args) == 0
    assert "disagreement of the 2 picked" in capsys.readouterr().out
    assert writer.read_manifest(out)["splits"]["train"]["count"] == 2
    assert "grow.json" in os.listdir(out)
