"""TFRecord feature specs, defined once and shared by every writer and reader.

CIFAR-10 examples are `tf.train.Example`s:

    image   bytes   encoded image: PNG (lossless) or the source's own JPEG/PNG bytes
    label   int64   class index in CIFAR-10 order, or -1 for unlabelled images
    id      bytes   stable example id, e.g. b"train/00042" or b"train/cat/0042.jpg"

Records labelled by a teacher (`pipelines/label_with_teacher.py`) add:

    logits  float[num_classes]   the teacher's pre-softmax scores for this image
    view    int64                0 for the original image, 1..N its augmented views, then
                                 N+1..N+M its mixup images (label -1; see the labelling job)

Records are serialised deterministically (feature-map keys sorted): protobuf's map order
otherwise changes from process to process, so the same record would get other bytes in another
run or on another Beam worker, and its shard another sha256.
"""

import numpy as np
import tensorflow as tf

from mimic_keras import timit_layout

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
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString(deterministic=True)


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


# --- TIMIT -------------------------------------------------------------------------------------
# One `tf.train.SequenceExample` per utterance (`pipelines/timit_to_tfrecord.py`):
#
#   context        id         bytes      utterance id, "<SPEAKER>_<UTT>", e.g. b"FCJF0_SX127"
#                  speaker    bytes      speaker id, e.g. b"FCJF0"
#                  phones     int64[P]   the .PHN transcription as 61-set phone indices (the
#                                        reference for phone error rates, the bigram's text)
#                  speed      float      speed-perturbation factor (absent: 1, the original
#                                        audio); perturbed copies have no transcription
#   feature lists  features   float[123] per frame, unnormalised (`mimic_keras.data.features`)
#                  state      int64      per frame, state id = 3 × phone index + state (0-182);
#                                        -1 (unknown) in the unlabelled, perturbed copies
#
# Records labelled by a teacher (the TIMIT labelling job) are the same record plus
#
#   feature lists  logits     float[183] per frame, the teacher's pre-softmax scores
#
# Normalisation statistics live in the manifest, not in the records.

TIMIT_CONTEXT_FEATURES = {
    "id": tf.io.FixedLenFeature([], tf.string),
    "speaker": tf.io.FixedLenFeature([], tf.string),
    "phones": tf.io.VarLenFeature(tf.int64),
    "speed": tf.io.FixedLenFeature([], tf.float32, default_value=1.0),
}


def timit_sequence_features(with_logits=False):
    """Feature-list spec of a TIMIT utterance record (with the teacher's `logits` if asked)."""
    spec = {
        "features": tf.io.FixedLenSequenceFeature([timit_layout.FEATURE_DIM], tf.float32),
        "state": tf.io.FixedLenSequenceFeature([], tf.int64),
    }
    if with_logits:
        spec["logits"] = tf.io.FixedLenSequenceFeature([timit_layout.NUM_STATES], tf.float32)
    return spec


def _float_list(values):
    return tf.train.FeatureList(feature=[tf.train.Feature(float_list=tf.train.FloatList(value=row)) for row in values])


def timit_example(features, states, utterance_id, speaker, phones, logits=None, speed=None):
    """Serialises one TIMIT utterance.

    Args:
        features: float array `[T, 123]`.
        states: int array `[T]` of state ids (-1: unknown).
        utterance_id: str, e.g. "FCJF0_SX127".
        speaker: str speaker id.
        phones: int array `[P]` of 61-set phone indices (the transcription).
        logits: optional float array `[T, 183]` of teacher logits.
        speed: the speed-perturbation factor of a perturbed copy (None: the original).

    Returns:
        The serialised `tf.train.SequenceExample` as bytes.
    """
    features = np.asarray(features, np.float32)
    states = np.asarray(states, np.int64)
    if features.ndim != 2 or features.shape[1] != timit_layout.FEATURE_DIM or len(states) != len(features):
        raise ValueError(f"{utterance_id}: features {features.shape} and states {states.shape} do not match [T, 123], [T]")
    context = {
        "id": _bytes(utterance_id.encode("utf-8")),
        "speaker": _bytes(speaker.encode("utf-8")),
        "phones": tf.train.Feature(int64_list=tf.train.Int64List(value=np.asarray(phones, np.int64))),
    }
    if speed is not None:
        context["speed"] = tf.train.Feature(float_list=tf.train.FloatList(value=[speed]))
    context = tf.train.Features(feature=context)
    lists = {
        "features": _float_list(features),
        "state": tf.train.FeatureList(feature=[tf.train.Feature(int64_list=tf.train.Int64List(value=[s])) for s in states]),
    }
    example = tf.train.SequenceExample(context=context, feature_lists=tf.train.FeatureLists(feature_list=lists))
    if logits is not None:
        return timit_logits_example(example.SerializeToString(), logits)
    return example.SerializeToString(deterministic=True)


def timit_logits_example(serialized, logits):
    """Adds a teacher's per-frame `logits` `[T, 183]` to a serialised TIMIT utterance record.

    This is what a labelling job writes: the source record unchanged, plus the `logits` list.

    Example:
        >>> labelled = timit_logits_example(record, teacher(windows))  # doctest: +SKIP
    """
    example = tf.train.SequenceExample.FromString(bytes(serialized))
    logits = np.asarray(logits, np.float32)
    num_frames = len(example.feature_lists.feature_list["state"].feature)
    if logits.shape != (num_frames, timit_layout.NUM_STATES):
        uid = example.context.feature["id"].bytes_list.value[0].decode()
        raise ValueError(f"{uid}: logits of shape {logits.shape}, expected ({num_frames}, {timit_layout.NUM_STATES})")
    example.feature_lists.feature_list["logits"].CopyFrom(_float_list(logits))
    return example.SerializeToString(deterministic=True)


def parse_timit_example(serialized, with_logits=False):
    """Parses one TIMIT utterance record.

    Returns:
        A dict: `id`, `speaker` (string scalars), `speed` (float32 scalar, 1 for original
        audio), `phones` int32 `[P]`, `features` float32 `[T, 123]`, `state` int32 `[T]`, and
        `logits` float32 `[T, 183]` when `with_logits`.
    """
    context, lists = tf.io.parse_single_sequence_example(
        serialized, TIMIT_CONTEXT_FEATURES, timit_sequence_features(with_logits)
    )
    out = {
        "id": context["id"],
        "speaker": context["speaker"],
        "speed": context["speed"],
        "phones": tf.cast(tf.sparse.to_dense(context["phones"]), tf.int32),
        "features": lists["features"],
        "state": tf.cast(lists["state"], tf.int32),
    }
    if with_logits:
        out["logits"] = lists["logits"]
    return out


def parse_timit_speed(serialized):
    """The `speed` factor of a TIMIT utterance record, from its context alone (cheap, for filters)."""
    context, _ = tf.io.parse_single_sequence_example(serialized, {"speed": TIMIT_CONTEXT_FEATURES["speed"]})
    return context["speed"]
