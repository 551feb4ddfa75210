"""The clusters dataset's records: one `tf.train.Example` per vector, read back as tf.data.

    features  float[D]   the vector (D is the manifest's `feature_dim`)
    label     int64      class index
    id        bytes      stable id, e.g. b"train/0007"

Labelled records add `logits` float[num_classes].
"""

import numpy as np
import tensorflow as tf

from mimic_keras.data import writer
from mimic_keras.data.manifest import Manifest


def example(features, label, example_id, logits=None):
    """One serialised record."""
    feature = {
        "features": tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(features, np.float32))),
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
        "id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[example_id.encode()])),
    }
    if logits is not None:
        feature["logits"] = tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(logits, np.float32)))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def load_split(folder, split, num_classes=None):
    """A split as a dataset of dicts `features`, `label`, `id` (and `logits` given `num_classes`)."""
    spec = {
        "features": tf.io.FixedLenFeature([Manifest.read(folder).get("feature_dim")], tf.float32),
        "label": tf.io.FixedLenFeature([], tf.int64),
        "id": tf.io.FixedLenFeature([], tf.string),
    }
    if num_classes is not None:
        spec["logits"] = tf.io.FixedLenFeature([num_classes], tf.float32)
    return tf.data.TFRecordDataset(writer.split_files(folder, split)).map(
        lambda s: tf.io.parse_single_example(s, spec))


def load_arrays(folder, split, num_classes=None):
    """A split as numpy arrays (`features`, `label`, `id`, maybe `logits`), in file order."""
    batches = list(load_split(folder, split, num_classes).batch(1024).as_numpy_iterator())
    return {key: np.concatenate([b[key] for b in batches]) for key in batches[0]}


def batches(ds, batch_size, target="label", training=False, seed=None):
    """Batches of `(features, label)`, or `(features, {"logits", "label"})` with `target="distill"`."""
    if training:
        ds = ds.shuffle(10_000, seed=seed)
    if target == "label":
        ds = ds.map(lambda ex: (ex["features"], ex["label"]))
    else:
        ds = ds.map(lambda ex: (ex["features"], {"logits": ex["logits"], "label": ex["label"]}))
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
