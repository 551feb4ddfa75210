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
one-line error naming it. A rerun with the same inputs and options does nothing.
"""

import argparse
import dataclasses
import fractions
import hashlib
import json
import math
import os
import re
import sys
import time

import numpy as np
import scipy.signal

from mimic_keras.data import features, phones, records, sphere, writer
from mimic_keras.data.timit import EXTRA_SPLITS, PERTURBED_SPLIT, speed_key

FORMAT_VERSION = 1
REAL_TIMIT_TRAIN_SPEAKERS, REAL_TIMIT_DEV_SPEAKERS = 462, 50
UTTERANCES_PER_SHARD = 256
_AUDIO_EXTENSIONS = (".wav", ".flac", ".sph")
MAX_PERTURB_DENOMINATOR = 100  # factors are p/q with q <= 100 (0.9 = 9/10): short resampling filters


class CorpusError(ValueError):
    """A corpus that cannot be converted; the message names the file or folder."""


@dataclasses.dataclass(frozen=True)
class Utterance:
    part: str  # TRAIN or TEST
    dialect: str  # DR1..DR8
    speaker: str  # e.g. FCJF0
    name: str  # e.g. SX127
    audio: str
    phn: str

    @property
    def id(self):
        return f"{self.speaker}_{self.name}"


def _subdirs(path):
    return {e.name.upper(): e.path for e in os.scandir(path) if e.is_dir()}


def find_parts(root):
    """`{"TRAIN": path, "TEST": path}` under `root` or one folder below it, any letter case."""
    if not os.path.isdir(root):
        raise CorpusError(f"{root}: no such folder")
    candidates = [root] + sorted(_subdirs(root).values())
    for folder in candidates:
        subs = _subdirs(folder)
        if "TRAIN" in subs and "TEST" in subs:
            return {"TRAIN": subs["TRAIN"], "TEST": subs["TEST"]}
    raise CorpusError(f"{root}: no TRAIN and TEST folders (TIMIT layout TRAIN|TEST/DR1..DR8/<speaker>/<utt>.WAV)")


def scan(root):
    """Lists the utterances of a TIMIT tree.

    Returns:
        `{"TRAIN": [Utterance], "TEST": [Utterance]}`, sorted by speaker and name. An
        utterance's audio is its `.WAV` (or `.flac`/`.sph`); a `.PHN` that is missing is
        reported later, by the check.
    """
    corpus = {}
    for part, part_dir in find_parts(root).items():
        utts = []
        for dialect, dr_dir in sorted(_subdirs(part_dir).items()):
            if not re.fullmatch(r"DR\d", dialect):
                continue
            for speaker, spk_dir in sorted(_subdirs(dr_dir).items()):
                files = {}
                for entry in os.scandir(spk_dir):
                    if entry.is_file() and not entry.name.startswith("."):
                        stem, ext = entry.name.split(".")[0].upper(), os.path.splitext(entry.name)[1].lower()
                        files.setdefault(stem, []).append((ext, entry.path))
                for name, found in sorted(files.items()):
                    audio = [p for ext, p in sorted(found) if ext in _AUDIO_EXTENSIONS]
                    if not audio:
                        continue
                    # Prefer the corpus's own .WAV over copies converted beside it (SA1.WAV.wav).
                    audio.sort(key=lambda p: (p.lower().count("."), p))
                    phn = [p for ext, p in found if ext == ".phn"]
                    default_phn = os.path.join(spk_dir, name + (".PHN" if name.isupper() else ".phn"))
                    utts.append(Utterance(part, dialect, speaker, name, audio[0], phn[0] if phn else default_phn))
        corpus[part] = utts
    if not corpus["TRAIN"]:
        raise CorpusError(f"{root}: no utterances under TRAIN")
    return corpus


def _hash_order(speakers):
    """Speakers in a fixed pseudo-random order, the same on every machine (sha256 of the id)."""
    return sorted(speakers, key=lambda s: hashlib.sha256(s.encode()).hexdigest())


def _speakers_of(splits):
    """`{split: sorted speaker ids}` of `{split: [Utterance]}`."""
    return {k: sorted({u.speaker for u in v}) for k, v in splits.items()}


def choose_dev_speakers(speakers, count):
    """`count` speakers for the dev set, the same on every machine (ordered by sha256 of the id)."""
    return sorted(_hash_order(speakers)[:count])


def default_dev_speakers(num_train_speakers):
    """50 for TIMIT's 462 training speakers, proportionally fewer for a smaller corpus."""
    if num_train_speakers < 2:
        return 0
    return max(1, round(REAL_TIMIT_DEV_SPEAKERS * num_train_speakers / REAL_TIMIT_TRAIN_SPEAKERS))


