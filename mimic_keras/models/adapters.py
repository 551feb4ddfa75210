"""Layers that fit a user's trained model to our contract: uint8 images in, logits out."""

import keras
from keras import ops

EPSILON = 1e-7  # a probability of exactly 0 would give -inf logits


@keras.saving.register_keras_serializable(package="mimic_keras")
class CastTo(keras.layers.Layer):
    """Casts its input (uint8 images) to `target` (what the wrapped model's input takes).

    Args:
        target: a dtype name, e.g. `"float32"`.
    """

    def __init__(self, target="float32", **kwargs):
        super().__init__(**kwargs)
        self.target = target

    def call(self, inputs):
        return ops.cast(inputs, self.target)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=self.target)

    def get_config(self):
        return {**super().get_config(), "target": self.target}


@keras.saving.register_keras_serializable(package="mimic_keras")
class ProbabilitiesToLogits(keras.layers.Layer):
    """`log(p)`: logits of a softmax output, up to the constant that softmax ignores."""

    def call(self, inputs):
        return ops.log(ops.maximum(ops.cast(inputs, "float32"), EPSILON))
