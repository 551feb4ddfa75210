import pytest

from mimic_keras import config, tune


def test_space_is_centred_on_the_preset():
    space = tune.SearchSpace.around(config.get_preset("cifar10-quick"))
    assert space.bottleneck == (0, 32, 64, 128)
    assert space.hidden == (256, 512, 1024)
    assert space.conv_filters == (16, 32, 64)
    assert space.learning_rate == pytest.approx((1e-4, 1e-2))
    mlp = config.apply_overrides(config.get_preset("cifar10-quick"), ["mimic.conv_filters=0", "mimic.bottleneck=0"])
    assert tune.SearchSpace.around(mlp).conv_filters == () and tune.SearchSpace.around(mlp).bottleneck == (0,)
