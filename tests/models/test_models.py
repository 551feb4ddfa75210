import numpy as np
import pytest

from mimic_keras.config import MimicConfig, TeacherConfig
from mimic_keras.models.ensemble import build_ensemble
from mimic_keras.models.mimics import build_mimic, mimic_param_count
from mimic_keras.models.teachers import build_teacher, teacher_param_count
from tests.helpers import run_serialization_test, toy_images


def test_paper_teacher_shape_and_params():
    teacher = build_teacher()
    x, _ = toy_images(4)
    assert teacher(x).shape == (4, 10)
    # 3 × conv128 3×3 on 32×32×3 with 'same' padding and 2×2 pooling → 4×4×128 → fc1000 → 10.
    expected = (27 + 1) * 128 + 2 * (9 * 128 + 1) * 128 + (4 * 4 * 128 + 1) * 1000 + 1001 * 10
    assert teacher.count_params() == teacher_param_count() == expected == 2_357_762


@pytest.mark.parametrize(
    "cfg",
    [
        TeacherConfig(conv_filters=(16, 32), kernel_size=5, dense_units=(64, 32), dropout=0.5),
        TeacherConfig(conv_filters=(8,), dense_units=(), weight_decay=1e-4),
    ],
)
def test_teacher_config_variants(cfg):
    teacher = build_teacher(cfg, num_classes=7)
    assert teacher.count_params() == teacher_param_count(cfg, num_classes=7)
    assert teacher.output.shape[-1] == 7


def test_mimic_layers_and_params():
    cfg = MimicConfig(conv_filters=64, conv_kernel=5, pool_size=2, bottleneck=256, hidden=2000)
    mimic = build_mimic(cfg)
    # conv 5×5×3→64, pool → 16×16×64 = 16384 features → k=256 (no bias) → H=2000 → 10.
    expected = (75 + 1) * 64 + 16384 * 256 + 257 * 2000 + 2001 * 10
    assert mimic.count_params() == mimic_param_count(cfg) == expected
    bottleneck = mimic.get_layer("bottleneck")
    assert bottleneck.activation.__name__ == "linear" and not bottleneck.use_bias
    assert mimic.get_layer("hidden").activation.__name__ == "relu"
    # ONE non-linear hidden layer: the only other weight layers are the conv and the logits.
    dense = [layer.name for layer in mimic.layers if layer.__class__.__name__ == "Dense"]
    assert dense == ["bottleneck", "hidden", "logits"]


def test_mimic_without_bottleneck_and_mlp_form():
    cfg = MimicConfig(conv_filters=0, bottleneck=0, hidden=100)
    mlp = build_mimic(cfg, num_classes=183, input_shape=(1845,))
    assert mlp.count_params() == mimic_param_count(cfg, 183, (1845,)) == 1846 * 100 + 101 * 183
    assert mlp(np.zeros((2, 1845), np.float32)).shape == (2, 183)
    with pytest.raises(ValueError):
        mlp.get_layer("bottleneck")


def test_models_round_trip(tmp_path):
    x, _ = toy_images(3)
    run_serialization_test(build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,))), x, tmp_path / "t")
    run_serialization_test(build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16)), x, tmp_path / "m")


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
