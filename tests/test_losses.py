import numpy as np
import pytest

from mimic_keras import losses


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture
def logits():
    rng = np.random.default_rng(0)
    return rng.normal(size=(6, 10)).astype(np.float32) * 3, rng.normal(size=(6, 10)).astype(np.float32) * 3


def test_l2_logits_is_half_mean_squared_norm(logits):
    z, s = logits
    expected = 0.5 * np.mean(np.sum((s - z) ** 2, axis=1))  # the paper's 1/(2T) Σ ||g(x) - z||²
    assert float(losses.L2Logits()(z, s)) == pytest.approx(expected, rel=1e-5)


def test_kd_is_t_squared_kl(logits):
    z, s = logits
    t = 3.0
    p, q = _softmax(z / t), _softmax(s / t)
    expected = t * t * np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))
    assert float(losses.KDKL(t)(z, s)) == pytest.approx(expected, rel=1e-4)
    assert float(losses.KDKL(t)(z, z)) == pytest.approx(0.0, abs=1e-5)


def test_l2_probs_and_soft_ce(logits):
    z, s = logits
    expected = 0.5 * np.mean(np.sum((_softmax(s) - _softmax(z)) ** 2, axis=1))
    assert float(losses.L2Probs(1.0)(z, s)) == pytest.approx(expected, rel=1e-5)
    expected_ce = -np.mean(np.sum(_softmax(z / 2) * np.log(_softmax(s / 2)), axis=1))
    assert float(losses.SoftTargetCE(2.0)(z, s)) == pytest.approx(expected_ce, rel=1e-5)


def test_label_ce(logits):
    _, s = logits
    y = np.arange(6) % 10
    expected = -np.mean(np.log(_softmax(s)[np.arange(6), y]))
    assert float(losses.label_loss()(y, s)) == pytest.approx(expected, rel=1e-5)


def test_registry():
    assert isinstance(losses.get_distillation_loss("l2_logits"), losses.L2Logits)
    assert isinstance(losses.get_distillation_loss("l2_centered"), losses.L2Centered)
    assert losses.get_distillation_loss("kd", 5.0).temperature == 5.0
    assert losses.get_distillation_loss("ce") is None
    with pytest.raises(ValueError, match="unknown loss"):
        losses.get_distillation_loss("l1")


def _centre(x):
    return x - x.mean(-1, keepdims=True)


def test_l2_centered_ignores_a_per_example_shift_of_either_input(logits):
    z, s = logits
    shift = np.random.default_rng(1).normal(size=(6, 1)).astype(np.float32) * 5
    expected = 0.5 * np.mean(np.sum((_centre(s) - _centre(z)) ** 2, axis=1))
    loss = losses.L2Centered()
    assert float(loss(z, s)) == pytest.approx(expected, rel=1e-5)
    assert float(loss(z + shift, s)) == pytest.approx(expected, rel=1e-4)
    assert float(loss(z, s - shift)) == pytest.approx(expected, rel=1e-4)
    assert float(losses.L2Logits()(z + shift, s)) != pytest.approx(float(losses.L2Logits()(z, s)), rel=1e-2)


def test_l2_centered_is_l2_logits_on_centred_vectors(logits):
    z, s = (_centre(x) for x in logits)
    assert float(losses.L2Centered()(z, s)) == pytest.approx(float(losses.L2Logits()(z, s)), rel=1e-5)


def test_l2_centered_gradient_is_the_centred_difference(logits):
    import tensorflow as tf

    z, s = logits
    student = tf.Variable(s)
    with tf.GradientTape() as tape:
        value = losses.L2Centered()(z, student)
    # d/ds of mean_b ½‖C(s − z)‖² with C the (symmetric, idempotent) centring: C(s − z) / B.
    np.testing.assert_allclose(tape.gradient(value, student).numpy(), _centre(s - z) / len(s), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("loss", [losses.L2Logits(), losses.L2Centered(), losses.KDKL(2.0), losses.L2Probs(2.0), losses.SoftTargetCE(3.0)])
def test_losses_serialize(loss):
    import keras

    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss) and restored.get_config() == loss.get_config()


def test_label_smoothing_matches_the_smoothed_target(logits):
    _, s = logits
    y, eps = np.arange(6) % 10, 0.2
    target = np.full((6, 10), eps / 10) + np.eye(10)[y] * (1 - eps)
    expected = -np.mean(np.sum(target * np.log(_softmax(s)), axis=1))
    assert float(losses.label_loss(eps)(y, s)) == pytest.approx(expected, rel=1e-5)
    assert float(losses.SmoothedLabelCE(0.0)(y, s)) == pytest.approx(float(losses.label_loss()(y, s)), rel=1e-5)


def test_smoothed_label_ce_serializes():
    import keras

    restored = keras.losses.deserialize(keras.losses.serialize(losses.SmoothedLabelCE(0.3)))
    assert isinstance(restored, losses.SmoothedLabelCE) and restored.label_smoothing == 0.3
