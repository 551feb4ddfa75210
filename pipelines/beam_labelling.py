"""The image labelling job (`pipelines/label_with_teacher.py`) as an Apache Beam pipeline.

    python -m pipelines.label_with_teacher --data DIR --teacher T.keras --out OUT --runner beam \
        -- --direct_num_workers=2 --direct_running_mode=multi_processing

`label_with_teacher.run` calls `label_splits` when `Options.runner == "beam"`; everything else
(fingerprint, the no-op rerun, the manifest, atomic output) stays in that job, so a folder
labelled here and one labelled in process cannot be told apart by anything after the label
stage. The pipeline:

    source shards ─read─▶ (key, image) per example and view ─RunInference(teacher)─▶
        (split, index, record) ─▶ `beam_output.write_sharded`: one shard file per (split, shard)

Every output record gets the index it has in the in-process job (source records in file
order, each followed by its views) and goes to shard `index % shards` at that position, so the
shards hold the same records in the same order; only the logits may differ in the last float
bits (the teacher sees other batches). Shards are written atomically into the job's build
folder; the driver then checks that every shard of every split was reported with the counts
it expects before the job writes the manifest: a pipeline that fails, or a worker whose
output is lost, leaves no manifest, and `atomic_output` removes the build folder
(`beam_output.py`, shared with the other Beam jobs).

The build folder must be visible to every worker (a local disk for the DirectRunner, a shared
POSIX mount on a cluster). Beam is imported only here, and only when a Beam run is asked for.
"""

import os

import numpy as np

from pipelines import beam_output
from pipelines.beam_output import require_beam  # noqa: F401  (the labelling job's API, as before)


def teacher_handler(teacher_paths, batch_size, frames=False):
    """A keyed model handler for `RunInference` whose model is the `TeacherSet` of `teacher_paths`.

    Beam's own `TFModelHandlerNumpy` would do for one `.keras` teacher, but it imports
    tensorflow_hub (whose tf-keras pulls a second TensorFlow build) and loads one model; this
    handler loads the teachers as the in-process jobs do, SavedModels and ensembles included.

    Args:
        teacher_paths: the teacher files (several: an ensemble, mean logits).
        batch_size: elements per teacher call (with `frames`: at most this many utterances).
        frames: each element is one utterance's frames `[T, D]` (TIMIT): a call takes several
            utterances at once and gives each its `[T, classes]` logits; else each element is
            one input (an image) and gets one row of logits.
    """
    from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

    class TeacherModelHandler(ModelHandler):
        """Runs the teacher or ensemble (mean logits) on batches of inputs or of utterances."""

        def __init__(self, paths, batch_size, frames):
            super().__init__()
            self._paths, self._batch_size, self._frames = list(paths), batch_size, frames

        def load_model(self):
            from mimic_keras.teachers_io import TeacherSet

            return TeacherSet(self._paths)

        def run_inference(self, batch, model, inference_args=None):
            if not self._frames:
                return [PredictionResult(x, z) for x, z in zip(batch, model(np.stack(batch)))]
            logits = np.asarray(model(np.concatenate(batch)))
            chunks = np.split(logits, np.cumsum([len(x) for x in batch])[:-1])
            return [PredictionResult(x, z) for x, z in zip(batch, chunks)]

        def get_num_bytes(self, batch):
            return sum(x.nbytes for x in batch)

        def batch_elements_kwargs(self):
            if self._frames:  # utterances vary in length: up to batch_size of them per call
                return {"min_batch_size": 1, "max_batch_size": self._batch_size}
            return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    return KeyedModelHandler(TeacherModelHandler(teacher_paths, batch_size, frames))


