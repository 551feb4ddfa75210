"""Small shared building blocks for the models."""

import keras


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
