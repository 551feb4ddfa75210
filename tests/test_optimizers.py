"""FusedSGD / FusedAdam: Keras's SGD and Adam, each variable's update in one TensorFlow kernel."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import training
from mimic_keras.config import TrainConfig
from mimic_keras.distribute import get_strategy
from mimic_keras.optimizers import FusedAdam, FusedSGD

PAIRS = {
    "sgd": (lambda: keras.optimizers.SGD(0.05, momentum=0.9), lambda: FusedSGD(0.05, momentum=0.9)),
    "sgd_nesterov": (lambda: keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True),
                     lambda: FusedSGD(0.05, momentum=0.9, nesterov=True)),
    "adam": (lambda: keras.optimizers.Adam(1e-2), lambda: FusedAdam(1e-2)),
    "adam_cosine": (lambda: keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-2, 12)),
                    lambda: FusedAdam(keras.optimizers.schedules.CosineDecay(1e-2, 12))),
}
KERNELS = {"sgd": "ResourceApplyKerasMomentum", "sgd_nesterov": "ResourceApplyKerasMomentum",
           "adam": "ResourceApplyAdam", "adam_cosine": "ResourceApplyAdam"}


def _model():
    return keras.Sequential([keras.Input((20,)), keras.layers.Dense(30, activation="relu"), keras.layers.Dense(5)])


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 20)).astype("float32"), rng.normal(size=(64, 5)).astype("float32")


def _train(make_optimizer, strategy=None):
    keras.utils.set_random_seed(0)
    with strategy.scope() if strategy else tf.name_scope("one_device"):
        model = _model()
        model.compile(optimizer=make_optimizer(), loss="mse")
    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)  # 12 steps
    return [w.numpy() for w in model.weights]


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_fused_update_equals_keras(name):
    stock, fused = PAIRS[name]
    for a, b in zip(_train(stock), _train(fused)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_the_fused_kernel_runs(name):
    # Falling back to Keras's element-wise update would pass the equality test above.
    model = _model()
    model.compile(optimizer=PAIRS[name][1](), loss="mse")
    model.optimizer.build(model.trainable_variables)
    x, y = _data()
    graph = tf.function(model.train_step).get_concrete_function((tf.constant(x[:8]), tf.constant(y[:8]))).graph
    ops = [op.type for op in graph.get_operations()]
    assert ops.count(KERNELS[name]) == len(model.trainable_variables)


@pytest.mark.parametrize("name", ["sgd_nesterov", "adam"])
def test_fused_update_under_a_mirrored_strategy(name):
    strategy = get_strategy("mirrored:/cpu:0,/cpu:1")  # one per device set and process (distribute.py)
    stock, fused = PAIRS[name]
    for a, b in zip(_train(stock), _train(fused, strategy)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("optimizer", [FusedSGD(0.01, momentum=0.8, nesterov=True), FusedAdam(3e-4, beta_1=0.8)])
def test_round_trip(optimizer):
    again = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(again) is type(optimizer)
    assert again.get_config() == optimizer.get_config()


def test_amsgrad_falls_back_to_keras():
    for a, b in zip(_train(lambda: keras.optimizers.Adam(1e-2, amsgrad=True)),
                    _train(lambda: FusedAdam(1e-2, amsgrad=True))):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, kind", [("adam", FusedAdam), ("sgd", FusedSGD)])
def test_training_builds_the_fused_optimizers(name, kind):
    optimizer = training.make_optimizer(TrainConfig(optimizer=name), steps_per_epoch=10)
    assert type(optimizer) is kind
    assert name != "sgd" or (optimizer.momentum == 0.9 and optimizer.nesterov)
