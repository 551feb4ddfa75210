"""Shallow mimic nets: [conv → pool] → linear bottleneck → ONE wide ReLU layer → logits.

The linear bottleneck of k units factorises the first wide weight matrix W (D×H) into
U (D×k) · V (k×H): no non-linearity, no bias, so the net stays shallow (one non-linear hidden
layer) while training converges faster (Ba & Caruana 2014, section 2.2). The same builder
makes the control: the same architecture, trained on labels instead of logits.
"""

import keras

from mimic_keras.config import MimicConfig
from mimic_keras.models.layers import image_input, logits_layer, regularizer


def build_mimic(config=None, num_classes=10, input_shape=(32, 32, 3), name="mimic"):
    """Builds a shallow mimic (or control) net.

    Args:
        config: a `MimicConfig`. `conv_filters=0` gives a pure MLP on float feature vectors
            (TIMIT); otherwise inputs are uint8 images. `bottleneck=0` drops the linear layer.
        num_classes: number of output logits.
        input_shape: one example's shape: (H, W, C) images or (D,) feature vectors.
        name: model name.

    Returns:
        A functional `keras.Model` producing logits.

    Example:
    ```python
    mimic = build_mimic(MimicConfig(conv_filters=64, bottleneck=256, hidden=2000))
    ```
    """
    config = config or MimicConfig()
    reg = regularizer(config.weight_decay)
    if config.conv_filters:
        inputs, x = image_input(input_shape)
        x = keras.layers.Conv2D(
            config.conv_filters, config.conv_kernel, padding="same", activation="relu",
            kernel_regularizer=reg, name="conv",
        )(x)
        x = keras.layers.MaxPooling2D(config.pool_size, name="pool")(x)
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        inputs = keras.Input(shape=input_shape, name="features")
        x = inputs
    if config.bottleneck:
        x = keras.layers.Dense(config.bottleneck, use_bias=False, kernel_regularizer=reg, name="bottleneck")(x)
    x = keras.layers.Dense(config.hidden, activation="relu", kernel_regularizer=reg, name="hidden")(x)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    outputs = logits_layer(num_classes, config.weight_decay)(x)
    return keras.Model(inputs, outputs, name=name)


def mimic_param_count(config=None, num_classes=10, input_shape=(32, 32, 3)):
    """Parameter count of `build_mimic(config)`, from the formula."""
    config = config or MimicConfig()
    total = 0
    if config.conv_filters:
        height, width, channels = input_shape
        total += (config.conv_kernel**2 * channels + 1) * config.conv_filters
        features = (height // config.pool_size) * (width // config.pool_size) * config.conv_filters
    else:
        (features,) = input_shape
    if config.bottleneck:
        total += features * config.bottleneck
        features = config.bottleneck
    total += (features + 1) * config.hidden
    return total + (config.hidden + 1) * num_classes
