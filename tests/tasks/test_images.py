"""The images task: a user's image tree and trained teacher through `fit all`, bad input, export, README."""

import os
import re
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import fit, stages
from mimic_keras import config as config_lib
from mimic_keras.data.manifest import Manifest
from mimic_keras.layout import Layout
from mimic_keras.models.adapters import CastTo, ProbabilitiesToLogits
from mimic_keras.tasks import get_task
from mimic_keras.teachers_io import load_teacher
from pipelines import images_to_tfrecord
from tests import images_fixtures
from tests.helpers import run_serialization_test

SMALL = ["mimic.conv_filters=4", "mimic.bottleneck=8", "mimic.hidden=32", "mimic_train.epochs=2",
         "control_train.epochs=2", "mimic_train.batch_size=16", "control_train.batch_size=16"]


@pytest.fixture(scope="module")
def grey(tmp_path_factory):
    """(tree, teacher.keras): 8x8 grey images of 3 classes without test/, and a softmax Keras teacher."""
    folder = tmp_path_factory.mktemp("grey")
    tree = images_fixtures.grey_tree(str(folder / "tree"))
    return tree, images_fixtures.grey_teacher(str(folder / "teacher.keras"), tree)


def _fit(workdir, *overrides, stage="all"):
    return fit.main([stage, "--preset", "images", "--workdir", str(workdir), *overrides])


def test_conversion_records_classes_shape_and_carved_test_split(grey, tmp_path):
    tree, _ = grey
    manifest = images_to_tfrecord.run(images_to_tfrecord.Options(out=str(tmp_path / "d"), source=tree), verbose=False)
    assert manifest.get("classes") == list(images_fixtures.GREY_CLASSES)
    assert manifest.get("image_shape") == [8, 8, 1]
    assert manifest.get("test_split").startswith("carved from train: 0.2 per class")
    counts = {s: v.count for s, v in manifest.splits.items()}
    assert counts == {"train": 43, "validation": 5, "test": 12}
    assert manifest.splits["test"].extra["class_counts"] == {c: 4 for c in images_fixtures.GREY_CLASSES}
    again = images_to_tfrecord.run(images_to_tfrecord.Options(out=str(tmp_path / "e"), source=tree), verbose=False)
    assert again.splits["test"].shards[0].sha256 == manifest.splits["test"].shards[0].sha256  # deterministic


def test_conversion_of_an_rgb_tar_resizes_to_the_most_common_size(tmp_path):
    tree = images_fixtures.rgb_tree(str(tmp_path / "rgb"))
    shutil.make_archive(str(tmp_path / "rgb"), "gztar", tree)
    manifest = images_to_tfrecord.run(images_to_tfrecord.Options(
        out=str(tmp_path / "d"), source=str(tmp_path / "rgb.tar.gz"), val_fraction=0.0), verbose=False)
    assert manifest.get("image_shape") == [36, 36, 3]  # 1 in 5 train images is 72x72
    assert manifest.get("test_split") == "given (test/)"
    assert {s: v.count for s, v in manifest.splits.items()} == {"train": 48, "test": 16}
    grey = images_to_tfrecord.run(images_to_tfrecord.Options(
        out=str(tmp_path / "g"), source=tree, image_size=16, channels=1, val_fraction=0.0,
        unlabelled=os.path.join(tree, "test")), verbose=False)
    assert grey.get("image_shape") == [16, 16, 1]
    assert grey.splits["unlabelled"].count == 16  # joins the transfer set (label -1)


def test_fit_all_distils_a_users_keras_teacher_and_serves_the_export(grey, tmp_path, capsys):
    tree, teacher = grey
    workdir, exports = tmp_path / "run", tmp_path / "exports"
    assert _fit(workdir, f"data.source={tree}", f"teacher.path={teacher}", "num_classes=3",
                f"export_dir={exports}", *SMALL) == 0
    assert "outputs probabilities" in capsys.readouterr().out
    layout = Layout(str(workdir))
    # The wrapped teacher gives the logits of the user's softmax: log(p), up to a constant per row.
    user, wrapped = keras.saving.load_model(teacher), keras.saving.load_model(layout.teacher_models(1)[0])
    images = np.random.default_rng(0).integers(0, 255, (4, 8, 8, 1)).astype(np.uint8)
    np.testing.assert_allclose(tf.nn.softmax(wrapped(images)), user(images.astype("float32")), atol=1e-5)

    folder = os.path.join(exports, "run", "1")
    served = tf.saved_model.load(folder).signatures["serving_default"]
    out = served(images=tf.constant(images))
    mimic = keras.saving.load_model(layout.model("mimic"))
    np.testing.assert_allclose(out["logits"], mimic(images), atol=1e-5)
    assert out["probabilities"].shape == (4, 3) and out["classes"].dtype == tf.int64
    with open(os.path.join(folder, "assets.extra", "classes.txt")) as f:
        assert f.read().split() == list(images_fixtures.GREY_CLASSES)

    # A changed teacher file makes the teacher stage, and the labels, stale.
    assert stages.check("label", config_lib.get_preset(layout.config), layout).up_to_date
    keras.saving.load_model(teacher).save(teacher)
    status = stages.check("teacher", config_lib.get_preset(layout.config), layout)
    assert not status.up_to_date


