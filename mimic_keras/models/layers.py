"""Small shared building blocks for the models."""

import keras
from keras import ops


def image_input(image_shape=(32, 32, 3), name="images"):
    """A uint8 image input followed by scaling to [-1, 1]: pixel scaling lives here, only here."""
    inputs = keras.Input(shape=image_shape, dtype="uint8", name=name)
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    return inputs, x


def regularizer(weight_decay):
    """An L2 kernel regulariser, or None when `weight_decay` is 0."""
    return keras.regularizers.L2(weight_decay) if weight_decay else None


def logits_layer(num_classes, weight_decay=0.0):
    """The output layer. float32 even under mixed precision: logits feed losses and export."""
    return keras.layers.Dense(
        num_classes, name="logits", dtype="float32", kernel_regularizer=regularizer(weight_decay)
    )


@keras.saving.register_keras_serializable(package="mimic_keras")
class GroupedDense(keras.layers.Layer):
    """G independent dense blocks: block g maps slice g of the input (d/G units) to H/G outputs.

    The kernel is a block-diagonal d×H matrix held as its G blocks (G, d/G, H/G): d·H/G weights
    and H biases, against d·H + H for a `Dense` layer; `groups=1` computes what `Dense` does.
    In the mimic it is the hidden layer after the bottleneck (`mimic.groups`): each group of
    H/G ReLU units sees its own k/G bottleneck units and nothing of the others'.

    Args:
        units: H, the outputs (a multiple of `groups`).
        groups: G, the independent blocks.
        activation: applied to the outputs.
        kernel_regularizer: regulariser of the kernel's blocks.

    Example:
    ```python
    hidden = GroupedDense(2048, groups=4, activation="relu", name="hidden")  # 256 → 2048 as 4 × (64 → 512)
    ```
    """

    def __init__(self, units, groups=1, activation=None, kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        if units % groups:
            raise ValueError(f"groups={groups} must divide units={units}")
        self.units, self.groups = int(units), int(groups)
        self.activation = keras.activations.get(activation)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        features = input_shape[-1]
        if features % self.groups:
            raise ValueError(f"groups={self.groups} must divide the {features} input features")
        self.kernel = self.add_weight(
            name="kernel", shape=(self.groups, features // self.groups, self.units // self.groups),
            initializer=_block_glorot(features, self.units, self.groups), regularizer=self.kernel_regularizer,
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")

    def call(self, inputs):
        blocks = ops.reshape(inputs, (-1, self.groups, self.kernel.shape[1]))
        outputs = ops.reshape(ops.einsum("bgi,gio->bgo", blocks, self.kernel), (-1, self.units))
        return self.activation(outputs + self.bias)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(), "units": self.units, "groups": self.groups,
            "activation": keras.activations.serialize(self.activation),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
        }


def _block_glorot(features, units, groups):
    # Each block is a (d/G)×(H/G) dense kernel: Glorot-uniform over its own fan-in and fan-out,
    # as a Dense layer of that shape would start (G=1: exactly Dense's initialiser).
    limit = (6.0 / (features // groups + units // groups)) ** 0.5
    return keras.initializers.RandomUniform(-limit, limit)
