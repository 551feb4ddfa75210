"""Convert a TIMIT corpus (LDC93S1 layout) to TFRecords of filterbank features and frame states.

    python -m pipelines.timit_to_tfrecord --timit ROOT --out DIR [--dev-speakers N] [--full-test]
        [--include-sa] [--perturb 0.9,1.1] [--unlabelled ROOT2] [--shards N] [--limit N] [--force]

Reads `ROOT/TRAIN|TEST/DR1..DR8/<SPEAKER>/<UTT>.WAV|.PHN` (any letter case; `ROOT` may also
be the folder above `TRAIN`), and writes three splits, speaker-disjoint:

    train   TRAIN minus the dev speakers (412 speakers in real TIMIT)
    dev     speakers held out of TRAIN: 50 in real TIMIT, else round(50 / 462 × TRAIN speakers);
            a fixed pseudo-random choice (speakers ordered by sha256 of their id)
    test    the 24-speaker core test set (`--full-test`: every TEST speaker)

`--perturb F1,F2,...` adds a fourth split, `unlabelled`: every train utterance speed-perturbed
by each factor f (Ko et al. 2015: the waveform resampled by 1/f, so it lasts 1/f as long and its
pitch and formants move by f; id suffixed `_sp<f>`, context feature `speed`), with the features
computed as for the other splits and every frame's state -1 (unknown): audio for the teacher to
label, which grows a mimic's transfer set. The normalisation statistics stay the unperturbed
train split's.

`--unlabelled ROOT2` adds the training speech of another corpus in TIMIT's layout (more
speakers and sentences, e.g. a larger synthetic stand-in) as four more splits, `extra_0` ..
`extra_3`: its TRAIN speakers dealt into four equal parts (in sha256 order of their ids), every
frame's state -1, its transcriptions used only to cut each utterance to its transcribed span.
An utterance whose sentence (`.TXT`) is also read in this corpus's TEST or dev speakers is left
out, so that no test sentence reaches the transfer set.

SA1/SA2 (read by every speaker) are left out unless `--include-sa`. Each utterance becomes one
`tf.train.SequenceExample` (spec in `mimic_keras/data/records.py`). The manifest records the
counts, frames, the phone set, the training split's feature mean and standard deviation
(float64 sums) and the statistics the decoder needs: state frame counts (priors), HMM
transition counts and phone bigram counts of the training transcriptions.

Every input file is checked before anything is written; a bad one stops the job with a
one-line error naming it. A rerun with the same inputs and options does nothing. The output is
built in a hidden sibling folder and renamed into place (`mimic_keras.atomic.atomic_output`).
With `--runner beam -- <Beam pipeline options>` the features are computed and written on Apache
Beam (`pipelines/beam_timit.py`, docs/beam.md): the same folder (its workers check the files).

In process, the same job is `run(Options(...))`; the flags above are generated from `Options`.
Speakers and splits: `timit_corpus.py`; features, speed perturbation, statistics: `timit_records.py`.
"""

import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from typing import Optional

from mimic_keras import jobs
from mimic_keras.data import features, phones, writer
from mimic_keras.data.manifest import Manifest, Shard, Source, Split
from mimic_keras.data.timit import EXTRA_SPLITS, PERTURBED_SPLIT, speed_key
from mimic_keras.jobs import option
from pipelines import beam_output
from pipelines.timit_corpus import (  # noqa: F401  (the job's API, as before the split)
    CorpusError, Utterance, choose_dev_speakers, default_dev_speakers, find_parts, plan_extra, plan_splits,
    read_sentence, read_utterance, scan,
)
from pipelines.timit_records import (  # noqa: F401
    TrainStats, perturb_factors, perturbed_features, perturbed_records, speed_perturb, speed_ratio, utterance_records,
)

FORMAT_VERSION = 1
UTTERANCES_PER_SHARD = 256


@dataclasses.dataclass(frozen=True)
class Options:
    """The conversion's options; the CLI's flags are generated from these fields."""

    timit: str = option("TIMIT root (holding TRAIN and TEST)")
    out: str = option("output folder")
    dev_speakers: Optional[int] = option("speakers held out of TRAIN (default: 50 x N/462)", None)
    full_test: bool = option("test on all TEST speakers, not the 24-speaker core set", False)
    include_sa: bool = option("keep the SA1/SA2 sentences", False)
    perturb: tuple[float, ...] = option(
        "speed factors, e.g. 0.9,1.1: also write the unlabelled split (train at each speed)", (), comma=True,
        metavar="F1,F2",
    )
    unlabelled: Optional[str] = option(
        "another TIMIT-layout corpus: its TRAIN speech becomes the unlabelled extra_0..3 splits", None, metavar="ROOT2"
    )
    shards: Optional[int] = option("shards per split (default: one per 256 utterances)", None)
    limit: Optional[int] = option("at most N utterances per split", None)
    force: bool = option("redo even when a finished output with the same inputs exists", False)
    runner: str = jobs.runner_option()
    beam_args: tuple[str, ...] = jobs.beam_args_option()


