"""Label a transfer set with a teacher's (or an ensemble's) logits, once.

    python -m pipelines.label_with_teacher --data DIR --teacher T1.keras [--teacher T2.keras ...] \
        --out OUT [--views N] [--mixup M [--mixup-alpha A]] [--splits train validation test unlabelled]

Reads the image TFRecords written by `pipelines/cifar10_to_tfrecord.py` and writes, for every
example, the same image, label and id plus the teacher's `logits`. With `--views N`, each
training image also gets N augmented views (random crop after 4-pixel padding + flip, seeded
by example index and view so reruns are identical), each stored as PNG and labelled by the
teacher: a bigger transfer set. The `unlabelled` split, when present, is labelled too.

With `--mixup M`, each training image x_i also gets M synthetic images λ·x_i + (1−λ)·x_j, mixed
with another training image x_j (un-augmented, j ≠ i) with λ ~ Beta(A, A) (`--mixup-alpha`,
default 1: uniform), rounded to uint8 and stored as PNG. The teacher labels the mixed image
itself; labels are not mixed: the record's `label` is -1 (no single class) and its `id` is
x_i's. In the train split each image's records come together, in `view` order: 0 the
original, 1..N the augmented views, N+1..N+M the mixup images. Partners and λ are drawn by
NumPy seeded with the mixup index m (`mixup_draws`), so image (i, m) does not depend on N or
M and reruns write identical bytes.

The manifest names the teachers and their sha256 and gives each split's `views` and `mixup`;
a rerun with the same inputs does nothing.
"""

import argparse
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from mimic_keras.data import cifar10, records, writer
from mimic_keras.teachers_io import TeacherSet
from mimic_keras.training import verbosity
from pipelines import labelling

AUTOTUNE = tf.data.AUTOTUNE


MIXUP_SEED = 2014


def mixup_draws(count, mixup, alpha=1.0):
    """The partners and weights of a split's mixup images, drawn deterministically.

    Mixup image m of example i is `lambdas[i, m] * x_i + (1 - lambdas[i, m]) * x_j` with
    `j = partners[i, m]`. Each m has its own generator, seeded by `(MIXUP_SEED, m)`, so the
    first M images are the same whatever the total.

    Args:
        count: examples in the split.
        mixup: mixup images per example.
        alpha: λ ~ Beta(alpha, alpha); 1 is uniform on [0, 1].

    Returns:
        `(partners, lambdas)`: int64 and float32 arrays of shape `[count, mixup]`; a partner is
        never the example itself (unless the split has a single example).
    """
    if mixup < 0 or alpha <= 0:
        raise ValueError(f"mixup must be >= 0 and mixup_alpha > 0, got {mixup} and {alpha}")
    partners = np.zeros((count, mixup), np.int64)
    lambdas = np.zeros((count, mixup), np.float32)
    for m in range(mixup):
        rng = np.random.default_rng([MIXUP_SEED, m])
        offsets = rng.integers(1, count, size=count) if count > 1 else np.zeros(count, np.int64)
        partners[:, m] = (np.arange(count) + offsets) % count
        lambdas[:, m] = rng.beta(alpha, alpha, size=count)
    return partners, lambdas


def mix(image, partner, lam):
    """`round(lam * image + (1 - lam) * partner)` as uint8 (uint8 images in, the same shape out)."""
    mixed = lam * tf.cast(image, tf.float32) + (1.0 - lam) * tf.cast(partner, tf.float32)
    return tf.cast(tf.clip_by_value(tf.round(mixed), 0.0, 255.0), tf.uint8)


def _split_records(data_dir, split):
    """The split's parsed records in file order (shards read one after another)."""
    raw = tf.data.TFRecordDataset(writer.split_files(data_dir, split))
    return raw.map(lambda s: tf.io.parse_single_example(s, records.IMAGE_FEATURES), num_parallel_calls=AUTOTUNE)


def _split_images(data_dir, split):
    """Every decoded image of the split, in `_split_records` order: the mixup partners."""
    ds = _split_records(data_dir, split).map(
        lambda ex: records.decode_image(ex["image"], cifar10.IMAGE_SHAPE), num_parallel_calls=AUTOTUNE
    )
    batches = [b.numpy() for b in ds.batch(4096)]
    return np.concatenate(batches) if batches else np.zeros((0, *cifar10.IMAGE_SHAPE), np.uint8)


def _mixup_inputs(data_dir, split, mixup, alpha):
    """Per example: its M partner images `[M, 32, 32, 3]` and weights `[M]`, in record order."""
    images = _split_images(data_dir, split)
    partners, lambdas = mixup_draws(len(images), mixup, alpha)
    partner_images = tf.data.Dataset.from_generator(
        lambda: (images[p] for p in partners),
        output_signature=tf.TensorSpec((mixup, *cifar10.IMAGE_SHAPE), tf.uint8),
    )
    return tf.data.Dataset.zip((partner_images, tf.data.Dataset.from_tensor_slices(lambdas)))


