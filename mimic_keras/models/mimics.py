"""Shallow mimic nets: [conv → pool] → linear bottleneck → ONE wide ReLU layer → logits.

The linear bottleneck of k units factorises the first wide weight matrix W (D×H) into
U (D×k) · V (k×H): no non-linearity, no bias, so the net stays shallow (one non-linear hidden
layer) while training converges faster (Ba & Caruana 2014, section 2.2). With `groups=G` the
hidden layer is G independent blocks of H/G ReLU units, block g fed by the g-th k/G bottleneck
units (`GroupedDense`: a block-diagonal k×H matrix, kH/G weights). The same builder makes the
control: the same architecture, trained on labels instead of logits.
"""

import keras

from mimic_keras.config import MimicConfig
from mimic_keras.models.layers import GroupedDense, image_input, logits_layer, regularizer


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
    if config.groups > 1:
        x = GroupedDense(config.hidden, config.groups, activation="relu", kernel_regularizer=reg, name="hidden")(x)
    else:
        x = keras.layers.Dense(config.hidden, activation="relu", kernel_regularizer=reg, name="hidden")(x)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    outputs = logits_layer(num_classes, config.weight_decay)(x)
    return keras.Model(inputs, outputs, name=name)


def _layer_sizes(config, num_classes, input_shape):
    """[(name, parameters, multiply-adds per example)] of each layer of `build_mimic(config)`."""
    rows = []
    if config.conv_filters:
        height, width, channels = input_shape
        per_position = config.conv_kernel**2 * channels * config.conv_filters
        rows.append(("conv", per_position + config.conv_filters, per_position * height * width))
        features = (height // config.pool_size) * (width // config.pool_size) * config.conv_filters
    else:
        (features,) = input_shape
    if config.bottleneck:
        rows.append(("bottleneck", features * config.bottleneck, features * config.bottleneck))
        features = config.bottleneck
    weights = features * config.hidden // config.groups  # block-diagonal: G blocks of (k/G)×(H/G)
    rows.append(("hidden", weights + config.hidden, weights))
    rows.append(("logits", (config.hidden + 1) * num_classes, config.hidden * num_classes))
    return rows


def mimic_param_count(config=None, num_classes=10, input_shape=(32, 32, 3)):
    """Parameter count of `build_mimic(config)`, from the formula.

    conv (K²·C + 1)·F, bottleneck D·k, hidden k·H/G + H (G = `groups`; D·H + H without a
    bottleneck), logits (H + 1)·classes.
    """
    return sum(params for _, params, _ in _layer_sizes(config or MimicConfig(), num_classes, input_shape))


def mimic_multiply_adds(config=None, num_classes=10, input_shape=(32, 32, 3)):
    """Multiply-adds per example of `build_mimic(config)` (conv at every input position, 'same' padding)."""
    return sum(macs for _, _, macs in _layer_sizes(config or MimicConfig(), num_classes, input_shape))
