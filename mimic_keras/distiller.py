"""`Distiller`: trains a student to mimic a teacher's logits with plain `model.fit`.

Two modes:

* cached (default): each batch carries the teacher's logits, computed once over the transfer
  set by `pipelines/label_with_teacher.py`. Targets are `{"logits": z, "label": y}` dicts
  (label -1 marks an unlabelled example) or just the logits tensor.
* online: pass `teacher=` (a model or an ensemble); its logits are computed on the fly, with
  the teacher frozen. Targets are then the integer labels (or a dict with `label`).

Only `compute_loss` and `compute_metrics` are overridden, never `train_step`, so the Distiller
runs under any distribution strategy and backend. The losses are `keras.losses.Loss` objects,
which scale correctly by the number of replicas.
"""

import keras
from keras import ops

from mimic_keras import losses as losses_lib


@keras.saving.register_keras_serializable(package="mimic_keras")
class Distiller(keras.Model):
    """Wraps a student model to learn from a teacher's logits.

    Args:
        student: the Keras model to train (outputs logits).
        teacher: optional teacher model or ensemble for online mode. Frozen.
        loss: distillation loss name: `l2_logits` (the paper's, default), `kd`, `l2_probs`,
            `soft_ce`, or `ce` (labels only).
        alpha: weight of the distillation loss; `1 - alpha` weights cross-entropy on the labels
            of labelled examples. Ignored (taken as 0) for `loss="ce"`.
        temperature: softening temperature for `kd`, `l2_probs` and `soft_ce`.
        label_smoothing: smoothing ε of the label loss (`1 - alpha` of the loss; `loss="ce"`):
            the target puts 1 − ε on the label and ε evenly over all classes.

    Example:
    ```python
    mimic = build_mimic(MimicConfig(bottleneck=256, hidden=2000))
    distiller = Distiller(mimic, loss="l2_logits")
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3))
    distiller.fit(transfer_ds, validation_data=val_ds, epochs=10)
    mimic.save("mimic.keras")  # the student alone
    ```
    """

    def __init__(self, student, teacher=None, loss="l2_logits", alpha=1.0, temperature=1.0, label_smoothing=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        self.student = student
        self.teacher = teacher
        if teacher is not None:
            teacher.trainable = False
            t_shape, s_shape = tuple(teacher.output.shape[1:]), tuple(student.output.shape[1:])
            if t_shape != s_shape:
                raise ValueError(f"teacher outputs {t_shape} but student outputs {s_shape}")
        self.loss_name = loss
        self.temperature = float(temperature)
        self.distillation_loss = losses_lib.get_distillation_loss(loss, temperature)
        self.alpha = float(alpha) if self.distillation_loss is not None else 0.0
        self.label_smoothing = float(label_smoothing)
        self.label_loss = losses_lib.label_loss(self.label_smoothing)
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.agreement_tracker = keras.metrics.Mean(name="agreement")
        # The wrapper has no weights of its own: it is built when its student is (callbacks
        # such as BackupAndRestore need a built model before fit).
        self.built = student.built

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                **kwargs):
        """As `keras.Model.compile`; label metrics count labelled examples only.

        Keras gives per-example weights to `weighted_metrics` alone, and the mask of unlabelled
        examples (label -1: unlabelled images, mixup images) is such a weight: as plain
        `metrics` they would count unlabelled examples as class 0. So `metrics` are compiled as
        weighted metrics (sample weights, when given, weight them too). `loss` is unused: the
        loss is the constructor's.
        """
        if metrics:
            weighted_metrics = [*_as_list(metrics), *_as_list(weighted_metrics or [])]
        super().compile(
            optimizer=optimizer, loss=loss, loss_weights=loss_weights, metrics=None,
            weighted_metrics=weighted_metrics, **kwargs,
        )

    def compile_from_config(self, config):
        # Keras skips a custom `compile` when loading; ours takes what `get_compile_config` saved.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def online(self):
        """True when the teacher runs on the fly (a teacher was given)."""
        return self.teacher is not None

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def _targets(self, x, y):
        """Splits targets into (labels or None, teacher logits or None)."""
        if isinstance(y, dict):
            labels, logits = y.get("label"), y.get("logits")
        elif self.online:
            labels, logits = y, None
        else:
            labels, logits = None, y
        if self.online:
            logits = ops.stop_gradient(self.teacher(x, training=False))
        if logits is None and self.distillation_loss is not None:
            raise ValueError(
                "no teacher logits: give the Distiller a `teacher`, or a dataset whose targets "
                "carry them ({'logits': ..., 'label': ...})"
            )
        return labels, logits

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels, logits = self._targets(x, y)
        terms = []
        if self.alpha > 0:
            terms.append(self.alpha * self.distillation_loss(logits, y_pred, sample_weight=sample_weight))
        if self.alpha < 1:
            if labels is None:
                raise ValueError(f"alpha={self.alpha} needs labels in the targets")
            safe_labels, weight = _mask_unlabelled(labels, sample_weight)
            terms.append((1.0 - self.alpha) * self.label_loss(safe_labels, y_pred, sample_weight=weight))
        terms.extend(self._aggregate_additional_loss(loss) for loss in self.student.losses)
        self._update_trackers(labels, logits, y_pred)
        return ops.sum(ops.stack(terms)) if len(terms) > 1 else terms[0]

    def _update_trackers(self, labels, logits, y_pred):
        predicted = ops.argmax(y_pred, axis=-1)
        if labels is not None:
            safe_labels, weight = _mask_unlabelled(labels, None)
            correct = ops.cast(ops.equal(predicted, ops.cast(safe_labels, predicted.dtype)), "float32")
            self.accuracy_tracker.update_state(correct, sample_weight=weight)
        if logits is not None:
            agree = ops.cast(ops.equal(predicted, ops.argmax(logits, axis=-1)), "float32")
            self.agreement_tracker.update_state(agree)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        # Our trackers were updated in compute_loss (where the teacher's logits are at hand);
        # metrics given to compile() are computed against the labels, all weighted (`compile`).
        if self._compile_metrics is not None:
            labels = y.get("label") if isinstance(y, dict) else (y if self.online else None)
            if labels is not None:
                safe_labels, weight = _mask_unlabelled(labels, sample_weight)
                self._compile_metrics.update_state(safe_labels, y_pred, weight)
        return self.get_metrics_result()

    def get_config(self):
        config = super().get_config()
        config.update(
            student=keras.saving.serialize_keras_object(self.student),
            teacher=keras.saving.serialize_keras_object(self.teacher) if self.teacher is not None else None,
            loss=self.loss_name,
            alpha=self.alpha if self.distillation_loss is not None else 0.0,
            temperature=self.temperature,
            label_smoothing=self.label_smoothing,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        if config.get("teacher") is not None:
            config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        return cls(**config)


def _as_list(metrics):
    if isinstance(metrics, dict):
        raise ValueError("the Distiller has one output: give its metrics as a list")
    return list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]


def _mask_unlabelled(labels, sample_weight):
    """Labels < 0 (unlabelled) get weight 0 and a harmless class index."""
    labels = ops.reshape(labels, (-1,))
    weight = ops.cast(ops.greater_equal(labels, 0), "float32")
    if sample_weight is not None:
        weight = weight * ops.cast(ops.reshape(sample_weight, (-1,)), "float32")
    return ops.maximum(labels, 0), weight
