"""Shared test helpers: tiny image record folders and Keras round-trip checks."""

import os

import keras
import numpy as np
import tensorflow as tf

from mimic_keras.data import cifar10, records, writer


def toy_images(n, seed=0, num_classes=10):
    """Learnable toy images: each class has its own mean colour, plus noise. Returns (x, y)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, n)
    means = np.linspace(20, 235, num_classes)
    x = rng.normal(means[labels][:, None, None, None], 25.0, (n, 32, 32, 3))
    x[:, :, :16, 0] += (labels % 2 == 0)[:, None, None] * 40  # a spatial cue too
    return np.clip(x, 0, 255).astype(np.uint8), labels.astype(np.int64)


def write_image_dir(out_dir, sizes, seed=0):
    """Writes a converted-CIFAR-like folder (shards + manifest) of toy images.

    Args:
        out_dir: target folder.
        sizes: {split: count}, e.g. {"train": 64, "validation": 16, "test": 16}.
    """
    manifest = {"dataset": "cifar10", "classes": list(cifar10.CLASSES), "image_shape": [32, 32, 3],
                "fingerprint": f"toy-{seed}", "splits": {}}
    for i, (split, n) in enumerate(sizes.items()):
        x, y = toy_images(n, seed=seed + i)
        if split == "unlabelled":
            y = np.full_like(y, records.UNLABELLED)
        recs = [records.image_example(tf.io.encode_png(img).numpy(), int(lab), f"{split}/{j:05d}")
                for j, (img, lab) in enumerate(zip(x, y))]
        shards = writer.write_shards(out_dir, split, recs, 2 if n >= 32 else 1)
        manifest["splits"][split] = {"count": n, "shards": shards}
    writer.write_manifest(out_dir, manifest)
    return manifest


def save_tiny_teachers(root, count=2):
    """Saves `count` tiny CIFAR convnet teachers (seeds 0, 1, ...) as `root/teacher_<i>.keras`; returns the paths."""
    from mimic_keras.config import TeacherConfig
    from mimic_keras.models.convnet import build_teacher

    paths = []
    for i in range(count):
        keras.utils.set_random_seed(i)
        teacher = build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,)), name=f"teacher_{i}")
        paths.append(os.path.join(str(root), f"teacher_{i}.keras"))
        teacher.save(paths[-1])
    return paths


def run_serialization_test(model, inputs, tmp_path, atol=1e-6):
    """Saves `model` to .keras, reloads it, and checks the outputs match. Returns the reloaded model."""
    os.makedirs(tmp_path, exist_ok=True)
    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(
        np.asarray(restored(inputs, training=False)), np.asarray(model(inputs, training=False)), atol=atol
    )
    return restored


# The quick preset shrunk to seconds (tests/conftest.py `tiny_run`).
TINY = [
    "data.limit=None", "data.val_size=40", "data.views=1",
    "teacher.conv_filters=(8,)", "teacher.dense_units=(16,)", "teacher.num_teachers=2",
    "mimic.conv_filters=4", "mimic.bottleneck=8", "mimic.hidden=32",
    "teacher_train.epochs=2", "mimic_train.epochs=3", "control_train.epochs=2",
    "teacher_train.batch_size=64", "mimic_train.batch_size=64", "control_train.batch_size=64",
]


def image_tree(root, n_train=200, n_test=60):
    """A class-per-folder PNG tree, the form users have after unpacking an image copy."""
    for split, n, seed in (("train", n_train, 0), ("test", n_test, 1)):
        x, y = toy_images(n, seed=seed)
        for i, (img, label) in enumerate(zip(x, y)):
            folder = os.path.join(root, split, cifar10.CLASSES[label])
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"{i:04d}.png"), "wb") as f:
                f.write(tf.io.encode_png(img).numpy())
    return root
