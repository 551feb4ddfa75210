"""One CIFAR-10 image as record bytes: checked to be 32x32 RGB, its own JPEG/PNG bytes kept, else PNG.

Raw pixels (official releases, TFDS) become lossless PNG; JPEG and PNG files that already are
32x32 RGB keep their bytes (decoded once to check the shape); GIF and BMP are re-encoded as
PNG; other sizes are refused, or resized with `resize=True`.
"""

import tensorflow as tf

from mimic_keras.data.cifar10 import IMAGE_SHAPE
from pipelines import cifar10_sources as sources
from pipelines.cifar10_sources import SourceError

_MAGIC = ((b"\xff\xd8\xff", "jpeg"), (b"\x89PNG\r\n\x1a\n", "png"), (b"GIF8", "gif"), (b"BM", "bmp"))


def _to_rgb(image):
    channels = image.shape[-1]
    if channels in (1, 2):  # grey, grey + alpha
        return tf.image.grayscale_to_rgb(image[..., :1])
    return image[..., :3]  # drops alpha


def encode(example, resize=False):
    """The record's image bytes and their encoding (`png`, `jpeg`), checked to be 32x32 RGB."""
    if example.pixels is not None:
        if example.pixels.shape != IMAGE_SHAPE:
            raise SourceError(f"{example.where}: pixels of shape {example.pixels.shape}, expected {IMAGE_SHAPE}")
        return tf.io.encode_png(example.pixels).numpy(), "png"
    data = example.encoded()
    kind = next((k for magic, k in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        raise SourceError(f"{example.where}: not a JPEG, PNG, GIF or BMP image")
    try:
        image = tf.io.decode_image(data, expand_animations=False)
    except tf.errors.OpError as e:
        raise SourceError(f"{example.where}: cannot decode {kind} ({sources.first_line(e.message)})") from None
    if tuple(image.shape) == IMAGE_SHAPE:
        if kind in ("jpeg", "png"):
            return data, kind
        return tf.io.encode_png(image).numpy(), "png"
    if not resize:
        h, w, c = image.shape
        raise SourceError(
            f"{example.where}: image is {h}x{w} with {c} channel(s), expected 32x32 RGB (--resize converts)"
        )
    image = tf.image.resize(_to_rgb(image), IMAGE_SHAPE[:2], method="bilinear", antialias=True)
    image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.io.encode_png(image).numpy(), "png"
