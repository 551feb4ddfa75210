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
follow). A rerun with the same inputs does nothing. The output is built in a hidden sibling
folder and renamed into place (`mimic_keras.atomic.atomic_output`). With `--runner beam -- <Beam
pipeline options>` the teacher pass runs as an Apache Beam pipeline
(`pipelines/beam_timit_labelling.py`, docs/beam.md) and writes the same folder. In process, the
same job is `run(Options(...))`; the flags above are generated from `Options`.
"""

import dataclasses
import sys
import time
from typing import Optional

import numpy as np
import tensorflow as tf

from mimic_keras import jobs, timit_layout
from mimic_keras.data import records, timit, writer
from mimic_keras.data.manifest import Manifest, Shard, Split
from mimic_keras.jobs import option
from mimic_keras.progress import Progress
from mimic_keras.teachers_io import TeacherSet
from pipelines import beam_output, labelling

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


@dataclasses.dataclass(frozen=True)
class Options:
    """The labelling's options; the CLI's flags are generated from these fields."""

    data: str = option("converted TIMIT TFRecords (with manifest.json)")
    teacher: tuple[str, ...] = option(".keras file; repeat for an ensemble (mean logits)", repeat=True)
    out: str = option("output folder; gets shards and manifest.json")
    context: int = option("the teachers' context: frames on each side of the classified one (default 7)",
                          timit_layout.CONTEXT)
    splits: Optional[tuple[str, ...]] = option("splits to label (default: every split of the data)", None)
    batch_frames: int = option("frames per teacher call (whole utterances, so a little more)", 8192)
    shards: Optional[int] = option("shards per split (default: one per 256 utterances)", None)
    force: bool = option("redo even when a finished output with the same inputs exists", False)
    runner: str = jobs.runner_option()
    beam_args: tuple[str, ...] = jobs.beam_args_option()
    batch_utterances: int = option("with --runner beam: at most N utterances per teacher call", 32)


def _check_teachers(data_dir, source, teacher, context):
    expected_input = timit_layout.input_dim(context)
    for path, model in zip(teacher.paths, teacher.models):
        if tuple(model.input.shape[1:]) != (expected_input,):
            raise ValueError(
                f"{path}: takes inputs of shape {tuple(model.input.shape[1:])}, not ({expected_input},) "
                f"context windows of ±{context} frames"
            )
    if teacher.num_classes != source.get("num_states"):
        raise ValueError(
            f"teacher outputs {teacher.num_classes} logits but {data_dir} has {source.get('num_states')} states"
        )


def run(options):
    """Writes teacher-labelled TIMIT records for the requested splits of a converted folder.

    Args:
        options: an `Options`.

    Returns:
        The `Manifest` (the existing one when an identical labelling is finished).

    Raises:
        ValueError: a source that is not TIMIT, a missing split, or teachers whose input or
            output shape does not fit.

    Example:
        run(Options(data="cache/timit", teacher=("teacher.keras",), out="cache/timit-labelled"))
    """
    data_dir, context = options.data, options.context
    beam_output.check_runner(options.runner, options.beam_args, options.out, data_dir)
    source = Manifest.read(data_dir)
    if source.dataset != "timit":
        raise ValueError(f"{data_dir}: not a converted TIMIT folder (dataset {source.dataset!r})")
    splits = labelling.check_splits(data_dir, source, options.splits)
    teacher = TeacherSet(list(options.teacher))
    _check_teachers(data_dir, source, teacher, context)
    fingerprint = labelling.fingerprint(source, teacher, {"context": context, "splits": splits})
    done = labelling.finished(options.out, fingerprint, options.force)
    if done is not None:
        return done

    started = time.time()
    manifest = labelling.new_manifest(
        data_dir, source, teacher, labelling.recorded_options(options, splits, teacher), fingerprint,
        dataset="timit", context=context,
    )
    num_shards = {
        split: options.shards or max(1, -(-source.splits[split].count // UTTERANCES_PER_SHARD)) for split in splits
    }
    if options.runner == "beam":
        return _run_on_beam(options, data_dir, source, teacher, splits, num_shards, manifest, started)
    with jobs.atomic_output(options.out, force=options.force) as build:
        for split in splits:
            count = source.splits[split].count
            print(f"labelling {split}: {count} utterances, {source.splits[split].frames} frames")
            progress = Progress(count, "utterance", verb="labelled")
            counts = {"frames": 0}
            examples = _labelled_records(data_dir, split, teacher, context, options.batch_frames, counts, progress)
            shards = writer.write_shards(build, split, examples, num_shards[split])
            manifest.splits[split] = Split(
                count=sum(s["count"] for s in shards), frames=counts["frames"], factors=source.splits[split].factors,
                shards=[Shard(**s) for s in shards],
            )
        return labelling.finish(build, manifest, started)


def _run_on_beam(options, data_dir, source, teacher, splits, num_shards, manifest, started):
    """The teacher pass as an Apache Beam pipeline (`pipelines/beam_timit_labelling.py`): the same folder."""
    from pipelines import beam_timit_labelling  # Beam is imported only when asked for

    print(f"labelling {', '.join(splits)} on Apache Beam ({' '.join(options.beam_args) or 'DirectRunner'})")
    with jobs.atomic_output(options.out, force=options.force) as build:
        labelled = beam_timit_labelling.label_splits(
            build, data_dir, source, teacher.paths, splits, options.context, options.batch_utterances, num_shards,
            options.beam_args,
        )
        for split, (shards, frames) in labelled.items():
            manifest.splits[split] = Split(
                count=sum(s["count"] for s in shards), frames=frames, factors=source.splits[split].factors,
                shards=[Shard(**s) for s in shards],
            )
        return labelling.finish(build, manifest, started)


def label(data_dir, teacher_paths, out_dir, **kwargs):
    """`run(Options(data=data_dir, teacher=teacher_paths, out=out_dir, **kwargs))`, as a JSON object.

    Example:
        manifest = label("cache/timit", ["teacher.keras"], "cache/timit-labelled", splits=["train", "dev"])
    """
    return run(Options(data=data_dir, teacher=tuple(teacher_paths), out=out_dir, **kwargs)).to_dict()


def main(argv=None):
    """The command line, generated from `Options`: exit status 0, or 2 with a one-line error."""
    return labelling.main(Options, run, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
