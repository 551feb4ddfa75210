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
a rerun with the same inputs does nothing. The output is built in a hidden sibling folder and
renamed into place (`mimic_keras.atomic.atomic_output`). With `--runner beam -- <Beam pipeline
options>` the teacher pass runs as an Apache Beam pipeline (`pipelines/beam_labelling.py`,
docs/beam.md) and writes the same folder; `--mixup` is not supported there yet. In process, the same job is
`run(Options(...))`; the flags above are generated from `Options`.
"""

import dataclasses
import sys
import time
from typing import Optional

import numpy as np
import tensorflow as tf

from mimic_keras import jobs
from mimic_keras.data import cifar10, records, writer
from mimic_keras.data.manifest import Manifest, Shard, Split
from mimic_keras.jobs import option
from mimic_keras.progress import Progress
from mimic_keras.teachers_io import TeacherSet
from pipelines import beam_output, labelling

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


def augmented_view(image, index, view):
    """View `view` (1..N) of the image at record `index`: crop + flip seeded by (index, view)."""
    return cifar10.augment(image, seed=tf.stack([index, view]))


def _split_records(data_dir, split):
    """The split's parsed records in file order (shards read one after another)."""
    raw = tf.data.TFRecordDataset(writer.split_files(data_dir, split))
    return raw.map(lambda s: tf.io.parse_single_example(s, records.IMAGE_FEATURES), num_parallel_calls=AUTOTUNE)


def _split_images(data_dir, split):
    """Every decoded image of the split, in `_split_records` order: the mixup partners."""
    shape = cifar10.image_shape_of(data_dir)
    ds = _split_records(data_dir, split).map(
        lambda ex: records.decode_image(ex["image"], shape), num_parallel_calls=AUTOTUNE
    )
    batches = [b.numpy() for b in ds.batch(4096)]
    return np.concatenate(batches) if batches else np.zeros((0, *shape), np.uint8)


def _mixup_inputs(data_dir, split, mixup, alpha):
    """Per example: its M partner images `[M, H, W, C]` and weights `[M]`, in record order."""
    images = _split_images(data_dir, split)
    partners, lambdas = mixup_draws(len(images), mixup, alpha)
    partner_images = tf.data.Dataset.from_generator(
        lambda: (images[p] for p in partners),
        output_signature=tf.TensorSpec((mixup, *images.shape[1:]), tf.uint8),
    )
    return tf.data.Dataset.zip((partner_images, tf.data.Dataset.from_tensor_slices(lambdas)))


def _views_dataset(data_dir, split, views, mixup=0, alpha=1.0):
    """(image uint8, encoded bytes, label, id, view) for every example and view, deterministic."""
    shape = cifar10.image_shape_of(data_dir)
    raw = _split_records(data_dir, split).enumerate()
    if mixup:
        raw = tf.data.Dataset.zip((raw, _mixup_inputs(data_dir, split, mixup, alpha)))
        raw = raw.map(lambda indexed, extra: (*indexed, *extra))

    def expand(index, ex, partners=None, lambdas=None):
        image = records.decode_image(ex["image"], shape)
        view_ids = tf.range(views + 1, dtype=tf.int64)

        def one_view(view):
            augmented = augmented_view(image, index, view)
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


def _views(split, views, mixup):
    """Views plus mixup images per source image of `split` (only training images get any)."""
    return views + mixup if split == "train" else 0


def _labelled_records(data_dir, split, teacher, views, mixup, alpha, batch_size, progress):
    ds = _views_dataset(data_dir, split, views, mixup, alpha).batch(batch_size).prefetch(AUTOTUNE)
    for images, encoded, labels, ids, view in ds:
        logits = teacher(images)
        for i in range(len(labels)):
            yield records.image_example(
                encoded[i].numpy(), int(labels[i]), ids[i].numpy(), logits=logits[i], view=int(view[i])
            )
        progress.add(len(labels))


@dataclasses.dataclass(frozen=True)
class Options:
    """The labelling's options; the CLI's flags are generated from these fields."""

    data: str = option("converted image TFRecords (with manifest.json)")
    teacher: tuple[str, ...] = option(".keras file or SavedModel; repeat for an ensemble (mean logits)", repeat=True)
    out: str = option("output folder; gets shards and manifest.json")
    views: int = option("augmented views per training image", 0)
    mixup: int = option("mixup images per training image (label -1)", 0)
    mixup_alpha: float = option("mixup weight λ ~ Beta(α, α)", 1.0)
    splits: Optional[tuple[str, ...]] = option("splits to label (default: every split of the data)", None)
    batch_size: int = option("images per teacher call", 256)
    shards: Optional[int] = option("shards per split (default: about 10k examples per shard)", None)
    force: bool = option("redo even when a finished output with the same inputs exists", False)
    runner: str = jobs.runner_option()
    beam_args: tuple[str, ...] = jobs.beam_args_option()


