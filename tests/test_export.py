import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.config import MimicConfig
from mimic_keras.data import records
from mimic_keras.export import export_classifier, export_image_classifier
from mimic_keras.export_versions import next_version, read_metadata
from mimic_keras.models.mimics import build_mimic
from tests.helpers import toy_images


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("saved_models"))
    model = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16))
    return model, export_image_classifier(model, base, "mimic"), base


def test_layout_and_versions(exported):
    model, path, base = exported
    assert path == os.path.join(base, "mimic", "1")
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    assert next_version(os.path.join(base, "mimic")) == 2
    with pytest.raises(FileExistsError):
        export_image_classifier(model, base, "mimic", version=1)
    assert not [d for d in os.listdir(os.path.join(base, "mimic")) if d.startswith(".")]  # no temp left


def test_saved_model_signatures_match_keras(exported):
    model, path, _ = exported
    x, _ = toy_images(5)
    expected = model.predict(x, verbose=0)
    loaded = tf.saved_model.load(path)
    out = loaded.signatures["serving_default"](images=tf.constant(x))
    np.testing.assert_allclose(out["logits"].numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(out["probabilities"].numpy(), tf.nn.softmax(expected).numpy(), atol=1e-6)
    np.testing.assert_array_equal(out["classes"].numpy(), expected.argmax(-1))

    examples = [records.image_example(tf.io.encode_png(img).numpy(), 3, f"id{i}") for i, img in enumerate(x)]
    out_ex = loaded.signatures["serving_examples"](examples=tf.constant(examples))
    np.testing.assert_allclose(out_ex["logits"].numpy(), expected, atol=1e-5)


def test_tfsm_layer_reload(exported):
    model, path, _ = exported
    x, _ = toy_images(3)
    layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
    np.testing.assert_allclose(layer(x)["logits"].numpy(), model.predict(x, verbose=0), atol=1e-5)


def test_saved_model_cli_shows_both_signatures(exported):
    _, path, _ = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    out = subprocess.run([cli, "show", "--all", "--dir", path], capture_output=True, text=True, check=True).stdout
    assert "signature_def['serving_default']" in out and "signature_def['serving_examples']" in out
    assert "inputs['images']" in out and "DT_UINT8" in out
    assert "inputs['examples']" in out and "DT_STRING" in out
    assert "outputs['probabilities']" in out and "(-1, 10)" in out


def test_export_ships_the_student_only(tmp_path):
    from mimic_keras.distiller import Distiller
    from mimic_keras.models.convnet import build_teacher
    from mimic_keras.config import TeacherConfig

    teacher = build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(4096,)))  # big and recognisable
    student = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16))
    distiller = Distiller(student, teacher=teacher)
    path = export_image_classifier(distiller.student, str(tmp_path), "mimic")
    loaded = tf.saved_model.load(path)
    n_params = sum(int(np.prod(v.shape)) for v in loaded.variables)
    assert n_params == student.count_params()


def test_an_unchanged_model_is_not_exported_again(tmp_path):
    model = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16))
    first = export_image_classifier(model, str(tmp_path), "cats", class_names=[f"c{i}" for i in range(10)])
    assert export_image_classifier(model, str(tmp_path), "cats", class_names=[f"c{i}" for i in range(10)]) == first
    assert sorted(os.listdir(tmp_path / "cats")) == ["1"]
    meta = read_metadata(first)
    assert meta["task"] == "image" and meta["class_names"][3] == "c3" and meta["input_shape"] == [32, 32, 3]
    model.layers[-1].bias.assign(np.ones(10, np.float32))  # another model: a new version
    second = export_image_classifier(model, str(tmp_path), "cats", class_names=[f"c{i}" for i in range(10)])
    assert second == os.path.join(str(tmp_path), "cats", "2")
    assert read_metadata(second)["fingerprint"] != meta["fingerprint"]


def test_a_feature_vector_classifier_is_served_on_its_own_input(tmp_path):
    model = build_mimic(MimicConfig(conv_filters=0, bottleneck=0, hidden=8), num_classes=3, input_shape=(5,))
    path = export_classifier(model, str(tmp_path), "mlp", class_names=["a", "b", "c"], input_name="features")
    x = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    out = tf.saved_model.load(path).signatures["serving_default"](features=tf.constant(x))
    np.testing.assert_allclose(out["logits"].numpy(), model(x), atol=1e-5)
    np.testing.assert_array_equal(out["classes"].numpy(), np.argmax(model(x), -1))
    meta = read_metadata(path)
    assert (meta["task"], meta["input_shape"], meta["input_name"]) == ("classifier", [5], "features")
    with open(os.path.join(path, "assets.extra", "classes.txt")) as f:
        assert f.read().split() == ["a", "b", "c"]
    assert export_classifier(model, str(tmp_path), "mlp", class_names=["a", "b", "c"], input_name="features") == path