@pytest.mark.parametrize("case, expected", [
    ("outputs", r"teacher .* has 3 outputs but the run has num_classes=4"),
    ("not_images", r"teacher .* takes inputs of shape \(10,\), not images"),
    ("undecodable", r"train/vertical/bad\.png: cannot decode image"),
    ("empty_class", r"train/extra: empty class folder"),
    ("single_class", r"a single class \(diagonal\)"),
    ("class_count", r"3 classes \(diagonal, horizontal, vertical\) but num_classes=4; set num_classes=3"),
])
def test_bad_input_gets_one_line_and_leaves_nothing(grey, tmp_path, capsys, case, expected):
    tree, teacher = grey
    source, classes = str(tmp_path / "tree"), 3
    shutil.copytree(tree, source)
    if case == "outputs":
        classes = 4
        for name in ("a", "b", "c", "d"):  # a fourth class, so the tree matches but the teacher does not
            os.makedirs(os.path.join(source, "train", name), exist_ok=True)
            shutil.copy(os.path.join(tree, "train", "diagonal", "000.png"), os.path.join(source, "train", name))
    elif case == "not_images":
        teacher = str(tmp_path / "dense.keras")
        keras.Sequential([keras.Input((10,)), keras.layers.Dense(3)]).save(teacher)
    elif case == "undecodable":
        with open(os.path.join(source, "train", "vertical", "bad.png"), "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\nnot really")
    elif case == "empty_class":
        os.makedirs(os.path.join(source, "train", "extra"))
    elif case == "single_class":
        for name in ("horizontal", "vertical"):
            shutil.rmtree(os.path.join(source, "train", name))
    elif case == "class_count":
        classes, teacher = 4, None
    workdir = tmp_path / "run"
    given = [f"teacher.path={teacher}"] if teacher else []
    assert _fit(workdir, f"data.source={source}", f"num_classes={classes}", *given, *SMALL) != 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and re.search(expected, lines[0]), err
    layout = Layout(str(workdir))
    assert not os.path.exists(layout.data) and not os.path.exists(layout.path("teacher"))
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]  # no build folders left


def test_adapters_survive_saving(tmp_path):
    inputs = keras.Input((4, 4, 1), dtype="uint8")
    x = keras.layers.Flatten()(CastTo("float32")(inputs))
    model = keras.Model(inputs, ProbabilitiesToLogits()(keras.layers.Dense(3, activation="softmax")(x)))
    run_serialization_test(model, np.arange(32, dtype=np.uint8).reshape(2, 4, 4, 1), tmp_path)


def test_readme_example_distils_a_users_model_on_a_dataset(grey, tmp_path, monkeypatch):
    tree, teacher = grey
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")) as f:
        readme = f.read()
    code = re.search(r"### Your own model and data.*?```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    shutil.copy(teacher, "my_classifier.keras")
    x_uint8, y = images_fixtures.load_tree(tree, (8, 8, 1))
    scope = {"x_uint8": x_uint8, "y": y}
    exec(code.replace("(28, 28, 1)", "(8, 8, 1)").replace("num_classes=10", "num_classes=3"), scope)
    served = tf.saved_model.load(scope["path"]).signatures["serving_default"]
    assert served(images=tf.constant(x_uint8[:2]))["probabilities"].shape == (2, 3)


@pytest.mark.large
def test_fit_all_on_rgb_with_keras_applications_teachers_as_keras_and_savedmodel(tmp_path):
    tree = images_fixtures.rgb_tree(str(tmp_path / "rgb"))
    keras_path, saved_path = images_fixtures.rgb_teachers(str(tmp_path), tree)
    workdir, exports = tmp_path / "run", tmp_path / "exports"
    assert _fit(workdir, f"data.source={tree}", f"teacher.path={keras_path},{saved_path}", "teacher.num_teachers=2",
                "num_classes=4", "data.views=1", f"export_dir={exports}", *SMALL) == 0
    layout = Layout(str(workdir))
    assert Manifest.read(layout.transfer).get("image_shape") == [36, 36, 3]
    paths = get_task(config_lib.get_preset(layout.config)).teacher_paths(layout)
    assert paths[1].endswith("saved_model")  # a SavedModel teacher stays one (a Keras file cannot hold it safely)
    wrapped = [load_teacher(p) for p in paths]
    images = np.random.default_rng(0).integers(0, 255, (2, 36, 36, 3)).astype(np.uint8)
    np.testing.assert_allclose(wrapped[0](images), wrapped[1](images), atol=1e-3)  # the same net, two formats
    served = tf.saved_model.load(os.path.join(exports, "run", "1")).signatures["serving_default"]
    assert served(images=tf.constant(images))["classes"].shape == (2,)
