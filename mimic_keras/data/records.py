"""TFRecord feature specs, defined once and shared by every writer and reader.

CIFAR-10 examples are `tf.train.Example`s:

    image   bytes   encoded image: PNG (lossless) or the source's own JPEG/PNG bytes
    label   int64   class index in CIFAR-10 order, or -1 for unlabelled images
    id      bytes   stable example id, e.g. b"train/00042" or b"train/cat/0042.jpg"

Records labelled by a teacher (`pipelines/label_with_teacher.py`) add:

    logits  float[num_classes]   the teacher's pre-softmax scores for this image
    view    int64                0 for the original image, v > 0 for the v-th augmented view
"""

import numpy as np
import tensorflow as tf

UNLABELLED = -1

IMAGE_FEATURES = {
    "image": tf.io.FixedLenFeature([], tf.string),
    "label": tf.io.FixedLenFeature([], tf.int64),
    "id": tf.io.FixedLenFeature([], tf.string),
}


def logits_features(num_classes):
    """Feature spec of a teacher-labelled image record (image spec plus logits and view)."""
    return {
        **IMAGE_FEATURES,
        "logits": tf.io.FixedLenFeature([num_classes], tf.float32),
        "view": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }


def _bytes(value):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _int64(value):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(value)]))


def _floats(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=np.asarray(values, np.float32).ravel()))


def image_example(image_bytes, label, example_id, logits=None, view=None):
    """Serialises one image record.

    Args:
        image_bytes: encoded image (PNG or JPEG bytes).
        label: int class index, or `UNLABELLED`.
        example_id: str or bytes, stable across runs.
        logits: optional float array of teacher logits.
        view: optional augmented-view index (0 is the original image).

    Returns:
        The serialised `tf.train.Example` as bytes.
    """
    if isinstance(example_id, str):
        example_id = example_id.encode("utf-8")
    feature = {
        "image": _bytes(image_bytes),
        "label": _int64(label),
        "id": _bytes(example_id),
    }
    if logits is not None:
        feature["logits"] = _floats(logits)
        feature["view"] = _int64(0 if view is None else view)
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def decode_image(encoded, image_shape=(32, 32, 3)):
    """Decodes PNG or JPEG bytes to a uint8 tensor of the given static shape."""
    image = tf.io.decode_image(encoded, channels=image_shape[-1], expand_animations=False)
    return tf.ensure_shape(image, image_shape)


def parse_image_example(serialized, num_classes=None, image_shape=(32, 32, 3)):
    """Parses one image record into a dict of tensors (`image` decoded to uint8).

    Args:
        serialized: a scalar string tensor.
        num_classes: when given, the record must carry teacher `logits` of this size.
        image_shape: static shape of the decoded image.
    """
    spec = IMAGE_FEATURES if num_classes is None else logits_features(num_classes)
    example = tf.io.parse_single_example(serialized, spec)
    example["image"] = decode_image(example["image"], image_shape)
    return example
