"""TIMIT teachers: frame classifiers on (2c+1) × 123 normalised context windows → 183 state logits.

Two deep nets, as in the paper's speech experiments (Ba & Caruana 2014, section 4.1):

* DNN: n fully connected ReLU layers (the paper's: 3 × 2000, 12M parameters).
* CNN: convolution and max-pooling along frequency over the 40 mel bands, in the spirit of
  Abdel-Hamid et al. (2012): each band is a position, its static, Δ and ΔΔ values of the 2c+1
  frames are the channels, so one filter sees a few neighbouring bands over the whole context;
  then fully connected ReLU layers. The 3 log-energy values per frame (static, Δ, ΔΔ) have no
  frequency position: they join the pooled maps at the first dense layer.

A window is time-major (`mimic_keras.data.timit.context_windows`): frame t-c's 123 values
first, each frame laid out as `[40 mel, energy, 40 Δmel, Δenergy, 40 ΔΔmel, ΔΔenergy]`
(`mimic_keras.timit_layout`, whose constants this module takes: it reads no files and
computes no features). The shallow mimics and controls are `mimic_keras.models.mimics` MLPs
(`MimicConfig(conv_filters=0)`).
"""

import keras

from mimic_keras.config import TeacherConfig
from mimic_keras.models.layers import logits_layer, regularizer
from mimic_keras.timit_layout import CONTEXT, NUM_MEL, NUM_ORDERS, NUM_STATES, NUM_STATIC, input_dim

KINDS = ("dnn", "cnn")


# The registered name ("mimic_keras>MelMaps") is what saved `.keras` teachers refer to: it must
# not change when the class moves (it lived in `mimic_keras.models.speech` before).
@keras.saving.register_keras_serializable(package="mimic_keras", name="MelMaps")
class MelMaps(keras.layers.Layer):
    """Splits flat context windows into per-band feature maps and the energy terms.

    Args:
        context: frames on each side of the centre frame.

    Call:
        windows: float `[B, (2c+1) × 123]`.

    Returns:
        `(maps, energy)`: `[B, 40, (2c+1) × 3]` with band as the position and
        (frame, static/Δ/ΔΔ) as the channels; `[B, (2c+1) × 3]` log energies and their deltas.
    """

    def __init__(self, context=CONTEXT, **kwargs):
        super().__init__(**kwargs)
        self.context = context

    def call(self, windows):
        frames = 2 * self.context + 1
        x = keras.ops.reshape(windows, (-1, frames, NUM_ORDERS, NUM_STATIC))  # [B, frame, order, 41]
        mel = keras.ops.transpose(x[..., :NUM_MEL], (0, 3, 1, 2))  # [B, band, frame, order]
        maps = keras.ops.reshape(mel, (-1, NUM_MEL, frames * NUM_ORDERS))
        energy = keras.ops.reshape(x[..., NUM_MEL], (-1, frames * NUM_ORDERS))
        return maps, energy

    def compute_output_shape(self, input_shape):
        channels = (2 * self.context + 1) * NUM_ORDERS
        return (input_shape[0], NUM_MEL, channels), (input_shape[0], channels)

    def get_config(self):
        return {**super().get_config(), "context": self.context}


def _dense_stack(x, config, reg):
    for i, units in enumerate(config.dense_units):
        x = keras.layers.Dense(units, activation="relu", kernel_regularizer=reg, name=f"fc{i + 1}")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"dropout{i + 1}")(x)
    return x


def build_dnn_teacher(config=None, num_classes=NUM_STATES, context=CONTEXT, name="teacher"):
    """The DNN teacher: `dense_units` ReLU layers (dropout after each) → logits.

    Args:
        config: a `TeacherConfig`; uses `dense_units`, `dropout`, `weight_decay`.
        num_classes: output logits (183 HMM states).
        context: frames on each side; inputs are `(2 context + 1) × 123` values.
        name: model name.

    Returns:
        A functional `keras.Model` from normalised windows `[B, 1845]` to logits.

    Example:
    ```python
    dnn = build_dnn_teacher(TeacherConfig(kind="dnn", dense_units=(2000, 2000, 2000)))
    dnn.count_params()  # 12,062,183
    ```
    """
    config = config or TeacherConfig(kind="dnn", dense_units=(2000, 2000, 2000))
    reg = regularizer(config.weight_decay)
    inputs = keras.Input(shape=(input_dim(context),), name="features")
    x = _dense_stack(inputs, config, reg)
    return keras.Model(inputs, logits_layer(num_classes, config.weight_decay)(x), name=name)


