"""The CIFAR-10 teacher: the paper's convnet on uint8 images. Outputs are logits (no softmax inside).

The TIMIT teachers are `mimic_keras.models.speech_teachers`; mimics, `mimic_keras.models.mimics`.
"""

import keras

from mimic_keras.config import TeacherConfig
from mimic_keras.models.layers import image_input, logits_layer, regularizer


def build_teacher(config=None, num_classes=10, image_shape=(32, 32, 3), name="teacher"):
    """The paper's CIFAR-10 convnet: n × [conv k×k ReLU → max-pool 2] → dense ReLU → logits.

    Args:
        config: a `TeacherConfig` (default: 3 × conv128, dense 1000: about 2.4M parameters).
        num_classes: number of output logits.
        image_shape: shape of one uint8 input image.
        name: model name.

    Returns:
        A functional `keras.Model` mapping uint8 images to logits.

    Example:
    ```python
    teacher = build_teacher(TeacherConfig(conv_filters=(64, 128), dense_units=(512,)))
    ```
    """
    config = config or TeacherConfig()
    reg = regularizer(config.weight_decay)
    inputs, x = image_input(image_shape)
    for i, filters in enumerate(config.conv_filters):
        x = keras.layers.Conv2D(
            filters, config.kernel_size, padding="same", activation="relu",
            kernel_regularizer=reg, name=f"conv{i + 1}",
        )(x)
        x = keras.layers.MaxPooling2D(2, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate(config.dense_units):
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout{i + 1}")(x)
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=reg, name=f"fc{i + 1}")(x)
    if config.dropout:
        x = keras.layers.Dropout(config.dropout, name="dropout_out")(x)
    outputs = logits_layer(num_classes, config.weight_decay)(x)
    return keras.Model(inputs, outputs, name=name)


def teacher_param_count(config=None, num_classes=10, image_shape=(32, 32, 3)):
    """Parameter count of `build_teacher(config)`, from the formula."""
    config = config or TeacherConfig()
    height, width, channels = image_shape
    total, k = 0, config.kernel_size
    for filters in config.conv_filters:
        total += (k * k * channels + 1) * filters
        channels = filters
        height, width = height // 2, width // 2
    features = height * width * channels
    for units in config.dense_units:
        total += (features + 1) * units
        features = units
    return total + (features + 1) * num_classes