def plan_splits(corpus, dev_speakers=None, full_test=False, include_sa=False, limit=None):
    """Assigns utterances to train / dev / test.

    Returns:
        `({split: [Utterance]}, {split: [speaker ids]})`.
    """
    def keep(u):
        return include_sa or not u.name.startswith("SA")

    train_speakers = sorted({u.speaker for u in corpus["TRAIN"]})
    n_dev = default_dev_speakers(len(train_speakers)) if dev_speakers is None else dev_speakers
    if not 0 <= n_dev < len(train_speakers):
        raise CorpusError(f"--dev-speakers {n_dev}: TRAIN has {len(train_speakers)} speakers")
    dev = set(choose_dev_speakers(train_speakers, n_dev))
    test_speakers = {u.speaker for u in corpus["TEST"]}
    if not full_test:
        test_speakers &= set(phones.CORE_TEST_SPEAKERS)
        if not test_speakers:
            raise CorpusError("no core test speaker (MDAB0, MWBT0, ...) under TEST; use --full-test for all TEST speakers")
    splits = {
        "train": [u for u in corpus["TRAIN"] if u.speaker not in dev and keep(u)],
        "dev": [u for u in corpus["TRAIN"] if u.speaker in dev and keep(u)],
        "test": [u for u in corpus["TEST"] if u.speaker in test_speakers and keep(u)],
    }
    if not n_dev:
        del splits["dev"]
    if limit:
        splits = {k: v[:limit] for k, v in splits.items()}
    return splits, _speakers_of(splits)


def read_sentence(utt):
    """The sentence of an utterance's `.TXT` ("<begin> <end> <text>"), lower case, words only.

    Raises:
        CorpusError: no `.TXT` beside the audio, or one without text.
    """
    stem = os.path.splitext(utt.phn)[0]
    for path in (stem + ".TXT", stem + ".txt"):
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                fields = f.read().split(None, 2)
            words = re.findall(r"[a-z0-9']+", fields[2].lower()) if len(fields) == 3 else []
            if not words:
                raise CorpusError(f"{path}: no sentence (expected '<begin> <end> <text>')")
            return " ".join(words)
    raise CorpusError(f"{stem}.TXT: missing; --unlabelled compares sentences to leave out the test ones")


def plan_extra(extra_root, corpus, dev_speakers, include_sa=False, limit=None):
    """The `extra_*` splits: another corpus's TRAIN speech minus the sentences of `corpus`'s TEST and dev.

    Args:
        extra_root: the other corpus.
        corpus: `scan()` of the labelled corpus.
        dev_speakers: its dev speakers (their sentences are held out too).
        include_sa: keep SA1/SA2.
        limit: at most this many utterances per part.

    Returns:
        `({split: [Utterance]}, {split: [speaker ids]}, left_out)`: four parts of equal speaker
        counts (±1) and the number of utterances left out for their sentence.
    """
    dev = set(dev_speakers)
    held_out = {read_sentence(u) for u in corpus["TEST"]}
    held_out |= {read_sentence(u) for u in corpus["TRAIN"] if u.speaker in dev}
    utts = [u for u in scan(extra_root)["TRAIN"] if include_sa or not u.name.startswith("SA")]
    kept = [u for u in utts if read_sentence(u) not in held_out]
    speakers = _hash_order({u.speaker for u in kept})
    if len(speakers) < len(EXTRA_SPLITS):
        raise CorpusError(f"{extra_root}: {len(speakers)} TRAIN speakers with usable sentences; "
                          f"--unlabelled needs at least {len(EXTRA_SPLITS)}")
    part = {s: i % len(EXTRA_SPLITS) for i, s in enumerate(speakers)}
    splits = {name: [u for u in kept if part[u.speaker] == i][:limit] for i, name in enumerate(EXTRA_SPLITS)}
    return splits, _speakers_of(splits), len(utts) - len(kept)