def read_examples(task):
    """The (key, image) of every example and view of one source shard, in the in-process order.

    Args:
        task: `(split, shard path, index of its first record in the split, views)`.

    Yields:
        `((split, index, encoded, label, id, view), uint8 image)`, where `index` is the
        record's position in the in-process job's output of the split.
    """
    import tensorflow as tf

    from mimic_keras.data import cifar10, records
    from pipelines.label_with_teacher import augmented_view

    split, path, first, views = task
    for j, serialized in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        ex = tf.io.parse_single_example(serialized, records.IMAGE_FEATURES)
        image = records.decode_image(ex["image"], cifar10.IMAGE_SHAPE)
        label, example_id, index = int(ex["label"]), ex["id"].numpy(), first + j
        for view in range(views + 1):
            if view == 0:
                out_image, encoded = image, ex["image"].numpy()
            else:
                out_image = augmented_view(image, tf.constant(index, tf.int64), tf.constant(view, tf.int64))
                encoded = tf.io.encode_png(out_image).numpy()
            key = (split, index * (views + 1) + view, encoded, label, example_id, view)
            yield key, out_image.numpy()


def to_record(keyed):
    """`(split, index, serialized record, {})` from one RunInference result."""
    from mimic_keras.data import records

    (split, index, encoded, label, example_id, view), result = keyed
    logits = np.asarray(result.inference, np.float32)
    return split, index, records.image_example(encoded, label, example_id, logits=logits, view=view), {}


def label_splits(build, data_dir, source, teacher_paths, splits, views, batch_size, num_shards, beam_args=()):
    """Labels `splits` of a converted folder into `build`, on Beam; returns each split's shards.

    Args:
        build: the job's build folder (from `jobs.atomic_output`), seen by every worker.
        data_dir: the converted image folder.
        source: its `Manifest`.
        teacher_paths: the teacher files (several: an ensemble, mean logits).
        splits: the splits to label.
        views: augmented views per training image (other splits get none).
        batch_size: images per teacher call.
        num_shards: `{split: shards}`.
        beam_args: Beam pipeline options (`--runner=FlinkRunner ...`; default the DirectRunner).

    Returns:
        `{split: (views, [shard dicts])}`, every shard present, in order.

    Raises:
        ValueError: a shard missing from the workers' report, or counts that do not add up.
    """
    split_views = {split: views if split == "train" else 0 for split in splits}
    tasks, counts = source_shards(data_dir, source, splits)
    tasks = [(*task, split_views[task[0]]) for task in tasks]
    expected = {split: count * (split_views[split] + 1) for split, count in counts.items()}
    handler = teacher_handler(list(teacher_paths), batch_size)
    written = label_shards(build, tasks, read_examples, handler, to_record, num_shards, expected, beam_args)
    return {split: (split_views[split], shards) for split, (shards, _) in written.items()}


def source_shards(data_dir, source, splits):
    """`([(split, shard path, index of its first record in the split)], {split: records})` of a converted folder."""
    tasks, counts = [], {}
    for split in splits:
        counts[split] = 0
        for shard in source.splits[split].shards:
            tasks.append((split, os.path.join(os.path.abspath(data_dir), shard.file), counts[split]))
            counts[split] += shard.count
    return tasks, counts


def label_shards(build, tasks, read, handler, to_record, num_shards, expected, beam_args):
    """Runs a labelling pipeline: source shards ─read─▶ RunInference(handler) ─to_record─▶ shards.

    Args:
        build: the build folder.
        tasks: one per source shard, for `read` (a generator of `(key, model input)`).
        read: the reader of one task.
        handler: a keyed model handler (`teacher_handler`).
        to_record: `(key, PredictionResult) -> (split, index, record, tally)`.
        num_shards, expected: `{split: shards}`, `{split: records}` (`beam_output.collect`).
        beam_args: Beam pipeline options.

    Returns:
        What `beam_output.collect` returns.
    """
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference

    def build_pipeline(pipeline):
        labelled = (
            pipeline
            | "source shards" >> beam.Create(tasks)
            | "spread" >> beam.Reshuffle()
            | "read" >> beam.FlatMap(read)
            | "teacher" >> RunInference(handler)
            | "to record" >> beam.Map(to_record)
        )
        beam_output.write_sharded(labelled, build, num_shards)

    beam_output.run(build_pipeline, beam_args)
    return beam_output.collect(build, num_shards, expected)