def _views_dataset(data_dir, split, views, mixup=0, alpha=1.0):
    """(image uint8, encoded bytes, label, id, view) for every example and view, deterministic."""
    raw = _split_records(data_dir, split).enumerate()
    if mixup:
        raw = tf.data.Dataset.zip((raw, _mixup_inputs(data_dir, split, mixup, alpha)))
        raw = raw.map(lambda indexed, extra: (*indexed, *extra))

    def expand(index, ex, partners=None, lambdas=None):
        image = records.decode_image(ex["image"], cifar10.IMAGE_SHAPE)
        view_ids = tf.range(views + 1, dtype=tf.int64)

        def one_view(view):
            seed = tf.stack([index, view])
            augmented = cifar10.augment(image, seed=seed)
            is_original = tf.equal(view, 0)
            out_image = tf.where(is_original, image, augmented)
            encoded = tf.cond(is_original, lambda: ex["image"], lambda: tf.io.encode_png(augmented))
            return out_image, encoded, ex["label"], ex["id"], view

        def one_mixup(partner, lam, view):
            mixed = mix(image, partner, lam)
            return mixed, tf.io.encode_png(mixed), tf.constant(records.UNLABELLED, tf.int64), ex["id"], view

        out = tf.data.Dataset.from_tensor_slices(view_ids).map(one_view)
        if mixup:
            mixup_ids = tf.range(views + 1, views + 1 + mixup, dtype=tf.int64)
            out = out.concatenate(tf.data.Dataset.from_tensor_slices((partners, lambdas, mixup_ids)).map(one_mixup))
        return out

    return raw.flat_map(expand)


def _labelled_records(data_dir, split, teacher, views, mixup, alpha, batch_size, progress):
    ds = _views_dataset(data_dir, split, views, mixup, alpha).batch(batch_size).prefetch(AUTOTUNE)
    for images, encoded, labels, ids, view in ds:
        logits = teacher(images)
        for i in range(len(labels)):
            yield records.image_example(
                encoded[i].numpy(), int(labels[i]), ids[i].numpy(), logits=logits[i], view=int(view[i])
            )
        progress.add(len(labels))


def label(
    data_dir, teacher_paths, out_dir, *, views=0, mixup=0, mixup_alpha=1.0, splits=None, batch_size=256,
    shards=None, force=False,
):
    """Writes teacher-labelled TFRecords for the requested splits of a converted data folder.

    Args:
        data_dir: folder written by `pipelines/cifar10_to_tfrecord.py`.
        teacher_paths: one path (a teacher) or several (an ensemble: mean logits).
        out_dir: output folder; gets shards and `manifest.json`.
        views: augmented views per training image (0: originals only).
        mixup: mixup images per training image (label -1, view ids after the augmented views).
        mixup_alpha: the mixup weight λ ~ Beta(mixup_alpha, mixup_alpha).
        splits: splits to label; default: every split in the source manifest.
        batch_size: images per teacher call.
        shards: shards per split (default: about 10k examples per shard).
        force: redo even when a finished output with the same inputs exists.

    Returns:
        The manifest dict.
    """
    mixup_draws(0, mixup, mixup_alpha)  # checks the mixup options before any work
    source = writer.read_manifest(data_dir)
    teacher = TeacherSet(teacher_paths)
    splits = labelling.check_splits(data_dir, source, splits)
    if teacher.num_classes != len(source["classes"]):
        raise ValueError(
            f"teacher outputs {teacher.num_classes} logits but {data_dir} has {len(source['classes'])} classes"
        )
    options = {"views": views, "splits": splits}
    if mixup:  # only then: transfer sets labelled before mixup existed keep their fingerprint
        options.update(mixup=mixup, mixup_alpha=mixup_alpha)
    fingerprint = labelling.fingerprint(source, teacher, options)
    done = labelling.finished(out_dir, fingerprint, force)
    if done is not None:
        return done

    started = time.time()
    manifest = labelling.start_manifest(
        out_dir, data_dir, source, teacher, options, fingerprint,
        dataset=source.get("dataset", "cifar10"), classes=source["classes"],
        image_shape=source.get("image_shape", list(cifar10.IMAGE_SHAPE)),
    )
    for split in splits:
        split_views, split_mixup = (views, mixup) if split == "train" else (0, 0)
        count = source["splits"][split]["count"] * (split_views + 1 + split_mixup)
        print(f"labelling {split}: {count} examples "
              f"({split_views} augmented views and {split_mixup} mixup images per image)")
        progress = keras.utils.Progbar(count, unit_name="example", verbose=verbosity())
        n_shards = shards or max(1, round(count / 10_000))
        examples = _labelled_records(
            data_dir, split, teacher, split_views, split_mixup, mixup_alpha, batch_size, progress
        )
        shard_info = writer.write_shards(out_dir, split, examples, n_shards)
        manifest["splits"][split] = {
            "count": sum(s["count"] for s in shard_info),
            "views": split_views,
            "mixup": split_mixup,
            "shards": shard_info,
        }
    return labelling.finish_manifest(out_dir, manifest, started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="converted image TFRecords (with manifest.json)")
    parser.add_argument("--teacher", action="append", required=True, help=".keras file or SavedModel; repeat for an ensemble")
    parser.add_argument("--out", required=True)
    parser.add_argument("--views", type=int, default=0, help="augmented views per training image")
    parser.add_argument("--mixup", type=int, default=0, help="mixup images per training image (label -1)")
    parser.add_argument("--mixup-alpha", type=float, default=1.0, help="mixup weight λ ~ Beta(α, α)")
    parser.add_argument("--splits", nargs="*", default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shards", type=int, default=None)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    return labelling.run_cli(
        label, data_dir=args.data, teacher_paths=args.teacher, out_dir=args.out, views=args.views, mixup=args.mixup,
        mixup_alpha=args.mixup_alpha, splits=args.splits, batch_size=args.batch_size, shards=args.shards,
        force=args.force,
    )


if __name__ == "__main__":
    sys.exit(main())
