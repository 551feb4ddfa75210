"""CIFAR-10 input pipelines over the TFRecords written by `pipelines/cifar10_to_tfrecord.py`.

Pixel scaling happens in the model, never here: pipelines yield uint8 images in [0, 255] and
every model in `mimic_keras.models` starts with a `Rescaling` layer. That keeps exported
SavedModels taking raw uint8 images, as TF Serving clients send them.
"""

import tensorflow as tf

from mimic_keras.data import records, writer
from mimic_keras.data.manifest import Manifest

AUTOTUNE = tf.data.AUTOTUNE

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
IMAGE_SHAPE = (32, 32, 3)


def load_split(data_dir, split, num_classes=None, max_view=None, mixup_views=None):
    """Reads one split's records as a dataset of dicts (`image` uint8, `label`, `id`[, `logits`]).

    Args:
        data_dir: a folder with `manifest.json` and shards (converted or teacher-labelled).
        split: `train`, `validation`, `test` or `unlabelled`.
        num_classes: pass it for teacher-labelled folders: records then carry `logits`.
        max_view: keep only records whose view index is at most this (0: the original
            images only), or in `mixup_views`; filtered before the image is decoded.
        mixup_views: with `max_view`, an inclusive `(first, last)` range of view indices also
            kept: the transfer set's mixup images (`pipelines/label_with_teacher.py`).

    Returns:
        A `tf.data.Dataset` in file order (deterministic), decoded in parallel.
    """
    files = writer.split_files(data_dir, split)
    image_shape = image_shape_of(data_dir)
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=AUTOTUNE if len(files) > 1 else None)
    if mixup_views is not None and max_view is None:
        raise ValueError("mixup_views selects records only together with max_view")
    if max_view is not None:
        first, last = mixup_views or (1, 0)
        view_spec = {"view": tf.io.FixedLenFeature([], tf.int64, default_value=0)}

        def keep(serialized):
            view = tf.io.parse_single_example(serialized, view_spec)["view"]
            return (view <= max_view) | ((view >= first) & (view <= last))

        ds = ds.filter(keep)
    return ds.map(
        lambda s: records.parse_image_example(s, num_classes=num_classes, image_shape=image_shape),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )


def image_shape_of(data_dir):
    """The (H, W, C) of a folder's images, from its manifest (CIFAR-10's when it does not say)."""
    return tuple(Manifest.read(data_dir).get("image_shape", IMAGE_SHAPE))


def augment(image, seed=None, pad=4):
    """Random crop after `pad`-pixel zero padding, then a random horizontal flip (uint8 in, out)."""
    shape = tuple(image.shape)
    height, width, _ = shape
    image = tf.image.pad_to_bounding_box(image, pad, pad, height + 2 * pad, width + 2 * pad)
    if seed is None:
        image = tf.image.random_crop(image, shape)
        return tf.image.random_flip_left_right(image)
    image = tf.image.stateless_random_crop(image, shape, seed=seed)
    return tf.image.stateless_random_flip_left_right(image, seed=seed + 1)


def input_pipeline(
    ds,
    batch_size,
    training=False,
    augmentation=False,
    target="label",
    shuffle_buffer=10_000,
    seed=None,
    drop_remainder=False,
):
    """Turns a split dataset into batches of `(images, targets)` for `fit` / `evaluate`.

    Args:
        ds: a dataset from `load_split`.
        batch_size: the global batch size (per replica × replicas).
        training: shuffle (and repeat-free: Keras counts epochs from the data).
        augmentation: random crop + flip, applied only when `training`.
        target: `"label"` yields integer labels (the control and teachers);
            `"distill"` yields `{"logits", "label"}` dicts for the `Distiller`
            (label is -1 for unlabelled images).
        shuffle_buffer: elements in the shuffle buffer.
        seed: shuffle seed, for reproducible order.
        drop_remainder: drop a last partial batch (needed for some strategies).

    Returns:
        A batched, prefetched `tf.data.Dataset`.
    """
    if target not in ("label", "distill"):
        raise ValueError(f"target must be 'label' or 'distill', got {target!r}")
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)

    def to_pair(ex):
        image = ex["image"]
        if training and augmentation:
            image = augment(image)
        if target == "label":
            return image, ex["label"]
        return image, {"logits": ex["logits"], "label": ex["label"]}

    ds = ds.map(to_pair, num_parallel_calls=AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def num_examples(data_dir, split):
    """Number of examples in a split, from the manifest (checked against its shards)."""
    writer.split_files(data_dir, split)
    return Manifest.read(data_dir).splits[split].count
