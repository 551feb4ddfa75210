import numpy as np
import pytest

from mimic_keras.eval import calibration


def test_nll_of_uniform_logits_is_log_classes():
    logits = np.zeros((5, 4))
    assert calibration.nll(logits, np.array([0, 1, 2, 3, 0])) == pytest.approx(np.log(4))
    assert calibration.entropy(logits) == pytest.approx(np.log(4))


def test_log_softmax_is_stable_and_ignores_a_per_row_shift():
    logits = np.array([[1000.0, 0.0], [3.0, 1.0]])
    out = calibration.log_softmax(logits)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[1], calibration.log_softmax(logits[1:] + 7.5)[0])
    np.testing.assert_allclose(np.exp(out).sum(-1), 1.0)


def test_ece_by_hand():
    # Two examples at confidence 0.9 (one right), two at ~0.6 (both right): bins at 0.9 and 0.6.
    hi, lo = np.log(9.0), np.log(1.5)  # softmax([x, 0]) = 0.9 and 0.6
    logits = np.array([[hi, 0.0], [hi, 0.0], [lo, 0.0], [lo, 0.0]])
    labels = np.array([0, 1, 0, 0])
    expected = (2 * abs(0.5 - 0.9) + 2 * abs(1.0 - 0.6)) / 4
    assert calibration.expected_calibration_error(logits, labels) == pytest.approx(expected)


def test_a_sharper_model_of_the_same_accuracy_has_a_higher_nll_when_wrong():
    labels = np.array([0, 0, 0, 1])
    soft = np.array([[1.0, 0.0]] * 4)
    sharp = soft * 20.0
    a, b = calibration.summary(soft, labels), calibration.summary(sharp, labels)
    assert a["accuracy"] == b["accuracy"] == 0.75
    assert b["nll"] > a["nll"] and b["confidence"] > a["confidence"] and b["entropy"] < a["entropy"]


def test_kl_to_teacher_is_zero_for_the_teacher_and_ignores_its_shift():
    teacher = np.random.default_rng(0).normal(size=(6, 5))
    assert calibration.kl_to_teacher(teacher + 3.0, teacher) == pytest.approx(0.0, abs=1e-12)
    assert calibration.kl_to_teacher(np.zeros_like(teacher), teacher) > 0.0
    assert "kl_to_teacher" in calibration.summary(teacher, np.zeros(6, int), teacher)
