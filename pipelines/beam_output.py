"""What every Beam job shares: the shards it writes, the report of them, and the driver's check.

The Beam jobs (`beam_images.py`, `beam_timit.py`, `beam_labelling.py`, `beam_timit_labelling.py`) turn their input into
a PCollection of `(split, key, record, tally)`: the serialized record, a key that sorts the
split's records in the order the in-process job writes them, and a small `{name: int}` tally
(frames, encodings, ...) summed per shard. `write_sharded` places each record where the
in-process job's round-robin `writer.write_shards` puts it, writes every shard atomically into
the job's build folder and has one worker report them all:

    (split, key, record, tally) ─[rank keys]─▶ ((split, shard), (position, record, tally))
        ─GroupByKey─▶ one shard file per key (temporary name, rename) ─▶ report (JSON, last)

Keys are the positions 0..n-1 when every input gives one record; for the `ranked` splits (some
inputs give none: a speed-perturbed copy with no frame left) a first pass collects the split's
keys and a record's position is its key's rank among them.

The driver runs the pipeline (`run`), then `collect` checks that every shard of every split was
reported with the counts it expects before the job writes its manifest: a pipeline that fails,
or a worker whose output is lost, leaves no manifest, and `jobs.atomic_output` removes the build
folder. Shards, the report and the manifest go through `tf.io.gfile`, so the output may be a URL
(`gs://...`) where TensorFlow has that file system (`atomic_output` then writes into the folder
itself, manifest last); a local build folder must be one that the driver and every worker see.
Beam is imported only inside these functions, and only when a job is asked to run on it.
"""

import collections
import json
import posixpath

REPORT = ".beam-shards.json"  # the workers' shard report; hidden, removed before the manifest
INSTALL = 'pip install -r requirements-beam.txt -e ".[beam]"'


def require_beam():
    """Raises a one-line `ValueError` naming the extra to install when apache-beam is missing."""
    try:
        import apache_beam  # noqa: F401
    except ImportError:
        raise ValueError(f"--runner beam needs apache-beam: {INSTALL}") from None


def check_runner(runner, beam_args, out, *inputs):
    """A job's `runner` and `beam_args` checked, with its output and input folders; one-line `ValueError`s.

    Beam options only with the Beam runner, which needs apache-beam. An output URL (`gs://...`)
    only with the Beam runner, whose workers write through `tf.io.gfile`; the inputs are paths.
    """
    if beam_args and runner != "beam":
        raise ValueError(f"Beam pipeline options given without --runner beam: {' '.join(beam_args)}")
    if runner == "beam":
        require_beam()
    elif out and "://" in str(out):
        raise ValueError(f"{out}: an output URL needs --runner beam (the in-process jobs write local folders)")
    for path in inputs:
        if path and "://" in str(path):
            raise ValueError(f"{path}: the jobs read their inputs from a path (a shared mount on a cluster), not a URL")


def pipeline_options(beam_args):
    """Beam's `PipelineOptions` from the arguments after `--` (none: the DirectRunner, in process)."""
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(list(beam_args))


def _rank(element, keys):
    """`(split, key, record, tally)` → `(split, position, record, tally)`, position = rank of key
    among its split's keys (splits not in `keys` keep theirs)."""
    import bisect

    split, key, record, tally = element
    if split not in keys:
        return element
    return split, bisect.bisect_left(keys[split], key), record, tally


def _to_shard(element, num_shards):
    split, position, record, tally = element
    return (split, position % num_shards[split]), (position, record, tally)


def _write_one(grouped, build, num_shards):
    """Writes one shard, its records in position order; returns `(split, shard dict, tally)`."""
    from mimic_keras.data import writer

    (split, shard), placed = grouped
    placed = sorted(placed, key=lambda p: p[0])
    tally = collections.Counter()
    for _, _, t in placed:
        tally.update(t or {})
    name = writer.shard_names(split, num_shards[split])[shard]
    return split, writer.write_shard(build, name, (record for _, record, _ in placed)), dict(tally)


