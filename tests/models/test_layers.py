import numpy as np
import pytest
import keras

from mimic_keras.config import MimicConfig
from mimic_keras.models.layers import GroupedDense
from mimic_keras.models.mimics import build_mimic, mimic_multiply_adds, mimic_param_count
from tests.helpers import run_serialization_test, toy_images


def _inputs(n=5, features=12, seed=0):
    return np.random.default_rng(seed).normal(size=(n, features)).astype(np.float32)


def test_one_group_is_a_dense_layer():
    x = _inputs()
    grouped, dense = GroupedDense(8, groups=1, activation="relu"), keras.layers.Dense(8, activation="relu")
    grouped.build(x.shape), dense.build(x.shape)
    bias = np.random.default_rng(1).normal(size=8).astype(np.float32)
    grouped.set_weights([dense.get_weights()[0][None], bias])
    dense.set_weights([dense.get_weights()[0], bias])
    np.testing.assert_allclose(grouped(x), dense(x), rtol=1e-6, atol=1e-6)


def test_groups_are_a_block_diagonal_dense_layer():
    x, groups = _inputs(), 3  # 12 features → 3 blocks of 4, 9 units → 3 blocks of 3
    layer = GroupedDense(9, groups=groups)
    layer.build(x.shape)
    blocks, bias = layer.get_weights()
    full = np.zeros((12, 9), np.float32)
    for g in range(groups):
        full[4 * g : 4 * g + 4, 3 * g : 3 * g + 3] = blocks[g]
    np.testing.assert_allclose(layer(x), x @ full + bias, rtol=1e-5, atol=1e-5)


def test_a_block_sees_only_its_own_slice_of_the_input():
    x = _inputs()
    layer = GroupedDense(9, groups=3, activation="relu")
    before = np.asarray(layer(x))
    x2 = x.copy()
    x2[:, 4:8] += 10.0  # slice 1 only
    after = np.asarray(layer(x2))
    np.testing.assert_array_equal(after[:, :3], before[:, :3])
    np.testing.assert_array_equal(after[:, 6:], before[:, 6:])
    assert not np.allclose(after[:, 3:6], before[:, 3:6])


def test_sizes_that_groups_do_not_divide_are_refused():
    with pytest.raises(ValueError, match="groups=4 must divide units=10"):
        GroupedDense(10, groups=4)
    with pytest.raises(ValueError, match="groups=4 must divide the 6 input features"):
        GroupedDense(8, groups=4).build((None, 6))


def test_grouped_mimic_parameters_and_multiply_adds_match_the_formula():
    cfg = MimicConfig(conv_filters=4, conv_kernel=3, pool_size=2, bottleneck=16, hidden=64, groups=4, weight_decay=1e-4)
    mimic = build_mimic(cfg)
    # conv (9·3 + 1)·4, bottleneck 1024·16, hidden 16·64/4 + 64, logits 65·10.
    assert mimic.count_params() == mimic_param_count(cfg) == 28 * 4 + 1024 * 16 + 16 * 64 // 4 + 64 + 65 * 10
    assert mimic_multiply_adds(cfg) == 27 * 4 * 32 * 32 + 1024 * 16 + 16 * 16 + 64 * 10
    assert isinstance(mimic.get_layer("hidden"), GroupedDense) and len(mimic.losses) == 4  # decay on each kernel
    ungrouped = build_mimic(MimicConfig(conv_filters=4, conv_kernel=3, bottleneck=16, hidden=64))
    assert type(ungrouped.get_layer("hidden")) is keras.layers.Dense  # groups=1: today's net, unchanged


def test_grouped_mimic_saves_and_exports(tmp_path):
    import tensorflow as tf

    x, _ = toy_images(3)
    mimic = build_mimic(MimicConfig(conv_filters=4, bottleneck=8, hidden=16, groups=2))
    restored = run_serialization_test(mimic, x, tmp_path / "keras")
    assert restored.get_layer("hidden").get_config()["groups"] == 2
    mimic.export(str(tmp_path / "saved"), verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "saved"))  # kept: its variables live as long as it does
    np.testing.assert_allclose(np.asarray(loaded.serve(tf.constant(x))), np.asarray(mimic(x)), rtol=1e-5, atol=1e-5)
