"""Loading trained teachers (and ensembles of them) from `.keras` files or SavedModels.

A teacher is any model from one input (CIFAR's uint8 images, TIMIT's float context windows,
whatever its file says) to logits: nothing here assumes a dataset.
"""

import hashlib
import os

import keras
import numpy as np
import tensorflow as tf

# Registers the custom layers of the teachers we build (MelMaps), so that every `.keras`
# teacher loads here whichever modules the caller imported.
from mimic_keras.models import speech_teachers  # noqa: F401


def model_fingerprint(path):
    """sha256 over a `.keras` file, or over a SavedModel folder's files (sorted by name)."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for root, _, files in sorted(os.walk(path)):
            for name in sorted(files):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode())
                with open(full, "rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        digest.update(block)
    else:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def serving_input_spec(path):
    """The one input of a SavedModel's `serving_default` signature.

    Args:
        path: a SavedModel folder.

    Returns:
        A `tf.TensorSpec` with the batch dimension first, and the input's name.

    Raises:
        ValueError: no `serving_default` signature, or one with more than one input.

    Example:
    ```python
    serving_input_spec("saved_models/cifar10-mimic/1")
    # TensorSpec(shape=(None, 32, 32, 3), dtype=tf.uint8, name='images')
    ```
    """
    signatures = tf.saved_model.load(path).signatures
    if "serving_default" not in signatures:
        raise ValueError(f"{path}: no serving_default signature ({sorted(signatures)})")
    args, kwargs = signatures["serving_default"].structured_input_signature
    specs = {**{spec.name: spec for spec in args}, **kwargs}
    if len(specs) != 1:
        raise ValueError(f"{path}: serving_default takes {len(specs)} inputs ({sorted(specs)}); a teacher takes one")
    ((name, spec),) = specs.items()
    return tf.TensorSpec(spec.shape, spec.dtype, name=spec.name or name)


def load_teacher(path):
    """Loads one teacher as a callable `inputs -> logits` Keras model.

    A `.keras` file keeps its own input. A SavedModel is wrapped in a Keras model whose input
    has the shape, dtype and name of its `serving_default` signature's one input (uint8
    `[B, 32, 32, 3]` images for a CIFAR teacher, float32 `[B, 1845]` windows for a TIMIT one).

    Args:
        path: a `.keras` file, or a SavedModel folder (as written by `mimic_keras.export` or
            `model.export`) whose `serving_default` returns logits: a `logits` output, or
            its only one.

    Returns:
        A `keras.Model`.

    Raises:
        FileNotFoundError: no such path.
        ValueError: a folder that is not a SavedModel, or whose signature does not fit.

    Example:
    ```python
    teacher = load_teacher("saved_models/timit-teacher/1")
    teacher.input.shape  # (None, 1845)
    ```
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such teacher model")
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"{path}: a folder but not a SavedModel (no saved_model.pb)")
        spec = serving_input_spec(path)
        layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
        inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name, name=spec.name)
        outputs = layer(inputs)
        if isinstance(outputs, dict):
            if "logits" in outputs:
                outputs = outputs["logits"]
            elif len(outputs) == 1:  # `model.export`'s single `output_0`
                (outputs,) = outputs.values()
            else:
                raise ValueError(f"{path}: serving_default has no 'logits' output ({sorted(outputs)})")
        return keras.Model(inputs, outputs, name=os.path.basename(os.path.normpath(path)))
    return keras.saving.load_model(path, compile=False)


@keras.saving.register_keras_serializable(package="mimic_keras")
class Ensemble(keras.Model):
    """One model whose logits are the mean of its members' logits (in float32), as `TeacherSet` computes them.

    A run's teachers scored as one model, the ensemble whose logits the label stage wrote.
    Members may share a name (the CNN teachers of three seeds), which a functional graph
    around `keras.layers.Average` refuses.

    Args:
        members: Keras models from the same input to logits of the same shape.

    Example:
    ```python
    ensemble = TeacherSet(["runs/a/teacher/teacher_1/model.keras", "runs/b/teacher/teacher_1/model.keras"]).model()
    ensemble.predict(windows)  # the two CNNs' mean logits
    ```
    """

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = list(members)
        self.built = all(m.built for m in self.members)

    def call(self, inputs, training=False):
        logits = [keras.ops.cast(m(inputs, training=training), "float32") for m in self.members]
        return keras.ops.mean(keras.ops.stack(logits), axis=0)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "members": [keras.saving.serialize_keras_object(m) for m in self.members]}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        members = [keras.saving.deserialize_keras_object(m) for m in config.pop("members")]
        return cls(members, **config)


class TeacherSet:
    """One teacher or an ensemble (logits averaged), with a fingerprint naming exactly which.

    Args:
        paths: list of model paths (one for a single teacher).
    """

    def __init__(self, paths):
        if not paths:
            raise ValueError("no teacher given")
        self.paths = [os.path.abspath(p) for p in paths]
        self.models = [load_teacher(p) for p in self.paths]
        self.hashes = [model_fingerprint(p) for p in self.paths]
        shapes = {tuple(m.output.shape[1:]) for m in self.models}
        if len(shapes) != 1:
            raise ValueError(f"teachers disagree on output shape: {sorted(shapes)}")
        (self.output_shape,) = shapes

    @property
    def fingerprint(self):
        return hashlib.sha256("".join(sorted(self.hashes)).encode()).hexdigest()

    @property
    def num_classes(self):
        return int(self.output_shape[-1])

    def __call__(self, inputs):
        """Mean logits of the members for a batch of inputs (NumPy in, NumPy out)."""
        logits = [np.asarray(m(inputs, training=False), np.float32) for m in self.models]
        return np.mean(logits, axis=0)

    def model(self):
        """The teachers as one Keras model: the only one, or their `Ensemble`."""
        return self.models[0] if len(self.models) == 1 else Ensemble(self.models, name="ensemble")

    def describe(self):
        return {"paths": self.paths, "sha256": self.hashes, "fingerprint": self.fingerprint}
