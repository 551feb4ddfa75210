"""The TIMIT labelling job (`pipelines/label_timit_with_teacher.py`) as an Apache Beam pipeline.

    python -m pipelines.label_timit_with_teacher --data DIR --teacher T.keras --out OUT --runner beam \
        -- --direct_num_workers=2 --direct_running_mode=multi_processing

`label_timit_with_teacher.run` calls `label_splits` when `Options.runner == "beam"`; the
fingerprint, the no-op rerun, the manifest and the atomic output stay in that job. The pipeline:

    source shards ─read─▶ (split, index, record) + normalised context windows `[T, (2c+1)×123]`
        ─RunInference(teacher, several utterances a call)─▶ (split, index, labelled record)
        ─▶ `beam_output.write_sharded`: one shard file per (split, shard)

Each utterance keeps the index it has in the in-process job (source shards in order, records in
file order), so it lands in the same shard at the same position; only the logits may differ in
the last float bits (the teacher sees other batches). Beam is imported only when asked for.
"""

import numpy as np


def read_utterances(task, mean, std, context):
    """`((split, index, serialized), windows)` for every utterance of one source shard, in order.

    Args:
        task: `(split, shard path, index of its first utterance in the split)`.
        mean, std: the training split's normalisation (float32 `[123]`).
        context: frames on each side of the classified one.
    """
    import tensorflow as tf

    from mimic_keras.data import records, timit

    split, path, first = task
    for j, serialized in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        ex = records.parse_timit_example(serialized)
        windows = timit.context_windows((ex["features"] - mean) / std, context)
        yield (split, first + j, serialized), windows.numpy()


def to_record(keyed):
    """`(split, index, labelled record, {"frames": T})` from one RunInference result."""
    from mimic_keras.data import records

    (split, index, serialized), result = keyed
    logits = np.asarray(result.inference, np.float32)
    return split, index, records.timit_logits_example(serialized, logits), {"frames": len(logits)}


def label_splits(build, data_dir, source, teacher_paths, splits, context, batch_utterances, num_shards,
                 beam_args=()):
    """Labels `splits` of a converted TIMIT folder into `build`, on Beam.

    Args:
        build: the job's build folder (from `jobs.atomic_output`), seen by every worker.
        data_dir: the converted TIMIT folder.
        source: its `Manifest`.
        teacher_paths: the teacher files (several: an ensemble, mean logits).
        splits: the splits to label.
        context: the teachers' context (frames on each side).
        batch_utterances: at most this many utterances per teacher call.
        num_shards: `{split: shards}`.
        beam_args: Beam pipeline options (default: the DirectRunner, in this process).

    Returns:
        `{split: ([shard dicts], frames)}`, every shard present, in order.

    Raises:
        ValueError: a shard missing from the workers' report, or counts that do not add up.
    """
    import functools

    from mimic_keras.data import timit
    from pipelines.beam_labelling import label_shards, source_shards, teacher_handler

    mean, std = timit.normalization(data_dir)
    tasks, expected = source_shards(data_dir, source, splits)
    read = functools.partial(read_utterances, mean=mean, std=std, context=context)
    handler = teacher_handler(list(teacher_paths), batch_utterances, frames=True)
    written = label_shards(build, tasks, read, handler, to_record, num_shards, expected, beam_args)
    return {split: (shards, tally.get("frames", 0)) for split, (shards, tally) in written.items()}