def _fingerprint(root, splits, options):
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, features.CONFIG, options], sort_keys=True).encode())
    for split, utts in sorted(splits.items()):
        for u in utts:
            digest.update(f"{split} {os.path.relpath(u.audio, root)} {os.path.relpath(u.phn, root)}\n".encode())
            for path in (u.audio, u.phn):
                if os.path.exists(path):
                    digest.update(writer.sha256_file(path).encode())
    return digest.hexdigest()


def _write_split(build, split, records, n_shards, **fields):
    shards = writer.write_shards(build, split, records, n_shards)
    return Split(shards=[Shard(**s) for s in shards], **fields)


_EXTRA_LABELS = "none: another corpus's TRAIN speech, every state -1"


def _speed_counts(perturb):
    return {speed_key(f): {"ratio": str(speed_ratio(f)), "count": 0, "frames": 0} for f in perturb}


def _perturbed_split(split):
    """The speed-perturbed copies' `Split`, its count and frames summed from its `factors`."""
    split.count = sum(c["count"] for c in split.factors.values())
    split.frames = sum(c["frames"] for c in split.factors.values())
    split.extra.update(source_split="train", labels="none: speed-perturbed copies, every state -1, no transcription")
    return split


def _convert_in_process(build, manifest, splits, speakers, num_shards, perturb, beam_args, log):
    """Every split (and the copies) converted in this process into `manifest`."""
    stats = TrainStats()
    for split, utts in splits.items():
        log(f"{split}: {len(utts)} utterances from {len(speakers[split])} speakers")
        counts = {"frames": 0}
        is_extra = split in EXTRA_SPLITS
        records = utterance_records(split, utts, stats if split == "train" else None, counts, log, is_extra)
        manifest.splits[split] = _write_split(build, split, records, num_shards[split], count=len(utts),
                                              speakers=speakers[split])
        manifest.splits[split].frames = counts["frames"]
        if is_extra:
            manifest.splits[split].extra["labels"] = _EXTRA_LABELS
    if perturb:
        utts = splits["train"]
        log(f"{PERTURBED_SPLIT}: {len(utts)} train utterances at speeds {', '.join(map(speed_key, perturb))}")
        counts = _speed_counts(perturb)
        manifest.splits[PERTURBED_SPLIT] = _perturbed_split(_write_split(
            build, PERTURBED_SPLIT, perturbed_records(utts, perturb, counts, log), num_shards[PERTURBED_SPLIT],
            count=0, speakers=speakers["train"], factors=counts))
    manifest.extra.update(stats.manifest_entries())


def _convert_on_beam(build, manifest, splits, speakers, num_shards, perturb, beam_args, log):
    """Every split (and the copies) converted on Apache Beam (`pipelines/beam_timit.py`) into `manifest`."""
    from pipelines import beam_timit  # Beam is imported only when asked for

    log(f"converting {', '.join(num_shards)} on Apache Beam ({' '.join(beam_args) or 'DirectRunner'})")
    written, stats = beam_timit.convert_splits(build, splits, num_shards, perturb, beam_args)
    for split, (shards, tally) in written.items():
        fields = {"speakers": speakers["train" if split == PERTURBED_SPLIT else split],
                  "shards": [Shard(**s) for s in shards]}
        if split != PERTURBED_SPLIT:
            manifest.splits[split] = Split(count=len(splits[split]), frames=tally.get("frames", 0), **fields)
            if split in EXTRA_SPLITS:
                manifest.splits[split].extra["labels"] = _EXTRA_LABELS
            continue
        counts = _speed_counts(perturb)
        for key, entry in counts.items():
            entry.update(count=tally.get(f"{key}/count", 0), frames=tally.get(f"{key}/frames", 0))
        manifest.splits[split] = _perturbed_split(Split(count=0, factors=counts, **fields))
    manifest.extra.update(stats)


