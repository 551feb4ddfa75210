"""Label TIMIT utterances with a teacher's (or an ensemble's) per-frame logits, once.

    python -m pipelines.label_timit_with_teacher --data DIR --teacher T1.keras [--teacher T2.keras ...] \
        --out OUT [--context 7] [--splits train dev test]

Reads the utterance records written by `pipelines/timit_to_tfrecord.py`, cuts every frame's
normalised ±context window (as `mimic_keras.data.timit.frame_pipeline` does), runs the
teacher over them once and writes each utterance's record unchanged plus a `logits` feature
list `[T, 183]` (`mimic_keras.data.records.timit_logits_example`). The mimic then trains on
these records (`frame_pipeline(OUT, "train", ..., target="distill")`) without ever running the
teacher. The `unlabelled` split of speed-perturbed copies (`timit_to_tfrecord --perturb`), when
asked for, is labelled like the others: its frames' states are -1, the teacher's logits are its
only targets. The manifest names the teachers and their sha256, the frame counts per split (and
per speed factor), and the source folder (whose normalisation and decoder statistics readers
follow). A rerun with the same inputs does nothing.
"""

import argparse
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from mimic_keras import timit_layout
from mimic_keras.data import records, timit, writer
from mimic_keras.models import speech_teachers  # noqa: F401  (registers MelMaps, for loading CNN teachers)
from mimic_keras.teachers_io import TeacherSet
from mimic_keras.training import verbosity
from pipelines import labelling

AUTOTUNE = tf.data.AUTOTUNE
UTTERANCES_PER_SHARD = 256


def _windows(data_dir, split, context):
    """(serialized record, normalised context windows `[T, (2c+1) × 123]`) per utterance, in order."""
    mean, std = timit.normalization(data_dir)

    def prepare(serialized):
        ex = records.parse_timit_example(serialized)
        return serialized, timit.context_windows((ex["features"] - mean) / std, context)

    ds = tf.data.TFRecordDataset(writer.split_files(data_dir, split))
    return ds.map(prepare, num_parallel_calls=AUTOTUNE, deterministic=True).prefetch(AUTOTUNE)


def _labelled_records(data_dir, split, teacher, context, batch_frames, counts, progress):
    """Teacher-labelled records of one split; several utterances share each teacher call."""
    pending = []

    def flush():
        logits = teacher(np.concatenate([w for _, w in pending]))
        bounds = np.cumsum([len(w) for _, w in pending])[:-1]
        for (serialized, _), chunk in zip(pending, np.split(logits, bounds)):
            yield records.timit_logits_example(serialized, chunk)
        progress.add(len(pending))
        pending.clear()

    for serialized, windows in _windows(data_dir, split, context).as_numpy_iterator():
        pending.append((serialized, windows))
        counts["frames"] += len(windows)
        if sum(len(w) for _, w in pending) >= batch_frames:
            yield from flush()
    if pending:
        yield from flush()


def label(data_dir, teacher_paths, out_dir, *, context=timit_layout.CONTEXT, splits=None, batch_frames=8192, shards=None,
          force=False):
    """Writes teacher-labelled TIMIT records for the requested splits of a converted folder.

    Args:
        data_dir: folder written by `pipelines/timit_to_tfrecord.py`.
        teacher_paths: one `.keras` path (a teacher) or several (an ensemble: mean logits).
        out_dir: output folder; gets shards and `manifest.json`.
        context: the teachers' context (frames on each side of the classified one).
        splits: splits to label; default: every split of the source.
        batch_frames: frames per teacher call (whole utterances, so a little more).
        shards: shards per split (default: one per 256 utterances).
        force: redo even when a finished output with the same inputs exists.

    Returns:
        The manifest dict.

    Raises:
        ValueError: a source that is not TIMIT, a missing split, or teachers whose input or
            output shape does not fit.
    """
    source = writer.read_manifest(data_dir)
    if source.get("dataset") != "timit":
        raise ValueError(f"{data_dir}: not a converted TIMIT folder (dataset {source.get('dataset')!r})")
    splits = labelling.check_splits(data_dir, source, splits)
    teacher = TeacherSet(teacher_paths)
    expected_input = timit_layout.input_dim(context)
    for path, model in zip(teacher.paths, teacher.models):
        if tuple(model.input.shape[1:]) != (expected_input,):
            raise ValueError(
                f"{path}: takes inputs of shape {tuple(model.input.shape[1:])}, not ({expected_input},) "
                f"context windows of ±{context} frames"
            )
    if teacher.num_classes != source["num_states"]:
        raise ValueError(
            f"teacher outputs {teacher.num_classes} logits but {data_dir} has {source['num_states']} states"
        )

    options = {"context": context, "splits": splits}
    fingerprint = labelling.fingerprint(source, teacher, options)
    done = labelling.finished(out_dir, fingerprint, force)
    if done is not None:
        return done

    started = time.time()
    manifest = labelling.start_manifest(
        out_dir, data_dir, source, teacher, options, fingerprint, dataset="timit", context=context
    )
    for split in splits:
        count = source["splits"][split]["count"]
        print(f"labelling {split}: {count} utterances, {source['splits'][split]['frames']} frames")
        progress = keras.utils.Progbar(count, unit_name="utterance", verbose=verbosity())
        counts = {"frames": 0}
        n_shards = shards or max(1, -(-count // UTTERANCES_PER_SHARD))
        shard_info = writer.write_shards(
            out_dir, split, _labelled_records(data_dir, split, teacher, context, batch_frames, counts, progress),
            n_shards,
        )
        manifest["splits"][split] = {
            "count": sum(s["count"] for s in shard_info),
            "frames": counts["frames"],
            "shards": shard_info,
        }
        if "factors" in source["splits"][split]:
            manifest["splits"][split]["factors"] = source["splits"][split]["factors"]
    return labelling.finish_manifest(out_dir, manifest, started)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="converted TIMIT TFRecords (with manifest.json)")
    parser.add_argument("--teacher", action="append", required=True, help=".keras file; repeat for an ensemble")
    parser.add_argument("--out", required=True)
    parser.add_argument("--context", type=int, default=timit_layout.CONTEXT, help="frames on each side (default 7)")
    parser.add_argument("--splits", nargs="*", default=None)
    parser.add_argument("--batch-frames", type=int, default=8192)
    parser.add_argument("--shards", type=int, default=None)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    return labelling.run_cli(
        label, data_dir=args.data, teacher_paths=args.teacher, out_dir=args.out, context=args.context,
        splits=args.splits, batch_frames=args.batch_frames, shards=args.shards, force=args.force,
    )


if __name__ == "__main__":
    sys.exit(main())
