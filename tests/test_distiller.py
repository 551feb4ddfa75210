import keras
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.config import MimicConfig, TeacherConfig
from mimic_keras.distiller import Distiller
from mimic_keras.distribute import get_strategy
from mimic_keras.models.ensemble import build_ensemble
from mimic_keras.models.mimics import build_mimic
from mimic_keras.models.convnet import build_teacher
from tests.helpers import run_serialization_test, toy_images

SMALL_MIMIC = MimicConfig(conv_filters=4, conv_kernel=3, bottleneck=8, hidden=32)
SMALL_TEACHER = TeacherConfig(conv_filters=(8,), dense_units=(16,))


def _student(seed=1):
    keras.utils.set_random_seed(seed)
    return build_mimic(SMALL_MIMIC)


def _teacher(seed=2, name="teacher"):
    keras.utils.set_random_seed(seed)
    return build_teacher(SMALL_TEACHER, name=name)


@pytest.mark.parametrize("loss", ["l2_logits", "kd", "l2_probs"])
def test_cached_and_online_give_the_same_loss(loss):
    x, y = toy_images(16)
    teacher = _teacher()
    z = teacher.predict(x, verbose=0)
    student = _student()
    cached = Distiller(student, loss=loss, temperature=2.0, alpha=0.7)
    online = Distiller(student, teacher=teacher, loss=loss, temperature=2.0, alpha=0.7)
    for d in (cached, online):
        d.compile(optimizer="sgd")
    res_cached = cached.evaluate(x, {"logits": z, "label": y}, batch_size=16, verbose=0, return_dict=True)
    res_online = online.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    assert res_cached["loss"] == pytest.approx(res_online["loss"], rel=1e-5)
    assert res_cached["agreement"] == pytest.approx(res_online["agreement"])


def test_loss_matches_hand_computation_with_unlabelled_examples():
    x, y = toy_images(8)
    y[:3] = -1  # unlabelled: no label loss, no accuracy
    z = np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32)
    student = _student()
    s = student.predict(x, verbose=0)
    d = Distiller(student, alpha=0.5)
    d.compile(optimizer="sgd")
    res = d.evaluate(x, {"logits": z, "label": y}, batch_size=8, verbose=0, return_dict=True)
    l2 = 0.5 * np.mean(np.sum((s - z) ** 2, axis=1))
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ce_each = -np.log(p[np.arange(8), np.maximum(y, 0)]) * (y >= 0)
    expected = 0.5 * l2 + 0.5 * ce_each.sum() / 8  # Keras averages over the batch
    assert res["loss"] == pytest.approx(expected, rel=1e-4)
    assert res["accuracy"] == pytest.approx(np.mean(s.argmax(1)[3:] == y[3:]))
    assert res["agreement"] == pytest.approx(np.mean(s.argmax(1) == z.argmax(1)))


@pytest.mark.parametrize("loss, alpha", [("ce", 1.0), ("l2_logits", 0.0)])
def test_label_smoothing_applies_to_the_label_loss(loss, alpha):
    x, y = toy_images(8)
    y[:3] = -1  # unlabelled: still no label loss
    z = np.random.default_rng(0).normal(size=(8, 10)).astype(np.float32)
    student = _student()
    s = student.predict(x, verbose=0)
    d = Distiller(student, loss=loss, alpha=alpha, label_smoothing=0.2)
    d.compile(optimizer="sgd")
    res = d.evaluate(x, {"logits": z, "label": y}, batch_size=8, verbose=0, return_dict=True)
    log_p = s - s.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    target = np.full((8, 10), 0.2 / 10)
    target[np.arange(8), np.maximum(y, 0)] += 0.8
    ce_each = -(target * log_p).sum(1) * (y >= 0)
    assert res["loss"] == pytest.approx(ce_each.sum() / 8, rel=1e-4)


