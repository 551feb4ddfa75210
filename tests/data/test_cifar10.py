"""Tests for `mimic_keras/data/cifar10.py`: reading converted records and the input pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.data import cifar10, records, writer
from tests.helpers import write_image_dir


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("images"))
    write_image_dir(out, {"train": 40, "test": 12})
    return out


def _logits_dir(out, n=20, num_classes=10, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    logits = rng.normal(size=(n, num_classes)).astype(np.float32)
    labels = np.where(np.arange(n) % 4 == 0, records.UNLABELLED, np.arange(n) % num_classes)
    recs = [
        records.image_example(tf.io.encode_png(images[i]).numpy(), int(labels[i]), f"train/{i:05d}", logits=logits[i])
        for i in range(n)
    ]
    shards = writer.write_shards(out, "train", recs, 2)
    writer.write_manifest(out, {"classes": list(cifar10.CLASSES), "splits": {"train": {"count": n, "shards": shards}}})
    return images, labels, logits


def test_load_split_decodes_uint8_images_with_labels_and_ids(image_dir):
    examples = list(cifar10.load_split(image_dir, "train").as_numpy_iterator())
    assert len(examples) == cifar10.num_examples(image_dir, "train") == 40
    assert all(ex["image"].shape == (32, 32, 3) and ex["image"].dtype == np.uint8 for ex in examples)
    assert sorted(ex["id"] for ex in examples) == [f"train/{i:05d}".encode() for i in range(40)]
    assert {int(ex["label"]) for ex in examples} <= set(range(10))


def test_input_pipeline_batches_uint8_images_and_int_labels(image_dir):
    ds = cifar10.input_pipeline(cifar10.load_split(image_dir, "train"), batch_size=16)
    batches = list(ds.as_numpy_iterator())
    assert [len(x) for x, _ in batches] == [16, 16, 8]
    x, y = batches[0]
    assert x.shape == (16, 32, 32, 3) and x.dtype == np.uint8
    assert y.shape == (16,) and y.dtype == np.int64
    dropped = cifar10.input_pipeline(cifar10.load_split(image_dir, "train"), 16, training=True, drop_remainder=True)
    assert [len(x) for x, _ in dropped.as_numpy_iterator()] == [16, 16]


def test_evaluation_pipeline_keeps_images_and_order(image_dir):
    originals = np.stack([ex["image"] for ex in cifar10.load_split(image_dir, "test").as_numpy_iterator()])
    ds = cifar10.input_pipeline(cifar10.load_split(image_dir, "test"), batch_size=5, augmentation=True)
    np.testing.assert_array_equal(np.concatenate([x for x, _ in ds.as_numpy_iterator()]), originals)


def test_augmentation_keeps_shape_and_changes_pixels(image_dir):
    originals = {ex["image"].tobytes() for ex in cifar10.load_split(image_dir, "train").as_numpy_iterator()}
    ds = cifar10.input_pipeline(cifar10.load_split(image_dir, "train"), 8, training=True, augmentation=True, seed=1)
    augmented = np.concatenate([x for x, _ in ds.as_numpy_iterator()])
    assert augmented.shape == (40, 32, 32, 3) and augmented.dtype == np.uint8
    unchanged = sum(image.tobytes() in originals for image in augmented)
    assert unchanged < 10  # identity crop and no flip: 1/162 of draws

    image = tf.constant(np.arange(32 * 32 * 3, dtype=np.int64).reshape(32, 32, 3) % 251, tf.uint8)
    seed = tf.constant([3, 4], tf.int64)
    first, again = cifar10.augment(image, seed=seed), cifar10.augment(image, seed=seed)
    assert first.shape == (32, 32, 3) and first.dtype == tf.uint8
    np.testing.assert_array_equal(first, again)


def test_distill_target_yields_logits_and_labels(tmp_path):
    images, labels, logits = _logits_dir(str(tmp_path))
    ds = cifar10.load_split(str(tmp_path), "train", num_classes=10)
    got_x, got_logits, got_labels = [], [], []
    for x, y in cifar10.input_pipeline(ds, batch_size=8, target="distill").as_numpy_iterator():
        assert set(y) == {"logits", "label"} and y["logits"].dtype == np.float32 and y["logits"].shape[1:] == (10,)
        got_x.append(x), got_logits.append(y["logits"]), got_labels.append(y["label"])
    # Two shards, interleaved: compare as sets keyed by image bytes.
    written = {images[i].tobytes(): (logits[i], labels[i]) for i in range(len(images))}
    got_x, got_logits, got_labels = map(np.concatenate, (got_x, got_logits, got_labels))
    assert len(got_x) == len(images)
    for x, lg, lab in zip(got_x, got_logits, got_labels):
        np.testing.assert_array_equal(lg, written[x.tobytes()][0])
        assert lab == written[x.tobytes()][1]
    assert (got_labels == records.UNLABELLED).sum() == 5


def test_input_pipeline_rejects_unknown_target(image_dir):
    with pytest.raises(ValueError, match="target"):
        cifar10.input_pipeline(cifar10.load_split(image_dir, "train"), 4, target="probs")
