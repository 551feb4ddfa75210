import numpy as np
import pytest

from mimic_keras.config import TeacherConfig
from mimic_keras.models.convnet import build_teacher
from mimic_keras.models.ensemble import build_ensemble
from tests.helpers import run_serialization_test, toy_images


def test_ensemble_averages_logits_and_round_trips(tmp_path):
    cfg = TeacherConfig(conv_filters=(8,), dense_units=(16,))
    teachers = [build_teacher(cfg, name=f"teacher_{i}") for i in range(3)]
    ensemble = build_ensemble(teachers)
    x, _ = toy_images(5)
    expected = np.mean([t.predict(x, verbose=0) for t in teachers], axis=0)
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), expected, atol=1e-5)
    assert not ensemble.trainable_weights
    run_serialization_test(ensemble, x, tmp_path)


def test_ensemble_refuses_mismatched_teachers():
    a = build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,)), num_classes=10, name="a")
    b = build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,)), num_classes=5, name="b")
    with pytest.raises(ValueError, match="output shape"):
        build_ensemble([a, b])
    with pytest.raises(ValueError):
        build_ensemble([])
