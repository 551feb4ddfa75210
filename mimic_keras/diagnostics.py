"""What a shallow net's hidden layer does during training, logged next to the loss.

`HiddenUnitStats` runs a fixed probe batch (validation examples) through the student after
every epoch and adds to the epoch's logs (so to `log.csv`, `history.json` and TensorBoard):

    hidden_active   mean fraction of the ReLU units that fire for an example
    hidden_dead     fraction of units that fire for no probe example
    hidden_mean     mean activation
    hidden_top1     mean share of an example's total activation held by its strongest unit

The paper asks how the training of a mimic and of a label-trained net differ; these numbers
give a simple view of it.
"""

import keras
import numpy as np

STATS = ("hidden_active", "hidden_dead", "hidden_mean", "hidden_top1")


def hidden_unit_stats(activations):
    """The statistics above for a (examples, units) array of post-ReLU activations."""
    a = np.asarray(activations, dtype=np.float32)
    fires = a > 0
    total = a.sum(axis=1)
    top1 = np.where(total > 0, a.max(axis=1) / np.maximum(total, 1e-12), 0.0)
    return {
        "hidden_active": float(fires.mean()),
        "hidden_dead": float(1.0 - fires.any(axis=0).mean()),
        "hidden_mean": float(a.mean()),
        "hidden_top1": float(top1.mean()),
    }


def probe_inputs(dataset, count=1024):
    """The first `count` inputs of a batched `(inputs, targets)` dataset, as one array."""
    parts, seen = [], 0
    for inputs, _ in dataset:
        parts.append(np.asarray(inputs))
        seen += len(parts[-1])
        if seen >= count:
            break
    if not parts:
        raise ValueError("the probe dataset is empty")
    return np.concatenate(parts)[:count]


class HiddenUnitStats(keras.callbacks.Callback):
    """Adds `STATS` of `student`'s layer `layer_name` on `probe` to each epoch's logs.

    Place it before loggers (CSVLogger, TensorBoard) in the callback list so they see the keys.

    Args:
        student: the model whose layer is probed (the `Distiller`'s student, or the model).
        probe: an array of inputs (see `probe_inputs`).
        layer_name: the hidden ReLU layer.
    """

    def __init__(self, student, probe, layer_name="hidden"):
        super().__init__()
        self.probe = probe
        layer = student.get_layer(layer_name)
        self._features = keras.Model(student.inputs, layer.output)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        activations = self._features.predict(self.probe, batch_size=256, verbose=0)
        logs.update(hidden_unit_stats(activations))


def hidden_stats_callbacks(student, val_ds, layer_name="hidden", count=1024):
    """[HiddenUnitStats] when `student` has `layer_name` and there is validation data, else []."""
    if val_ds is None or layer_name not in {layer.name for layer in student.layers}:
        return []
    return [HiddenUnitStats(student, probe_inputs(val_ds, count), layer_name)]