def run(options, log=print):
    """Converts a TIMIT tree into sharded TFRecords with a manifest.

    Args:
        options: an `Options`.
        log: progress printer.

    Returns:
        The `Manifest` (the existing one when the output was already complete); its `options`
        are `dataclasses.asdict(options)` with absolute paths and checked speed factors.

    Raises:
        CorpusError: a bad corpus or file, before anything is written.

    Example:
        manifest = run(Options(timit="TIMIT", out="cache/timit", perturb=(0.9, 1.1)))
    """
    started = time.time()
    root, out_dir, unlabelled = options.timit, jobs.absolute(options.out), options.unlabelled
    beam_output.check_runner(options.runner, options.beam_args, options.out)
    corpus = scan(root)
    splits, speakers = plan_splits(corpus, options.dev_speakers, options.full_test, options.include_sa, options.limit)
    perturb = perturb_factors(options.perturb)
    fingerprinted = {"dev_speakers": len(speakers.get("dev", [])), "full_test": options.full_test,
                     "include_sa": options.include_sa, "shards": options.shards, "limit": options.limit}
    if perturb:  # only then, so that conversions without it keep their fingerprints
        fingerprinted["perturb"] = list(perturb)
    left_out = 0
    if unlabelled:
        extra, extra_speakers, left_out = plan_extra(unlabelled, corpus, speakers.get("dev", []),
                                                     options.include_sa, options.limit)
        splits, speakers = {**splits, **extra}, {**speakers, **extra_speakers}
        fingerprinted["unlabelled"] = os.path.abspath(unlabelled)
    fingerprint = _fingerprint(root, splits, fingerprinted)
    if not options.force and writer.is_complete(out_dir, fingerprint):
        log(f"{out_dir}: already converted from these files with these options; nothing to do")
        return Manifest.read(out_dir)

    if options.runner != "beam":  # on Beam the workers check the files, and the first bad one stops the job
        log(f"checking {sum(map(len, splits.values()))} utterances under {root}")
        for utts in splits.values():
            for u in utts:
                read_utterance(u)

    recorded = dataclasses.replace(options, timit=os.path.abspath(root), out=out_dir, perturb=perturb,
                                   unlabelled=jobs.absolute(unlabelled))
    manifest = Manifest(
        dataset="timit",
        fingerprint=fingerprint,
        source=Source.from_dict({"root": os.path.abspath(root), **fingerprinted}, "source", out_dir),
        options=json.loads(json.dumps(dataclasses.asdict(recorded))),
        splits={},
        extra={
            "format_version": FORMAT_VERSION,
            "features": features.CONFIG,
            "phones": list(phones.PHONES),
            "states_per_phone": phones.STATES_PER_PHONE,
            "num_states": phones.NUM_STATES,
            "state_labels": "3 equal parts (in frames) of each .PHN segment; state id = 3 x phone index + state",
            "fold_61_to_39": phones.FOLD_61_TO_39,
        },
    )
    num_shards = {split: options.shards or max(1, math.ceil(len(utts) / UTTERANCES_PER_SHARD))
                  for split, utts in splits.items()}
    if perturb:
        num_shards[PERTURBED_SPLIT] = options.shards or max(
            1, math.ceil(len(splits["train"]) * len(perturb) / UTTERANCES_PER_SHARD))
    with jobs.atomic_output(out_dir, force=options.force) as build:
        convert_splits = _convert_on_beam if options.runner == "beam" else _convert_in_process
        convert_splits(build, manifest, splits, speakers, num_shards, perturb, options.beam_args, log)
        if unlabelled:
            manifest.source.extra["unlabelled_left_out"] = left_out
            log(f"extra speech from {unlabelled}: {left_out} utterances left out "
                "(their sentence is read in TEST or dev)")
        manifest.extra["seconds"] = round(time.time() - started, 1)
        manifest.write(build)
    log(f"wrote {out_dir} in {manifest.extra['seconds']} s: " + ", ".join(
        f"{k} {v.count} utterances / {v.frames} frames" for k, v in manifest.splits.items()))
    return manifest


def convert(timit_root, out_dir, *, log=print, **kwargs):
    """`run(Options(timit=timit_root, out=out_dir, **kwargs))`, returning the manifest's JSON object.

    Example:
        manifest = convert("TIMIT", "cache/timit", limit=10)
    """
    return run(Options(timit=timit_root, out=out_dir, **kwargs), log=log).to_dict()


def main(argv=None):
    """The command line, generated from `Options`: exit status 0, or 2 with a one-line error."""
    return jobs.run_cli(Options, run, argv, errors=(CorpusError, jobs.OutputExists),
                        prog="python -m pipelines.timit_to_tfrecord",
                        description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
