"""The TIMIT conversion (`pipelines/timit_to_tfrecord.py`) computing and writing its features on Apache Beam.

    python -m pipelines.timit_to_tfrecord --timit ROOT --out DIR --runner beam \
        -- --direct_num_workers=2 --direct_running_mode=multi_processing

The job plans as in process (speakers, splits, utterance order, fingerprint), then hands the
plan to `convert_splits`:

    chunks of (split, first index, [Utterance]) ─read, features─▶ (split, index, record, {frames})
        ─▶ `beam_output.write_sharded`: one shard file per (split, shard)
    train utterances ─▶ TrainStats combined across workers (normalisation, decoder statistics)
    train utterances × speeds ─▶ speed-perturbed copies, keyed (utterance, speed) and ranked
    a file that does not read ─▶ problems ─▶ the driver raises the first, as the job would

Each record keeps its position in the in-process job's split (the speed-perturbed copies their
rank, since a copy with no frame left is left out), so the shards hold the same records in the
same order and the same bytes. The statistics' integer counts are exact; the feature mean and
standard deviation are float64 sums added in another order, so they agree with the in-process
job's to about 1e-12 (relative), not bit for bit.
"""

import posixpath

from mimic_keras.data.timit import PERTURBED_SPLIT
from pipelines import beam_output

CHUNK = 16  # utterances per worker task
PROBLEMS = ".beam-problems.json"
STATS = ".beam-train-stats.json"


def _convert_chunk(task, rank, perturb):
    """Records of one chunk of utterances; statistics' inputs, copies and problems as tagged outputs."""
    import apache_beam as beam

    from mimic_keras.data.timit import EXTRA_SPLITS, speed_key
    from pipelines.timit_corpus import CorpusError
    from pipelines.timit_records import perturbed_copies, utterance_record

    split, first, utts = task
    for j, u in enumerate(utts):
        index = first + j
        try:
            record, stats_inputs = utterance_record(u, unlabelled=split in EXTRA_SPLITS)
        except CorpusError as e:
            yield beam.pvalue.TaggedOutput("problems", (rank[split], index, str(e)))
            continue
        yield split, index, record, {"frames": len(stats_inputs[1])}
        if split == "train":
            yield beam.pvalue.TaggedOutput("stats", stats_inputs)
            for k, (f, copy, frames) in enumerate(perturbed_copies(u, perturb) if perturb else ()):
                if copy is not None:
                    tally = {f"{speed_key(f)}/count": 1, f"{speed_key(f)}/frames": frames}
                    yield beam.pvalue.TaggedOutput("copies", (PERTURBED_SPLIT, (index, k), copy, tally))


def _stats_combiner():
    import apache_beam as beam

    from pipelines.timit_records import TrainStats

    class TrainStatsFn(beam.CombineFn):
        """Sums the training split's statistics on each worker, then merges the sums."""

        def create_accumulator(self):
            return TrainStats()

        def add_input(self, stats, stats_inputs):
            stats.add(*stats_inputs)
            return stats

        def merge_accumulators(self, accumulators):
            accumulators = iter(accumulators)
            merged = next(accumulators)
            for other in accumulators:
                merged.merge(other)
            return merged

        def extract_output(self, stats):
            return stats.manifest_entries() if stats.frames else None

    return TrainStatsFn()


def convert_splits(build, splits, num_shards, perturb, beam_args=()):
    """Converts every split of the plan into `build` on Beam.

    Args:
        build: the job's build folder (from `jobs.atomic_output`), seen by every worker.
        splits: `{split: [Utterance]}` in the in-process job's order (train among them).
        num_shards: `{split: shards}`, with `unlabelled` when `perturb` is given.
        perturb: speed factors (checked) for the `unlabelled` split of train copies, or ().
        beam_args: Beam pipeline options (default: the DirectRunner, in this process).

    Returns:
        `(written, train statistics)`: `written` is `{split: ([shard dicts], {tally: sum})}` as
        `beam_output.collect` gives it (tallies `frames`, and `<speed>/count`, `<speed>/frames`
        for the copies); the statistics are `TrainStats.manifest_entries()`.

    Raises:
        CorpusError: the first file that does not read, in the in-process job's order.
        ValueError: a shard missing from the workers' report, or counts that do not add up.
    """
    import apache_beam as beam

    from pipelines.timit_corpus import CorpusError

    if perturb and PERTURBED_SPLIT in splits:
        raise ValueError(f"a split named {PERTURBED_SPLIT!r} and speed-perturbed copies: one name for two splits")
    rank = {split: i for i, split in enumerate(splits)}
    tasks = [(split, first, chunk) for split, utts in splits.items()
             for first, chunk in beam_output.chunks(utts, CHUNK)]

    def build_pipeline(pipeline):
        converted = (
            pipeline
            | "chunks" >> beam.Create(tasks)
            | "spread" >> beam.Reshuffle()
            | "convert" >> beam.FlatMap(_convert_chunk, rank, tuple(perturb)).with_outputs(
                "problems", "stats", "copies", main="records")
        )
        beam_output.write_list(converted.problems, posixpath.join(build, PROBLEMS), "problems")
        stats = converted.stats | "train stats" >> beam.CombineGlobally(_stats_combiner())
        beam_output.write_list(stats, posixpath.join(build, STATS), "train stats")
        records = (converted.records, converted.copies) | "records and copies" >> beam.Flatten()
        beam_output.write_sharded(records, build, num_shards, ranked=(PERTURBED_SPLIT,))

    beam_output.run(build_pipeline, beam_args)
    problems = beam_output.read_list(posixpath.join(build, PROBLEMS))
    if problems:
        raise CorpusError(min(problems)[2])
    (stats,) = beam_output.read_list(posixpath.join(build, STATS))
    # The copies' split is not checked against a count: one with no frame left is left out.
    written = beam_output.collect(build, num_shards, {split: len(utts) for split, utts in splits.items()})
    return written, stats