def _write_json(items, path):
    """Writes a list as JSON, at once (temporary name, rename): the driver reads it after the run."""
    import tensorflow as tf

    tmp = f"{path}.tmp"
    with tf.io.gfile.GFile(tmp, "w") as f:
        f.write(json.dumps(sorted(items, key=lambda x: json.dumps(x, sort_keys=True)), sort_keys=True))
    tf.io.gfile.rename(tmp, path, overwrite=True)


def write_list(pcoll, path, label):
    """Collects a (small) PCollection into one list, written as JSON to `path` by one worker."""
    import apache_beam as beam

    _ = pcoll | f"collect {label}" >> beam.combiners.ToList() | f"write {label}" >> beam.Map(_write_json, path)


def read_list(path):
    """The list `write_list` wrote, removed once read; raises `ValueError` when it is missing."""
    import tensorflow as tf

    if not tf.io.gfile.exists(path):
        raise ValueError(f"{path}: the Beam pipeline finished without writing it")
    with tf.io.gfile.GFile(path) as f:
        items = json.load(f)
    tf.io.gfile.remove(path)
    return items


def write_sharded(records, build, num_shards, ranked=()):
    """Applies the shard-writing tail to `records`, a PCollection of `(split, key, record, tally)`.

    Args:
        records: the PCollection.
        build: the job's build folder (seen by every worker).
        num_shards: `{split: shards}`.
        ranked: the splits whose keys are not their records' positions 0..n-1 (some inputs gave
            no record) but only sort them: their records are placed by the rank of their key.
    """
    import apache_beam as beam

    if ranked:
        ranked = frozenset(ranked)
        keys = (
            records
            | "keys to rank" >> beam.Filter(lambda e: e[0] in ranked)
            | "keys" >> beam.Map(lambda e: (e[0], e[1]))
            | "keys by split" >> beam.GroupByKey()
            | "sort keys" >> beam.MapTuple(lambda split, ks: (split, sorted(ks)))
        )
        records = records | "rank" >> beam.Map(_rank, keys=beam.pvalue.AsDict(keys))
    records = records | "to shard" >> beam.Map(_to_shard, num_shards) | "by shard" >> beam.GroupByKey()
    write_list(records | "write shard" >> beam.Map(_write_one, build, num_shards), posixpath.join(build, REPORT),
               "shard report")


def collect(build, num_shards, expected=None):
    """Each split's shards and summed tally from the workers' report, checked.

    A shard in which no record fell (fewer records than shards) is written empty, as the
    in-process job writes it.

    Args:
        build: the build folder.
        num_shards: `{split: shards}`.
        expected: `{split: records}` to check the counts against (a split left out is not checked).

    Returns:
        `{split: ([shard dicts in order], {tally name: sum})}`.

    Raises:
        ValueError: no report, a shard written but not reported, or counts that do not add up.
    """
    import tensorflow as tf

    from mimic_keras.data import writer

    reported = {(split, s["file"]): (s, tally) for split, s, tally in read_list(posixpath.join(build, REPORT))}
    out = {}
    for split, n in num_shards.items():
        shards, tally = [], collections.Counter()
        for name in writer.shard_names(split, n):
            shard, shard_tally = reported.pop((split, name), (None, {}))
            if shard is None:
                if tf.io.gfile.exists(posixpath.join(build, name)):
                    raise ValueError(f"{build}/{name}: written but not reported by any worker")
                shard = writer.write_shard(build, name, [])
            shards.append(shard)
            tally.update(shard_tally)
        got = sum(s["count"] for s in shards)
        if expected is not None and split in expected and got != expected[split]:
            raise ValueError(f"{build}: split {split!r} has {got} records, expected {expected[split]}")
        out[split] = (shards, dict(tally))
    if reported:
        raise ValueError(f"{build}: the workers reported shards no split has: {sorted(reported)[0]}")
    return out


def run(build_pipeline, beam_args):
    """Builds the pipeline with `build_pipeline(pipeline)` and runs it to the end (raising on failure)."""
    import apache_beam as beam

    with beam.Pipeline(options=pipeline_options(beam_args)) as pipeline:
        build_pipeline(pipeline)


def chunks(items, size):
    """`(first index, items[first:first + size])` for consecutive chunks: a worker's task each."""
    return [(i, items[i:i + size]) for i in range(0, len(items), size)]
