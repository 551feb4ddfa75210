"""Label a transfer set with a teacher's (or an ensemble's) logits, once.

    python -m pipelines.label_with_teacher --data DIR --teacher T1.keras [--teacher T2.keras ...] \
        --out OUT [--views N] [--splits train validation test unlabelled]

Reads the image TFRecords written by `pipelines/cifar10_to_tfrecord.py` and writes, for every
example, the same image, label and id plus the teacher's `logits`. With `--views N`, each
training image also gets N augmented views (random crop after 4-pixel padding + flip, seeded
by example index and view so reruns are identical), each stored as PNG and labelled by the
teacher: a bigger transfer set. The `unlabelled` split, when present, is labelled too.
The manifest names the teachers and their sha256; a rerun with the same inputs does nothing.
"""

import argparse
import sys
import time

import keras
import tensorflow as tf

from mimic_keras.data import cifar10, records, writer
from mimic_keras.teachers_io import TeacherSet
from mimic_keras.training import verbosity
from pipelines import labelling

AUTOTUNE = tf.data.AUTOTUNE


def _views_dataset(data_dir, split, views):
    """(image uint8, encoded bytes, label, id, view) for every example and view, deterministic."""
    raw = tf.data.TFRecordDataset(writer.split_files(data_dir, split))
    raw = raw.map(lambda s: tf.io.parse_single_example(s, records.IMAGE_FEATURES), num_parallel_calls=AUTOTUNE)
    raw = raw.enumerate()

    def expand(index, ex):
        image = records.decode_image(ex["image"], cifar10.IMAGE_SHAPE)
        view_ids = tf.range(views + 1, dtype=tf.int64)

        def one_view(view):
            seed = tf.stack([index, view])
            augmented = cifar10.augment(image, seed=seed)
            is_original = tf.equal(view, 0)
            out_image = tf.where(is_original, image, augmented)
            encoded = tf.cond(is_original, lambda: ex["image"], lambda: tf.io.encode_png(augmented))
            return out_image, encoded, ex["label"], ex["id"], view

        return tf.data.Dataset.from_tensor_slices(view_ids).map(one_view)

    return raw.flat_map(expand)


def _labelled_records(data_dir, split, teacher, views, batch_size, progress):
    ds = _views_dataset(data_dir, split, views).batch(batch_size).prefetch(AUTOTUNE)
    for images, encoded, labels, ids, view in ds:
        logits = teacher(images)
        for i in range(len(labels)):
            yield records.image_example(
                encoded[i].numpy(), int(labels[i]), ids[i].numpy(), logits=logits[i], view=int(view[i])
            )
        progress.add(len(labels))


def label(data_dir, teacher_paths, out_dir, *, views=0, splits=None, batch_size=256, shards=None, force=False):
    """Writes teacher-labelled TFRecords for the requested splits of a converted data folder.

    Args:
        data_dir: folder written by `pipelines/cifar10_to_tfrecord.py`.
        teacher_paths: one path (a teacher) or several (an ensemble: mean logits).
        out_dir: output folder; gets shards and `manifest.json`.
        views: augmented views per training image (0: originals only).
        splits: splits to label; default: every split in the source manifest.
        batch_size: images per teacher call.
        shards: shards per split (default: about 10k examples per shard).
        force: redo even when a finished output with the same inputs exists.

    Returns:
        The manifest dict.
    """
    source = writer.read_manifest(data_dir)
    teacher = TeacherSet(teacher_paths)
    splits = labelling.check_splits(data_dir, source, splits)
    if teacher.num_classes != len(source["classes"]):
        raise ValueError(
            f"teacher outputs {teacher.num_classes} logits but {data_dir} has {len(source['classes'])} classes"
        )
    options = {"views": views, "splits": splits}
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
        split_views = views if split == "train" else 0
        count = source["splits"][split]["count"] * (split_views + 1)
        print(f"labelling {split}: {count} examples ({split_views} augmented views per image)")
        progress = keras.utils.Progbar(count, unit_name="example", verbose=verbosity())
        n_shards = shards or max(1, round(count / 10_000))
        shard_info = writer.write_shards(
            out_dir, split, _labelled_records(data_dir, split, teacher, split_views, batch_size, progress), n_shards
        )
        manifest["splits"][split] = {
            "count": sum(s["count"] for s in shard_info),
            "views": split_views,
            "shards": shard_info,
        }
    manifest["seconds"] = round(time.time() - started, 1)
    writer.write_manifest(out_dir, manifest)
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="converted image TFRecords (with manifest.json)")
    parser.add_argument("--teacher", action="append", required=True, help=".keras file or SavedModel; repeat for an ensemble")
    parser.add_argument("--out", required=True)
    parser.add_argument("--views", type=int, default=0, help="augmented views per training image")
    parser.add_argument("--splits", nargs="*", default=None)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shards", type=int, default=None)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    try:
        label(
            args.data, args.teacher, args.out, views=args.views, splits=args.splits,
            batch_size=args.batch_size, shards=args.shards, force=args.force,
        )
    except (FileNotFoundError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