def test_compile_metrics_count_labelled_examples_only(tmp_path):
    x, _ = toy_images(16)
    z = np.random.default_rng(0).normal(size=(16, 10)).astype(np.float32)
    student = _student()
    predicted = student.predict(x, verbose=0).argmax(1)
    # Labelled examples carry the student's own prediction (accuracy 1); unlabelled ones would
    # count as class 0, which the student does not predict for them: unmasked, accuracy < 1.
    y = np.where(predicted != 0, -1, predicted)
    y[0] = predicted[0]
    assert (y == -1).any() and (y >= 0).any()
    d = Distiller(student, alpha=0.5)
    d.compile(optimizer="sgd", metrics=[keras.metrics.SparseCategoricalAccuracy(name="label_accuracy")])
    res = d.evaluate(x, {"logits": z, "label": y}, batch_size=16, verbose=0, return_dict=True)
    assert res["label_accuracy"] == pytest.approx(1.0) and res["accuracy"] == pytest.approx(1.0)
    history = d.fit(x, {"logits": z, "label": y}, batch_size=16, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0]) and history["label_accuracy"][0] == pytest.approx(1.0)
    d.save(str(tmp_path / "distiller.keras"))  # compiled: the custom compile must come back
    restored = keras.saving.load_model(str(tmp_path / "distiller.keras"))
    again = restored.evaluate(x, {"logits": z, "label": y}, batch_size=16, verbose=0, return_dict=True)
    assert again == pytest.approx(d.evaluate(x, {"logits": z, "label": y}, batch_size=16, verbose=0, return_dict=True))


def test_training_reduces_the_l2_loss():
    x, _ = toy_images(128)
    z = _teacher().predict(x, verbose=0)
    d = Distiller(_student())
    d.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = d.fit(x, z, batch_size=32, epochs=5, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_teacher_is_frozen_and_not_exported():
    teacher = _teacher()
    before = [w.numpy().copy() for w in teacher.weights]
    x, y = toy_images(32)
    d = Distiller(_student(), teacher=teacher)
    d.compile(optimizer=keras.optimizers.Adam(1e-2))
    d.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for b, w in zip(before, teacher.weights):
        np.testing.assert_array_equal(b, w.numpy())
    assert all(any(w is v for v in d.student.weights) for w in d.trainable_weights)


def test_refuses_a_teacher_with_another_output_shape():
    with pytest.raises(ValueError, match="teacher outputs"):
        Distiller(_student(), teacher=build_teacher(SMALL_TEACHER, num_classes=5))
    with pytest.raises(ValueError, match="alpha"):
        Distiller(_student(), alpha=1.5)


def test_cached_mode_without_logits_is_an_error():
    x, y = toy_images(4)
    d = Distiller(_student())
    d.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="no teacher logits"):
        d.evaluate(x, {"label": y}, verbose=0)


def test_distiller_round_trip(tmp_path):
    x, _ = toy_images(4)
    teacher = build_ensemble([_teacher(2, "t0"), _teacher(3, "t1")])
    d = Distiller(_student(), teacher=teacher, loss="kd", alpha=0.3, temperature=4.0, label_smoothing=0.1)
    restored = run_serialization_test(d, x, tmp_path)
    assert (restored.loss_name, restored.alpha, restored.temperature, restored.label_smoothing) == ("kd", 0.3, 4.0, 0.1)
    np.testing.assert_allclose(restored.teacher.predict(x, verbose=0), teacher.predict(x, verbose=0), atol=1e-6)


@pytest.mark.parametrize("online", [False, True])
def test_mirrored_step_equals_single_device(online):
    """Two replicas on two logical CPUs, global batch 16 = one device with batch 16."""
    x, y = toy_images(16)
    teacher = _teacher()
    z = teacher.predict(x, verbose=0)
    targets = y if online else {"logits": z, "label": y}

    def one_step(strategy):
        with strategy.scope():
            d = Distiller(_student(), teacher=teacher if online else None, alpha=0.8)
            d.compile(optimizer=keras.optimizers.SGD(0.05))
        ds = tf.data.Dataset.from_tensor_slices((x, targets)).batch(16)
        d.fit(ds, epochs=1, verbose=0)
        return [w.numpy() for w in d.student.weights]

    single = one_step(tf.distribute.OneDeviceStrategy("/cpu:0"))
    mirrored_strategy = get_strategy("mirrored:/cpu:0,/cpu:1")
    assert mirrored_strategy.num_replicas_in_sync == 2
    mirrored = one_step(mirrored_strategy)
    initial = [w.numpy() for w in _student().weights]
    assert any(not np.allclose(a, b) for a, b in zip(single, initial))  # the step moved the weights
    for a, b in zip(single, mirrored):
        np.testing.assert_allclose(a, b, atol=1e-5)
