import numpy as np
import pytest

from mimic_keras.config import MimicConfig
from mimic_keras.models.mimics import build_mimic, mimic_param_count
from mimic_keras.timit_layout import INPUT_DIM, NUM_STATES
from tests.helpers import run_serialization_test, toy_images


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
    mlp = build_mimic(cfg, num_classes=NUM_STATES, input_shape=(INPUT_DIM,))
    assert mlp.count_params() == mimic_param_count(cfg, NUM_STATES, (INPUT_DIM,)) == 1846 * 100 + 101 * 183
    assert mlp(np.zeros((2, INPUT_DIM), np.float32)).shape == (2, NUM_STATES)
    with pytest.raises(ValueError):
        mlp.get_layer("bottleneck")


def test_mimic_round_trip(tmp_path):
    x, _ = toy_images(3)
    run_serialization_test(build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16)), x, tmp_path)