def read_utterance(utt):
    """Audio and transcription of one utterance, checked.

    Returns:
        `(samples, segments, states, segment_ids, first_frame)`: float32 audio, `.PHN`
        segments, state ids and segment indices of the transcribed frames, and the index of
        the first of them.

    Raises:
        CorpusError: anything wrong with either file, in one line naming it.
    """
    try:
        samples, _ = sphere.read_audio(utt.audio, features.SAMPLE_RATE)
        segments = phones.read_phn(utt.phn, num_samples=len(samples))
    except (sphere.AudioFormatError, phones.TranscriptError) as e:
        raise CorpusError(str(e)) from None
    states, segment_ids = phones.frame_states(segments, features.num_frames(len(samples)), features.FRAME_LENGTH, features.FRAME_STEP)
    labelled = np.nonzero(states >= 0)[0]
    if len(labelled) == 0:
        raise CorpusError(f"{utt.audio}: {len(samples)} samples: no complete 25 ms frame inside the transcribed span")
    span = slice(labelled[0], labelled[-1] + 1)
    return samples, segments, states[span], segment_ids[span], int(labelled[0])


def perturb_factors(factors):
    """Speed-perturbation factors, checked, sorted and without duplicates.

    Args:
        factors: numbers, or a comma-separated string ("0.9,1.1").

    Returns:
        A tuple of floats, each in [0.5, 2], not 1, a fraction p/q with q <= 100.

    Raises:
        CorpusError: a factor outside that range or too finely given.
    """
    if isinstance(factors, str):
        factors = [f for f in factors.replace(" ", "").split(",") if f]
    out = set()
    for f in factors:
        try:
            f = float(f)
        except ValueError:
            raise CorpusError(f"--perturb: {f!r} is not a number") from None
        if not 0.5 <= f <= 2.0 or f == 1.0:
            raise CorpusError(f"--perturb: factor {f:g} must be in [0.5, 2] and not 1")
        if abs(float(_ratio(f)) - f) > 1e-9:
            raise CorpusError(f"--perturb: factor {f!r} is not p/q with q <= {MAX_PERTURB_DENOMINATOR}")
        out.add(f)
    return tuple(sorted(out))


def _ratio(factor):
    return fractions.Fraction(factor).limit_denominator(MAX_PERTURB_DENOMINATOR)


def speed_perturb(samples, segments, factor):
    """Plays an utterance `factor` times faster (sox's `speed`): resampled by 1/factor.

    Args:
        samples: float audio `[N]` at 16 kHz.
        segments: its `.PHN` segments `(begin, end, phone)`.
        factor: the speed, p/q.

    Returns:
        `(samples, segments)`: float32 audio of ceil(N q / p) samples, a polyphase resampling
        (`scipy.signal.resample_poly`, deterministic), and the segment boundaries scaled to it.
    """
    ratio = _ratio(factor)
    up, down = ratio.denominator, ratio.numerator
    out = scipy.signal.resample_poly(np.asarray(samples, np.float64), up, down).astype(np.float32)
    scaled = [(min(len(out), round(b * up / down)), min(len(out), round(e * up / down)), p) for b, e, p in segments]
    return out, scaled


def perturbed_features(samples, segments, factor):
    """Features `[T, 123]` of a speed-perturbed utterance, cut to its transcribed span, or None.

    The span is the original's scaled by 1/factor, cut as `read_utterance` cuts the original
    (frames whose centre lies inside it): about 1/factor as many frames. None when no frame fits.
    """
    audio, scaled = speed_perturb(samples, segments, factor)
    states, _ = phones.frame_states(scaled, features.num_frames(len(audio)), features.FRAME_LENGTH, features.FRAME_STEP)
    inside = np.nonzero(states >= 0)[0]
    if len(inside) == 0:
        return None
    return features.compute_features(audio).numpy()[inside[0]:inside[-1] + 1]