def build_cnn_teacher(config=None, num_classes=NUM_STATES, context=CONTEXT, name="teacher"):
    """The CNN teacher: [conv along frequency → max-pool along frequency] × n → dense → logits.

    Args:
        config: a `TeacherConfig`; uses `conv_filters` (one conv layer per entry),
            `kernel_size` (bands per filter, 'valid' padding), `freq_pool` (bands per pool),
            `dense_units`, `dropout`, `weight_decay`.
        num_classes: output logits (183 HMM states).
        context: frames on each side; inputs are `(2 context + 1) × 123` values.
        name: model name.

    Returns:
        A functional `keras.Model` from normalised windows `[B, 1845]` to logits.

    Example:
    ```python
    cnn = build_cnn_teacher(TeacherConfig(kind="cnn", conv_filters=(200,), kernel_size=8,
                                          freq_pool=3, dense_units=(2000, 2000, 2000)))
    ```
    """
    config = config or TeacherConfig(kind="cnn", conv_filters=(200,), kernel_size=8, freq_pool=3,
                                     dense_units=(2000, 2000, 2000))
    _check_cnn(config)
    reg = regularizer(config.weight_decay)
    inputs = keras.Input(shape=(input_dim(context),), name="features")
    x, energy = MelMaps(context, name="mel_maps")(inputs)
    for i, filters in enumerate(config.conv_filters):
        x = keras.layers.Conv1D(
            filters, config.kernel_size, activation="relu", kernel_regularizer=reg, name=f"conv{i + 1}"
        )(x)
        x = keras.layers.MaxPooling1D(config.freq_pool, name=f"pool{i + 1}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Concatenate(name="with_energy")([x, energy])
    x = _dense_stack(x, config, reg)
    return keras.Model(inputs, logits_layer(num_classes, config.weight_decay)(x), name=name)


def _check_cnn(config):
    bands = NUM_MEL
    for filters in config.conv_filters:
        bands = (bands - config.kernel_size + 1) // config.freq_pool
        if bands < 1:
            raise ValueError(
                f"conv_filters={config.conv_filters}, kernel_size={config.kernel_size}, "
                f"freq_pool={config.freq_pool}: the {NUM_MEL} mel bands are used up before the last conv"
            )


def build_speech_teacher(config, num_classes=NUM_STATES, context=CONTEXT, kind=None, name="teacher"):
    """A DNN or CNN teacher by `kind` (default `config.kind`, which must be one kind)."""
    kind = kind or config.kind
    if kind == "dnn":
        return build_dnn_teacher(config, num_classes, context, name)
    if kind == "cnn":
        return build_cnn_teacher(config, num_classes, context, name)
    raise ValueError(f"unknown TIMIT teacher kind {kind!r}; choose from {', '.join(KINDS)}")


def speech_teacher_param_count(config, num_classes=NUM_STATES, context=CONTEXT, kind=None):
    """Parameter count of `build_speech_teacher(config, kind=kind)`, from the formula."""
    kind = kind or config.kind
    frames = 2 * context + 1
    total = 0
    if kind == "dnn":
        features = input_dim(context)
    elif kind == "cnn":
        _check_cnn(config)
        bands, channels = NUM_MEL, frames * NUM_ORDERS
        for filters in config.conv_filters:
            total += (config.kernel_size * channels + 1) * filters
            bands, channels = (bands - config.kernel_size + 1) // config.freq_pool, filters
        features = bands * channels + frames * NUM_ORDERS
    else:
        raise ValueError(f"unknown TIMIT teacher kind {kind!r}; choose from {', '.join(KINDS)}")
    for units in config.dense_units:
        total += (features + 1) * units
        features = units
    return total + (features + 1) * num_classes

