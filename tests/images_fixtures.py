"""Small class-per-folder image trees and trained user teachers for the images task's tests.

scikit-learn is not a dependency, so the grey set draws its own 8x8 patterns (bars and a
diagonal, with noise) instead of scikit-learn's digits.
"""

import os

import keras
import numpy as np
from PIL import Image

GREY_CLASSES = ("diagonal", "horizontal", "vertical")
RGB_CLASSES = ("blue", "green", "red", "yellow")


def _grey_pattern(kind, rng, size=8):
    image = rng.integers(0, 60, (size, size)).astype(np.float64)
    at = rng.integers(1, size - 1)
    if kind == "horizontal":
        image[at, :] = 255
    elif kind == "vertical":
        image[:, at] = 255
    else:
        image[np.arange(size), np.arange(size)] = 255
    return image.astype(np.uint8)


def grey_tree(root, per_class=20, seed=0):
    """`train/<class>/*.png` only (no test/): 8x8 grey images of 3 classes."""
    rng = np.random.default_rng(seed)
    for kind in GREY_CLASSES:
        os.makedirs(os.path.join(root, "train", kind))
        for i in range(per_class):
            Image.fromarray(_grey_pattern(kind, rng), "L").save(os.path.join(root, "train", kind, f"{i:03d}.png"))
    return root


def _rgb_image(kind, rng, size):
    colour = {"blue": (0, 0, 220), "green": (0, 200, 0), "red": (220, 0, 0), "yellow": (220, 220, 0)}[kind]
    image = rng.integers(0, 50, (size, size, 3)).astype(np.float64)
    half = size // 2
    top, left = rng.integers(0, size - half, 2)
    image[top:top + half, left:left + half] = colour
    return image.astype(np.uint8)


def rgb_tree(root, per_class=12, test_per_class=4, size=36, seed=0):
    """`train/<class>/*.jpg` and `test/<class>/*.png`, RGB, 4 classes; a few train images at 2x the size."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("test", test_per_class)):
        for kind in RGB_CLASSES:
            os.makedirs(os.path.join(root, split, kind))
            for i in range(count):
                side = size * 2 if i % 5 == 4 else size
                name = os.path.join(root, split, kind, f"{i:03d}." + ("jpg" if split == "train" else "png"))
                Image.fromarray(_rgb_image(kind, rng, side)).save(name)
    return root


def load_tree(root, image_shape):
    """(images uint8 [N, H, W, C], labels) of `root/train`, resized to `image_shape`: a user's own data."""
    images, labels = [], []
    for label, kind in enumerate(sorted(os.listdir(os.path.join(root, "train")))):
        folder = os.path.join(root, "train", kind)
        for name in sorted(os.listdir(folder)):
            image = Image.open(os.path.join(folder, name)).convert("L" if image_shape[-1] == 1 else "RGB")
            image = np.asarray(image.resize(image_shape[1::-1]), np.uint8)
            images.append(image.reshape(image_shape))
            labels.append(label)
    return np.stack(images), np.array(labels)


def grey_teacher(path, root, epochs=3):
    """A user's small Keras model on the grey tree, ending in a softmax (probabilities), saved as .keras."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.Flatten(), keras.layers.Dense(len(GREY_CLASSES), activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = load_tree(root, (8, 8, 1))
    model.fit(x.astype("float32"), y, epochs=epochs, verbose=0)
    model.save(path)
    return path


def rgb_teachers(folder, root, size=36):
    """A `keras.applications.MobileNetV3Small` (weights=None, softmax output) trained one epoch on the
    RGB tree, saved as `.keras` and exported as a SavedModel; returns (keras path, SavedModel path)."""
    keras.utils.set_random_seed(0)
    model = keras.applications.MobileNetV3Small(
        weights=None, input_shape=(size, size, 3), classes=len(RGB_CLASSES), minimalistic=True)
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = load_tree(root, (size, size, 3))
    model.fit(x.astype("float32"), y, epochs=1, batch_size=16, verbose=0)
    keras_path, saved_path = os.path.join(folder, "teacher.keras"), os.path.join(folder, "teacher_savedmodel")
    model.save(keras_path)
    model.export(saved_path, verbose=False)
    return keras_path, saved_path