class TrainStats:
    """Streaming statistics of the training split (float64 sums)."""

    def __init__(self):
        self.frames = 0
        self.sum = np.zeros(features.FEATURE_DIM, np.float64)
        self.sumsq = np.zeros(features.FEATURE_DIM, np.float64)
        self.state_counts = np.zeros(phones.NUM_STATES, np.int64)
        self.transitions = np.zeros((3, phones.NUM_STATES), np.int64)  # self, next, exit
        # Row NUM_PHONES is the utterance start, column NUM_PHONES its end.
        self.bigram = np.zeros((phones.NUM_PHONES + 1, phones.NUM_PHONES + 1), np.int64)

    def add(self, feats, states, segment_ids, phone_ids):
        x = np.asarray(feats, np.float64)
        self.frames += len(x)
        self.sum += x.sum(0)
        self.sumsq += np.square(x).sum(0)
        np.add.at(self.state_counts, states, 1)
        # From each frame's state: `self` (same state), `next` (next state of the same
        # segment) or `exit` (a new segment begins, possibly of the same phone).
        new_segment = segment_ids[1:] != segment_ids[:-1]
        kind = np.where(new_segment, 2, np.where(states[1:] == states[:-1], 0, 1))
        np.add.at(self.transitions, (kind, states[:-1]), 1)
        self.transitions[2, states[-1]] += 1  # leaving the last phone ends the utterance
        seq = [phones.NUM_PHONES] + list(phone_ids) + [phones.NUM_PHONES]
        np.add.at(self.bigram, (seq[:-1], seq[1:]), 1)

    def manifest_entries(self):
        mean = self.sum / self.frames
        std = np.sqrt(np.maximum(self.sumsq / self.frames - mean ** 2, 1e-8))
        return {
            "normalization": {"split": "train", "frames": self.frames, "mean": mean.tolist(), "std": std.tolist()},
            "train_stats": {
                "state_counts": self.state_counts.tolist(),
                "transitions": {k: v.tolist() for k, v in zip(("self", "next", "exit"), self.transitions)},
                "bigram_counts": self.bigram.tolist(),
                "bigram_note": f"row/column {phones.NUM_PHONES} = utterance start/end",
            },
        }


def _fingerprint(root, splits, options):
    digest = hashlib.sha256(json.dumps([FORMAT_VERSION, features.CONFIG, options], sort_keys=True).encode())
    for split, utts in sorted(splits.items()):
        for u in utts:
            digest.update(f"{split} {os.path.relpath(u.audio, root)} {os.path.relpath(u.phn, root)}\n".encode())
            for path in (u.audio, u.phn):
                if os.path.exists(path):
                    digest.update(writer.sha256_file(path).encode())
    return digest.hexdigest()


def _records(split, utts, stats, counts, log, unlabelled=False):
    """Records of one split; `unlabelled`: every state -1 and no transcription (extra speech)."""
    started = time.time()
    for i, u in enumerate(utts, 1):
        samples, segments, states, segment_ids, first = read_utterance(u)
        feats = features.compute_features(samples).numpy()[first:first + len(states)]
        phone_ids = [phones.PHONE_INDEX[p] for _, _, p in segments]
        if stats is not None:
            stats.add(feats, states, segment_ids, phone_ids)
        counts["frames"] += len(states)
        if unlabelled:
            states, phone_ids = np.full(len(states), -1), []
        yield records.timit_example(feats, states, u.id, u.speaker, phone_ids)
        if i % 200 == 0 or i == len(utts):
            log(f"  {split}: {i}/{len(utts)} utterances, {counts['frames']} frames, {time.time() - started:.1f} s")


