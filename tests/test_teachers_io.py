import keras
import numpy as np
import pytest

from mimic_keras import teachers_io, timit_layout
from mimic_keras.config import TeacherConfig
from mimic_keras.export import export_frame_classifier, export_image_classifier
from mimic_keras.models.speech_teachers import build_speech_teacher
from mimic_keras.teachers_io import TeacherSet, load_teacher, serving_input_spec


def _image_model(shape, num_classes=5):
    inputs = keras.Input(shape, dtype="uint8", name="images")
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(x))


def _frame_model():
    inputs = keras.Input((timit_layout.INPUT_DIM,), name="features")
    return keras.Model(inputs, keras.layers.Dense(timit_layout.NUM_STATES, name="logits")(inputs))


def test_saved_model_teacher_takes_the_input_of_its_signature(tmp_path):
    # 28×28×1 uint8 images, not CIFAR's 32×32×3: the shape comes from serving_default.
    model = _image_model((28, 28, 1))
    path = export_image_classifier(model, str(tmp_path), "mnist-like")
    spec = serving_input_spec(path)
    assert (tuple(spec.shape), spec.dtype.name, spec.name) == ((None, 28, 28, 1), "uint8", "images")
    teacher = load_teacher(path)
    assert tuple(teacher.input.shape) == (None, 28, 28, 1) and teacher.input.dtype == "uint8"
    x = np.random.default_rng(0).integers(0, 256, (4, 28, 28, 1)).astype(np.uint8)
    np.testing.assert_allclose(np.asarray(teacher(x)), np.asarray(model(x)), atol=1e-5)


def test_saved_model_frame_teacher(tmp_path):
    model = _frame_model()
    path = export_frame_classifier(model, str(tmp_path), "timit-teacher")
    teacher = load_teacher(path)
    assert tuple(teacher.input.shape) == (None, 1845) and teacher.input.dtype == "float32"
    x = np.random.default_rng(1).normal(size=(3, 1845)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(teacher(x)), np.asarray(model(x)), atol=1e-5)
    teachers = TeacherSet([path, path])
    assert teachers.num_classes == 183
    np.testing.assert_allclose(teachers(x), np.asarray(model(x)), atol=1e-5)


def test_model_export_with_a_bare_tensor_output(tmp_path):
    # `model.export` names the input after the Keras input and returns the logits alone.
    model = _image_model((8, 8, 2), num_classes=3)
    path = str(tmp_path / "exported")
    model.export(path, verbose=False)
    teacher = load_teacher(path)
    assert tuple(teacher.input.shape) == (None, 8, 8, 2) and tuple(teacher.output.shape) == (None, 3)
    x = np.random.default_rng(2).integers(0, 256, (2, 8, 8, 2)).astype(np.uint8)
    np.testing.assert_allclose(np.asarray(teacher(x)), np.asarray(model(x)), atol=1e-5)


def test_keras_teacher_keeps_its_own_input(tmp_path):
    cnn = build_speech_teacher(TeacherConfig(kind="cnn", conv_filters=(4,), kernel_size=5, freq_pool=2,
                                             dense_units=(8,)), context=2)
    path = str(tmp_path / "cnn.keras")
    cnn.save(path)
    teacher = load_teacher(path)
    assert tuple(teacher.input.shape) == (None, timit_layout.input_dim(2))
    x = np.random.default_rng(3).normal(size=(2, timit_layout.input_dim(2))).astype(np.float32)
    np.testing.assert_allclose(np.asarray(teacher(x)), np.asarray(cnn(x)), atol=1e-6)


def test_bad_paths_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_teacher(str(tmp_path / "missing.keras"))
    with pytest.raises(ValueError, match="not a SavedModel"):
        load_teacher(str(tmp_path))


def test_ensemble_model_gives_the_teacher_sets_mean_logits(tmp_path):
    # Two models of the same name (the CNNs of two seeds): a functional Average graph refuses them.
    paths = []
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        paths.append(str(tmp_path / f"t{seed}.keras"))
        _frame_model().save(paths[-1])
    teachers = TeacherSet(paths)
    ensemble = teachers.model()
    x = np.random.default_rng(4).normal(size=(3, timit_layout.INPUT_DIM)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(ensemble.predict(x, verbose=0)), teachers(x), atol=1e-5)
    assert not np.allclose(teachers.models[0](x), teachers(x))  # the members differ: a mean, not a copy
    assert ensemble.count_params() == sum(m.count_params() for m in teachers.models)
    again = teachers_io.Ensemble.from_config(ensemble.get_config())
    again.set_weights(ensemble.get_weights())
    np.testing.assert_allclose(np.asarray(again(x)), teachers(x), atol=1e-5)
    assert TeacherSet(paths[:1]).model() is not None and not isinstance(TeacherSet(paths[:1]).model(), teachers_io.Ensemble)
    with pytest.raises(ValueError, match="at least one"):
        teachers_io.Ensemble([])