def run(options):
    """Writes teacher-labelled TFRecords for the requested splits of a converted data folder.

    Args:
        options: an `Options`.

    Returns:
        The `Manifest` (the existing one when an identical labelling is finished).

    Raises:
        ValueError: bad options, a missing split, or teachers whose outputs do not fit.
        FileNotFoundError: a missing data folder or teacher.

    Example:
        run(Options(data="cache/cifar10", teacher=("teacher.keras",), out="cache/transfer", views=4))
    """
    views, mixup, mixup_alpha = options.views, options.mixup, options.mixup_alpha
    mixup_draws(0, mixup, mixup_alpha)  # checks the mixup options before any work
    if options.runner == "beam" and mixup:
        raise ValueError("--mixup is not supported with --runner beam (its partners need the whole split at once)")
    beam_output.check_runner(options.runner, options.beam_args, options.out, options.data)
    data_dir = options.data
    source = Manifest.read(data_dir)
    teacher = TeacherSet(list(options.teacher))
    splits = labelling.check_splits(data_dir, source, options.splits)
    classes = source.get("classes")
    if teacher.num_classes != len(classes):
        raise ValueError(f"teacher outputs {teacher.num_classes} logits but {data_dir} has {len(classes)} classes")
    fingerprinted = {"views": views, "splits": splits}
    if mixup:  # only then: transfer sets labelled before mixup existed keep their fingerprint
        fingerprinted.update(mixup=mixup, mixup_alpha=mixup_alpha)
    fingerprint = labelling.fingerprint(source, teacher, fingerprinted)
    done = labelling.finished(options.out, fingerprint, options.force)
    if done is not None:
        return done

    started = time.time()
    manifest = labelling.new_manifest(
        data_dir, source, teacher, labelling.recorded_options(options, splits, teacher), fingerprint,
        dataset=source.dataset or "cifar10", classes=classes,
        image_shape=source.get("image_shape", list(cifar10.IMAGE_SHAPE)),
    )
    num_shards = {
        split: options.shards or max(1, round(source.splits[split].count * (1 + _views(split, views, mixup)) / 10_000))
        for split in splits
    }
    with jobs.atomic_output(options.out, force=options.force) as build:
        if options.runner == "beam":
            from pipelines import beam_labelling  # Beam is imported only when asked for

            print(f"labelling {', '.join(splits)} on Apache Beam ({' '.join(options.beam_args) or 'DirectRunner'})")
            labelled = beam_labelling.label_splits(
                build, data_dir, source, teacher.paths, splits, views, options.batch_size, num_shards,
                options.beam_args,
            )
            for split, (split_views, shards) in labelled.items():
                manifest.splits[split] = Split(
                    count=sum(s["count"] for s in shards), views=split_views, mixup=0,
                    shards=[Shard(**s) for s in shards],
                )
            return labelling.finish(build, manifest, started)
        for split in splits:
            split_views, split_mixup = (views, mixup) if split == "train" else (0, 0)
            count = source.splits[split].count * (split_views + 1 + split_mixup)
            print(f"labelling {split}: {count} examples "
                  f"({split_views} augmented views and {split_mixup} mixup images per image)")
            progress = Progress(count, "example", verb="labelled")
            examples = _labelled_records(
                data_dir, split, teacher, split_views, split_mixup, mixup_alpha, options.batch_size, progress
            )
            shards = writer.write_shards(build, split, examples, num_shards[split])
            manifest.splits[split] = Split(
                count=sum(s["count"] for s in shards), views=split_views, mixup=split_mixup,
                shards=[Shard(**s) for s in shards],
            )
        return labelling.finish(build, manifest, started)


def label(data_dir, teacher_paths, out_dir, **kwargs):
    """`run(Options(data=data_dir, teacher=teacher_paths, out=out_dir, **kwargs))`, as a JSON object.

    Example:
        manifest = label("cache/cifar10", ["teacher.keras"], "cache/transfer", views=4)
    """
    return run(Options(data=data_dir, teacher=tuple(teacher_paths), out=out_dir, **kwargs)).to_dict()


def main(argv=None):
    """The command line, generated from `Options`: exit status 0, or 2 with a one-line error."""
    return labelling.main(Options, run, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
