"""Images/s of the CIFAR-10 training input pipeline from TFRecords vs. in-memory baselines.

    python bench/cifar10_pipeline.py [--data cache/cifar10] [--batch-size 128] [--batches 200]

All three feed the same thing, augmented (pad 4 + random crop + flip) uint8 batches of the
`train` split, shuffled:

    tfrecord   `input_pipeline(load_split(DIR, "train"), training=True, augmentation=True)`:
               read shards, parse, decode JPEG/PNG, shuffle, augment, batch (what `fit` uses)
    tf.data    the same `input_pipeline` over `from_tensor_slices` of the decoded NumPy arrays
    numpy      a plain NumPy loop: permutation, vectorised crop offsets and flips per batch

plus `tfrecord` with `.cache()` after decoding, timed from its second epoch on (what an
in-memory cache of the decoded split would buy).
and the ratios are from this one run, on this machine. Without `--data`, a small synthetic
set is converted into a temporary folder first.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mimic_keras.data import cifar10, writer  # noqa: E402


def synthetic_source(root, train=2000, test=200, seed=0):
    """A PNG class-per-folder tree of random images; returns its path."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", train), ("test", test)):
        for i in range(n):
            path = os.path.join(root, split, cifar10.CLASSES[i % 10], f"{i:05d}.png")
            os.makedirs(os.path.dirname(path), exist_ok=True)
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            with open(path, "wb") as f:
                f.write(tf.io.encode_png(image).numpy())
    return root


def images_per_second(batches, warmup, measured):
    """Pulls `warmup` batches, then times `measured` batches; returns images/s."""
    it = iter(batches)
    for _ in range(warmup):
        next(it)
    count, start = 0, time.perf_counter()
    for _ in range(measured):
        count += len(next(it)[0])
    return count / (time.perf_counter() - start)


def numpy_batches(x, y, batch_size, seed=0, pad=4):
    """Endless shuffled, augmented batches with NumPy only (the same crop + flip as `augment`)."""
    rng = np.random.default_rng(seed)
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    rows = np.arange(32)
    while True:
        order = rng.permutation(len(x))
        for start in range(0, len(x) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            dy, dx = rng.integers(0, 2 * pad + 1, (2, len(idx)))
            ys = (dy[:, None] + rows)[:, :, None]
            xs = (dx[:, None] + rows)[:, None, :]
            flip = rng.random(len(idx)) < 0.5
            xs = np.where(flip[:, None, None], xs[:, :, ::-1], xs)
            yield padded[idx[:, None, None], ys, xs], y[idx]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="converted folder (manifest.json + shards); default: a synthetic one")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=200, help="batches timed per pipeline")
    parser.add_argument("--warmup", type=int, default=20, help="batches pulled before timing (fills shuffle buffers)")
    args = parser.parse_args(argv)

    tmp = None
    data = args.data
    if data is None:
        from pipelines.cifar10_to_tfrecord import convert

        tmp = tempfile.TemporaryDirectory()
        data = os.path.join(tmp.name, "records")
        convert(synthetic_source(os.path.join(tmp.name, "src")), data, val_size=200, verbose=False)
    manifest = writer.read_manifest(data)

    start = time.perf_counter()
    chunks = list(cifar10.load_split(data, "train").batch(1024).as_numpy_iterator())
    x = np.concatenate([c["image"] for c in chunks])
    y = np.concatenate([c["label"] for c in chunks])
    decode_s = time.perf_counter() - start
    del chunks

    def tfrecord():
        ds = cifar10.load_split(data, "train")
        return cifar10.input_pipeline(ds, args.batch_size, training=True, augmentation=True, seed=0).repeat()

    def tfrecord_cached():
        ds = cifar10.load_split(data, "train").cache()  # decoded uint8 kept after the first epoch
        return cifar10.input_pipeline(ds, args.batch_size, training=True, augmentation=True, seed=0).repeat()

    def in_memory():
        ds = tf.data.Dataset.from_tensor_slices({"image": x, "label": y})
        return cifar10.input_pipeline(ds, args.batch_size, training=True, augmentation=True, seed=0).repeat()

    rates = {
        "tfrecord": images_per_second(tfrecord(), args.warmup, args.batches),
        # Warm-up = one whole epoch, so the timed batches come from the cache.
        "tfrecord+cache": images_per_second(
            tfrecord_cached(), -(-len(x) // args.batch_size) + args.warmup, args.batches
        ),
        "tf.data": images_per_second(in_memory(), args.warmup, args.batches),
        "numpy": images_per_second(numpy_batches(x, y, args.batch_size), args.warmup, args.batches),
    }
    print(f"data: {os.path.abspath(data)} ({len(x)} train images, {manifest.get('image_encoding')}); "
          f"batch {args.batch_size}, {args.batches} batches timed after {args.warmup}; "
          f"{os.cpu_count()} CPUs visible; TF {tf.__version__}")
    print(f"decode the split once into NumPy: {decode_s:.1f} s ({len(x) / decode_s:,.0f} images/s)")
    labels = {
        "tfrecord": "tfrecord pipeline (read + decode + shuffle + augment)",
        "tfrecord+cache": "same, with .cache() after decoding (2nd epoch on)",
        "tf.data": "in-memory tf.data (from_tensor_slices + same augment)",
        "numpy": "in-memory NumPy (vectorised crop + flip)",
    }
    for name, rate in rates.items():
        print(f"{labels[name]:<56} {rate:>10,.0f} images/s")
    print(f"ratio tfrecord / in-memory tf.data: {rates['tfrecord'] / rates['tf.data']:.2f}")
    print(f"ratio tfrecord / in-memory numpy:   {rates['tfrecord'] / rates['numpy']:.2f}")
    print(f"ratio tfrecord+cache / in-memory tf.data: {rates['tfrecord+cache'] / rates['tf.data']:.2f}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
