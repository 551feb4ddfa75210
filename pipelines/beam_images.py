"""The image conversions (`cifar10_to_tfrecord`, `images_to_tfrecord`) writing their shards on Apache Beam.

    python -m pipelines.cifar10_to_tfrecord --source TREE_OR_TAR --out DIR --runner beam \
        -- --direct_num_workers=2 --direct_running_mode=multi_processing

The job plans as in process (lists the source, carves validation, orders each split by hashed
id: the same examples in the same order), then hands the plan to `convert_splits`:

    chunks of (split, first index, [Example]) ─encode─▶ (split, index, record, {encoding: 1})
        ─▶ `beam_output.write_sharded`: one shard file per (split, shard)
                                  └─▶ problems: images that do not decode, or (CIFAR) the same
                                      image in two splits ─▶ the driver raises the first one

Each record keeps its position in the in-process job's split, so the shards hold the same
records in the same order and the same bytes. A bad image is the same one-line `SourceError`
as in process (the first in the in-process order), raised by the driver after the pipeline; the
build folder is then removed and nothing is left that looks done. The listing (and a compressed
tar's bytes) travels inside the pipeline; for millions of images give a folder or a plain tar,
whose files the workers read themselves.
"""

import collections
import hashlib
import posixpath

from pipelines import beam_output

CHUNK = 256  # examples per worker task
PROBLEMS = ".beam-problems.json"


def _encode_chunk(task, encode_fn, rank, check_duplicates):
    """Records of one chunk; problems and (for the duplicate check) digests as tagged outputs."""
    import apache_beam as beam

    from mimic_keras.data import records
    from pipelines.cifar10_sources import SourceError

    split, first, examples = task
    for j, example in enumerate(examples):
        order = (rank[split], first + j)
        try:
            data, kind = encode_fn(example)
        except SourceError as e:
            yield beam.pvalue.TaggedOutput("problems", (*order, str(e)))
            continue
        yield split, first + j, records.image_example(data, example.label, example.id), {kind: 1}
        if check_duplicates:
            digest = hashlib.sha256(data).hexdigest()
            yield beam.pvalue.TaggedOutput("digests", (digest, (*order, split, example.id, example.where)))


def _conflict(grouped):
    """The in-process job's error for one image found in two splits, at the later copy's position."""
    _, copies = grouped
    copies = sorted(copies)
    _, _, first_split, first_id, _ = copies[0]
    for rank, index, split, _, where in copies[1:]:
        if split != first_split:
            yield (rank, index, f"{where}: the same image as {first_id} in {first_split}; an image in both "
                                f"{first_split} and {split} would be tested on what was trained on: remove one copy")
            return


def convert_splits(build, plan, num_shards, encode_fn, classes, beam_args=(), check_duplicates=False,
                   encodings=False):
    """Encodes and writes every split of `plan` into `build` on Beam; returns each split's `Split`.

    Args:
        build: the job's build folder (from `jobs.atomic_output`), seen by every worker.
        plan: `{split: [Example]}`, each split in the in-process job's record order.
        num_shards: `{split: shards}`.
        encode_fn: `Example -> (image bytes, encoding)`; raises `SourceError` for a bad image.
        classes: the class names (a split's `class_counts`; none for `unlabelled`).
        beam_args: Beam pipeline options (default: the DirectRunner, in this process).
        check_duplicates: refuse an image found in two splits (CIFAR-10's job does).
        encodings: record each split's `image_encodings` counts.

    Returns:
        `{split: Split}` with counts, shards and `class_counts` (and `image_encodings`).

    Raises:
        SourceError: the first bad image in the in-process order, as the in-process job says it.
        ValueError: a shard missing from the workers' report, or counts that do not add up.
    """
    import apache_beam as beam

    from mimic_keras.data.manifest import Shard, Split
    from pipelines.cifar10_sources import SourceError

    rank = {split: i for i, split in enumerate(plan)}
    tasks = [(split, first, chunk) for split, exs in plan.items() for first, chunk in beam_output.chunks(exs, CHUNK)]
    problems_path = posixpath.join(build, PROBLEMS)

    def build_pipeline(pipeline):
        encoded = (
            pipeline
            | "chunks" >> beam.Create(tasks)
            | "spread" >> beam.Reshuffle()
            | "encode" >> beam.FlatMap(_encode_chunk, encode_fn, rank, check_duplicates).with_outputs(
                "problems", "digests", main="records")
        )
        problems = encoded.problems
        if check_duplicates:
            conflicts = encoded.digests | "by image" >> beam.GroupByKey() | "conflicts" >> beam.FlatMap(_conflict)
            problems = (problems, conflicts) | "all problems" >> beam.Flatten()
        beam_output.write_list(problems, problems_path, "problems")
        beam_output.write_sharded(encoded.records, build, num_shards)

    beam_output.run(build_pipeline, beam_args)
    problems = beam_output.read_list(problems_path)
    if problems:
        raise SourceError(min(problems)[2])
    written = beam_output.collect(build, num_shards, {split: len(exs) for split, exs in plan.items()})
    splits = {}
    for split, (shards, tally) in written.items():
        labels = collections.Counter(e.label for e in plan[split])
        extra = {"class_counts": {c: labels[i] for i, c in enumerate(classes)} if split != "unlabelled" else {}}
        if encodings:
            extra["image_encodings"] = dict(sorted(tally.items()))
        splits[split] = Split(count=len(plan[split]), shards=[Shard(**s) for s in shards], extra=extra)
    return splits
