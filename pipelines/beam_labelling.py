"""The image labelling job (`pipelines/label_with_teacher.py`) as an Apache Beam pipeline.

    python -m pipelines.label_with_teacher --data DIR --teacher T.keras --out OUT --runner beam \
        -- --direct_num_workers=2 --direct_running_mode=multi_processing

`label_with_teacher.run` calls `label_splits` when `Options.runner == "beam"`; everything else
(fingerprint, the no-op rerun, the manifest, atomic output) stays in that job, so a folder
labelled here and one labelled in process cannot be told apart by anything after the label
stage. The pipeline:

    source shards ─read─▶ (key, image) per example and view ─RunInference(teacher)─▶
        record, keyed by (split, shard) ─GroupByKey─▶ one shard file per key ─▶ shard report

Every output record gets the index it has in the in-process job (source records in file
order, each followed by its views) and goes to shard `index % shards` at that position, so the
shards hold the same records in the same order; only the logits may differ in the last float
bits (the teacher sees other batches). Shards are written atomically into the job's build
folder; the driver then checks that every shard of every split was reported with the counts
it expects before the job writes the manifest: a pipeline that fails, or a worker whose
output is lost, leaves no manifest, and `atomic_output` removes the build folder.

The build folder must be visible to every worker (a local disk for the DirectRunner, a shared
POSIX mount on a cluster). Beam is imported only here, and only when a Beam run is asked for.
"""

import json
import os

import numpy as np

REPORT = ".beam-shards.json"  # the workers' shard report; hidden, removed before the manifest


def require_beam():
    """Raises a one-line `ValueError` naming the extra to install when apache-beam is missing."""
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        raise ValueError('--runner beam needs apache-beam: pip install -r requirements-beam.txt -e ".[beam]"') from None


def _model_handler(teacher_paths, batch_size):
    """A keyed model handler for `RunInference` whose model is the `TeacherSet` of `teacher_paths`.

    Beam's own `TFModelHandlerNumpy` would do for one `.keras` teacher, but it imports
    tensorflow_hub (whose tf-keras pulls a second TensorFlow build) and loads one model; this
    handler loads the teachers as the in-process job does, SavedModels and ensembles included.
    """
    from apache_beam.ml.inference.base import KeyedModelHandler, ModelHandler, PredictionResult

    class TeacherModelHandler(ModelHandler):
        """Runs the teacher or ensemble (mean logits) on fixed-size batches of uint8 images."""

        def __init__(self, paths, batch_size):
            super().__init__()
            self._paths, self._batch_size = list(paths), batch_size

        def load_model(self):
            from mimic_keras.teachers_io import TeacherSet

            return TeacherSet(self._paths)

        def run_inference(self, batch, model, inference_args=None):
            logits = model(np.stack(batch))
            return [PredictionResult(x, z) for x, z in zip(batch, logits)]

        def get_num_bytes(self, batch):
            return sum(x.nbytes for x in batch)

        def batch_elements_kwargs(self):
            return {"min_batch_size": self._batch_size, "max_batch_size": self._batch_size}

    return KeyedModelHandler(TeacherModelHandler(teacher_paths, batch_size))


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


def to_record(keyed, num_shards):
    """`((split, shard), (index, serialized record))` from one RunInference result."""
    from mimic_keras.data import records

    (split, index, encoded, label, example_id, view), result = keyed
    logits = np.asarray(result.inference, np.float32)
    record = records.image_example(encoded, label, example_id, logits=logits, view=view)
    return (split, index % num_shards[split]), (index, record)


def write_shard(grouped, build, num_shards):
    """Writes one shard, its records sorted by index; returns `(split, {"file", "sha256", "count"})`."""
    from mimic_keras.data import writer

    (split, shard), indexed = grouped
    name = writer.shard_names(split, num_shards[split])[shard]
    return split, writer.write_shard(build, name, (record for _, record in sorted(indexed)))


def write_report(reports, path):
    """Writes every shard's report as JSON (atomically): the driver reads it after the run."""
    from mimic_keras.data import writer

    writer.write_json_atomic(path, sorted(reports, key=lambda r: (r[0], r[1]["file"])))


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
    import apache_beam as beam
    from apache_beam.ml.inference.base import RunInference
    from apache_beam.options.pipeline_options import PipelineOptions

    from mimic_keras.data import writer

    tasks, expected = [], {}
    for split in splits:
        split_views = views if split == "train" else 0
        first = 0
        for shard in source.splits[split].shards:
            tasks.append((split, os.path.join(os.path.abspath(data_dir), shard.file), first, split_views))
            first += shard.count
        expected[split] = (split_views, first * (split_views + 1))
    report = os.path.join(build, REPORT)
    with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
        _ = (
            pipeline
            | "source shards" >> beam.Create(tasks)
            | "spread" >> beam.Reshuffle()
            | "read" >> beam.FlatMap(read_examples)
            | "teacher" >> RunInference(_model_handler(list(teacher_paths), batch_size))
            | "to record" >> beam.Map(to_record, num_shards)
            | "by shard" >> beam.GroupByKey()
            | "write shard" >> beam.Map(write_shard, build, num_shards)
            | "collect" >> beam.combiners.ToList()
            | "report" >> beam.Map(write_report, report)
        )
    return _check_report(build, report, expected, num_shards)


def _check_report(build, report, expected, num_shards):
    """Each split's shards from the workers' report; a shard with no record is written empty."""
    from mimic_keras.data import writer

    if not os.path.isfile(report):
        raise ValueError(f"{build}: the Beam pipeline finished without reporting its shards")
    with open(report) as f:
        reported = {(split, s["file"]): s for split, s in json.load(f)}
    os.remove(report)
    out = {}
    for split, (split_views, count) in expected.items():
        shards = []
        for name in writer.shard_names(split, num_shards[split]):
            shard = reported.get((split, name))
            if shard is None:  # no record fell in this shard (fewer records than shards)
                if os.path.exists(os.path.join(build, name)):
                    raise ValueError(f"{build}/{name}: written but not reported by any worker")
                shard = writer.write_shard(build, name, [])
            shards.append(shard)
        got = sum(s["count"] for s in shards)
        if got != count:
            raise ValueError(f"{build}: split {split!r} has {got} labelled records, expected {count}")
        out[split] = (split_views, shards)
    return out