def _perturbed_records(utts, factors, counts, log):
    """Unlabelled records: each utterance at each speed (state -1, no transcription)."""
    started = time.time()
    for i, u in enumerate(utts, 1):
        samples, segments, *_ = read_utterance(u)
        for f in factors:
            feats = perturbed_features(samples, segments, f)
            if feats is None:
                log(f"  {PERTURBED_SPLIT}: {u.id} at speed {f:g} keeps no frame; left out")
                continue
            entry = counts[speed_key(f)]
            entry["count"] += 1
            entry["frames"] += len(feats)
            yield records.timit_example(feats, np.full(len(feats), -1), f"{u.id}_sp{speed_key(f)}", u.speaker, [],
                                        speed=f)
        if i % 200 == 0 or i == len(utts):
            frames = sum(c["frames"] for c in counts.values())
            log(f"  {PERTURBED_SPLIT}: {i}/{len(utts)} utterances x {len(factors)} speeds, {frames} frames, "
                f"{time.time() - started:.1f} s")


def convert(timit_root, out_dir, *, dev_speakers=None, full_test=False, include_sa=False, perturb=(), unlabelled=None,
            shards=None, force=False, limit=None, log=print):
    """Converts a TIMIT tree into sharded TFRecords with a manifest.

    Args:
        timit_root: the corpus (the folder holding TRAIN and TEST, or its parent).
        out_dir: output folder; gets `{train,dev,test}.tfrecord-*` and `manifest.json`.
        dev_speakers: speakers held out of TRAIN for dev (default: 50 × TRAIN speakers / 462;
            0: no dev split).
        full_test: test on every TEST speaker instead of the 24-speaker core test set.
        include_sa: keep the SA1/SA2 sentences.
        perturb: speed factors (e.g. `(0.9, 1.1)`): also write the `unlabelled` split, every
            train utterance at each speed, state -1 (default: none).
        unlabelled: another TIMIT-layout corpus whose TRAIN speech (minus this corpus's test
            and dev sentences) becomes the `extra_0..3` splits, state -1 (default: none).
        shards: shards per split (default: one per 256 utterances).
        force: redo even when a finished output with the same inputs exists.
        limit: at most this many utterances per split (quick runs).
        log: progress printer.

    Returns:
        The manifest dict.

    Raises:
        CorpusError: a bad corpus or file, before anything is written.
    """
    started = time.time()
    corpus = scan(timit_root)
    splits, speakers = plan_splits(corpus, dev_speakers, full_test, include_sa, limit)
    perturb = perturb_factors(perturb)
    options = {"dev_speakers": len(speakers.get("dev", [])), "full_test": full_test, "include_sa": include_sa,
               "shards": shards, "limit": limit}
    if perturb:  # only then, so that conversions without it keep their fingerprints
        options["perturb"] = list(perturb)
    left_out = 0
    if unlabelled:
        extra, extra_speakers, left_out = plan_extra(unlabelled, corpus, speakers.get("dev", []), include_sa, limit)
        splits, speakers = {**splits, **extra}, {**speakers, **extra_speakers}
        options["unlabelled"] = os.path.abspath(unlabelled)
    fingerprint = _fingerprint(timit_root, splits, options)
    if not force and writer.is_complete(out_dir, fingerprint):
        log(f"{out_dir}: already converted from these files with these options; nothing to do")
        return writer.read_manifest(out_dir)

    log(f"checking {sum(map(len, splits.values()))} utterances under {timit_root}")
    for utts in splits.values():
        for u in utts:
            read_utterance(u)

    old_shards = set()
    if os.path.exists(os.path.join(out_dir, writer.MANIFEST)):
        try:
            old = writer.read_manifest(out_dir)
            old_shards = {s["file"] for v in old.get("splits", {}).values() for s in v.get("shards", [])}
        except json.JSONDecodeError:
            pass
        os.remove(os.path.join(out_dir, writer.MANIFEST))  # the old output is no longer valid

    manifest = {
        "dataset": "timit",
        "format_version": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "source": {"root": os.path.abspath(timit_root), **options},
        "features": features.CONFIG,
        "phones": list(phones.PHONES),
        "states_per_phone": phones.STATES_PER_PHONE,
        "num_states": phones.NUM_STATES,
        "state_labels": "3 equal parts (in frames) of each .PHN segment; state id = 3 x phone index + state",
        "fold_61_to_39": phones.FOLD_61_TO_39,
        "splits": {},
    }
    stats = TrainStats()
    for split, utts in splits.items():
        log(f"{split}: {len(utts)} utterances from {len(speakers[split])} speakers")
        counts = {"frames": 0}
        n_shards = shards or max(1, math.ceil(len(utts) / UTTERANCES_PER_SHARD))
        is_extra = split in EXTRA_SPLITS
        shard_info = writer.write_shards(
            out_dir, split, _records(split, utts, stats if split == "train" else None, counts, log, is_extra), n_shards
        )
        manifest["splits"][split] = {
            "count": len(utts),
            "frames": counts["frames"],
            "speakers": speakers[split],
            "shards": shard_info,
        }
        if is_extra:
            manifest["splits"][split]["labels"] = "none: another corpus's TRAIN speech, every state -1"
    if unlabelled:
        manifest["source"]["unlabelled_left_out"] = left_out
        log(f"extra speech from {unlabelled}: {left_out} utterances left out (their sentence is read in TEST or dev)")
    if perturb:
        utts = splits["train"]
        log(f"{PERTURBED_SPLIT}: {len(utts)} train utterances at speeds {', '.join(map(speed_key, perturb))}")
        counts = {speed_key(f): {"ratio": str(_ratio(f)), "count": 0, "frames": 0} for f in perturb}
        n_shards = shards or max(1, math.ceil(len(utts) * len(perturb) / UTTERANCES_PER_SHARD))
        shard_info = writer.write_shards(out_dir, PERTURBED_SPLIT, _perturbed_records(utts, perturb, counts, log),
                                         n_shards)
        manifest["splits"][PERTURBED_SPLIT] = {
            "count": sum(c["count"] for c in counts.values()),
            "frames": sum(c["frames"] for c in counts.values()),
            "speakers": speakers["train"],
            "source_split": "train",
            "labels": "none: speed-perturbed copies, every state -1, no transcription",
            "factors": counts,
            "shards": shard_info,
        }
    manifest.update(stats.manifest_entries())
    manifest["seconds"] = round(time.time() - started, 1)
    writer.write_manifest(out_dir, manifest)
    new_shards = {s["file"] for v in manifest["splits"].values() for s in v["shards"]}
    for name in old_shards - new_shards:
        if os.path.exists(os.path.join(out_dir, name)):
            os.remove(os.path.join(out_dir, name))
    log(f"wrote {out_dir} in {manifest['seconds']} s: " + ", ".join(
        f"{k} {v['count']} utterances / {v['frames']} frames" for k, v in manifest["splits"].items()))
    return manifest


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timit", required=True, help="TIMIT root (holding TRAIN and TEST)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--dev-speakers", type=int, default=None, help="speakers held out of TRAIN (default: 50 x N/462)")
    parser.add_argument("--full-test", action="store_true", help="test on all TEST speakers, not the 24-speaker core set")
    parser.add_argument("--include-sa", action="store_true", help="keep the SA1/SA2 sentences")
    parser.add_argument("--perturb", default="", metavar="F1,F2",
                        help="speed factors, e.g. 0.9,1.1: also write the unlabelled split (train at each speed)")
    parser.add_argument("--unlabelled", default=None, metavar="ROOT2",
                        help="another TIMIT-layout corpus: its TRAIN speech becomes the unlabelled extra_0..3 splits")
    parser.add_argument("--shards", type=int, default=None, help="shards per split")
    parser.add_argument("--limit", type=int, default=None, help="at most N utterances per split")
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    try:
        convert(args.timit, args.out, dev_speakers=args.dev_speakers, full_test=args.full_test,
                include_sa=args.include_sa, perturb=args.perturb, unlabelled=args.unlabelled, shards=args.shards,
                force=args.force, limit=args.limit)
    except CorpusError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
