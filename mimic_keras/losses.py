"""Distillation losses as `keras.losses.Loss` subclasses, and a registry by name.

All take `(y_true, y_pred)` with `y_true` the teacher's logits and `y_pred` the student's,
return one value per example, and leave the batch reduction (and the per-replica scaling
under a distribution strategy) to `keras.losses.Loss`.
"""

import keras
from keras import ops


def _f32(x):
    return ops.cast(x, "float32")


@keras.saving.register_keras_serializable(package="mimic_keras")
class L2Logits(keras.losses.Loss):
    """The paper's loss: ½‖student − teacher‖² on logits, averaged over the batch.

    Ba & Caruana's 1/(2T) Σ_t ‖g(x_t) − z_t‖² over T examples.
    """

    def __init__(self, name="l2_logits", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        return 0.5 * ops.sum(ops.square(_f32(y_pred) - _f32(y_true)), axis=-1)


@keras.saving.register_keras_serializable(package="mimic_keras")
class L2Centered(keras.losses.Loss):
    """½‖(s − mean(s)) − (z − mean(z))‖²: L2 on logits, each vector centred over its classes first.

    Softmax ignores a per-example shift of the logits, so raw L2 spends the student's capacity
    matching the teacher's per-example mean logit, which carries no class information; this
    loss ignores that shift and equals `L2Logits` on vectors that are already centred.
    """

    def __init__(self, name="l2_centered", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        diff = _f32(y_pred) - _f32(y_true)
        centred = diff - ops.mean(diff, axis=-1, keepdims=True)  # centring is linear: centre the difference
        return 0.5 * ops.sum(ops.square(centred), axis=-1)


@keras.saving.register_keras_serializable(package="mimic_keras")
class KDKL(keras.losses.Loss):
    """Hinton et al.'s KD: T² · KL(softmax(z/T) ‖ softmax(s/T))."""

    def __init__(self, temperature=4.0, name="kd", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = float(temperature)

    def call(self, y_true, y_pred):
        t = self.temperature
        log_p_teacher = ops.log_softmax(_f32(y_true) / t, axis=-1)
        log_p_student = ops.log_softmax(_f32(y_pred) / t, axis=-1)
        kl = ops.sum(ops.exp(log_p_teacher) * (log_p_teacher - log_p_student), axis=-1)
        return (t * t) * kl

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="mimic_keras")
class L2Probs(keras.losses.Loss):
    """½‖softmax(s/T) − softmax(z/T)‖²: regression on probabilities instead of logits."""

    def __init__(self, temperature=1.0, name="l2_probs", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = float(temperature)

    def call(self, y_true, y_pred):
        t = self.temperature
        diff = ops.softmax(_f32(y_pred) / t, axis=-1) - ops.softmax(_f32(y_true) / t, axis=-1)
        return 0.5 * ops.sum(ops.square(diff), axis=-1)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="mimic_keras")
class SoftTargetCE(keras.losses.Loss):
    """Cross-entropy against the teacher's softened distribution (no T² factor)."""

    def __init__(self, temperature=1.0, name="soft_ce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.temperature = float(temperature)

    def call(self, y_true, y_pred):
        t = self.temperature
        p_teacher = ops.softmax(_f32(y_true) / t, axis=-1)
        return -ops.sum(p_teacher * ops.log_softmax(_f32(y_pred) / t, axis=-1), axis=-1)

    def get_config(self):
        return {**super().get_config(), "temperature": self.temperature}


@keras.saving.register_keras_serializable(package="mimic_keras")
class SmoothedLabelCE(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing ε: the target puts 1 − ε on the
    label and spreads ε evenly over all classes (Szegedy et al. 2016). "Richer labels" without
    a teacher."""

    def __init__(self, label_smoothing=0.1, name="ce_smoothed", **kwargs):
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        num_classes = ops.shape(y_pred)[-1]
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), num_classes)
        target = labels * (1.0 - self.label_smoothing) + self.label_smoothing / ops.cast(num_classes, "float32")
        return -ops.sum(target * ops.log_softmax(_f32(y_pred), axis=-1), axis=-1)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def label_loss(label_smoothing=0.0):
    """Cross-entropy on integer labels, from logits (the control's loss), optionally smoothed."""
    if label_smoothing:
        return SmoothedLabelCE(label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="ce")


DISTILLATION_LOSSES = {
    "l2_logits": lambda temperature: L2Logits(),
    "l2_centered": lambda temperature: L2Centered(),
    "kd": lambda temperature: KDKL(temperature),
    "l2_probs": lambda temperature: L2Probs(temperature),
    "soft_ce": lambda temperature: SoftTargetCE(temperature),
}
LOSS_NAMES = tuple(DISTILLATION_LOSSES) + ("ce",)


def get_distillation_loss(name, temperature=1.0):
    """A distillation loss by name. `ce` means labels only and has no distillation term.

    Raises:
        ValueError: for an unknown name.
    """
    if name == "ce":
        return None
    if name not in DISTILLATION_LOSSES:
        raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSS_NAMES)}")
    return DISTILLATION_LOSSES[name](temperature)
