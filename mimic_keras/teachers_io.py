"""Loading trained teachers (and ensembles of them) from `.keras` files or SavedModels."""

import hashlib
import os

import keras
import numpy as np


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


def load_teacher(path):
    """Loads one teacher as a callable `images -> logits` Keras model.

    Args:
        path: a `.keras` file, or a SavedModel folder (as written by `mimic_keras.export`)
            whose `serving_default` signature returns `logits`.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such teacher model")
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"{path}: a folder but not a SavedModel (no saved_model.pb)")
        layer = keras.layers.TFSMLayer(path, call_endpoint="serving_default")
        inputs = keras.Input(shape=(32, 32, 3), dtype="uint8", name="images")
        outputs = layer(inputs)
        if isinstance(outputs, dict):
            if "logits" not in outputs:
                raise ValueError(f"{path}: serving_default has no 'logits' output ({sorted(outputs)})")
            outputs = outputs["logits"]
        return keras.Model(inputs, outputs, name=os.path.basename(os.path.normpath(path)))
    return keras.saving.load_model(path, compile=False)


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

    def __call__(self, images):
        """Mean logits of the members for a batch of images (NumPy in, NumPy out)."""
        logits = [np.asarray(m(images, training=False), np.float32) for m in self.models]
        return np.mean(logits, axis=0)

    def describe(self):
        return {"paths": self.paths, "sha256": self.hashes, "fingerprint": self.fingerprint}
