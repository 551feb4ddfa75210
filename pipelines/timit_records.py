"""The records of a TIMIT conversion: features, frame states, speed-perturbed copies, statistics.

`speed_perturb` plays an utterance faster or slower (Ko et al. 2015), `TrainStats` sums what
the normaliser and the decoder need over the training split, and `utterance_records` /
`perturbed_records` yield the serialized `SequenceExample`s that `timit_to_tfrecord` shards.
"""

import fractions
import time

import numpy as np
import scipy.signal

from mimic_keras.data import features, phones, records
from mimic_keras.data.timit import PERTURBED_SPLIT, speed_key
from pipelines.timit_corpus import CorpusError, read_utterance

MAX_PERTURB_DENOMINATOR = 100  # factors are p/q with q <= 100 (0.9 = 9/10): short resampling filters


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
        if abs(float(speed_ratio(f)) - f) > 1e-9:
            raise CorpusError(f"--perturb: factor {f!r} is not p/q with q <= {MAX_PERTURB_DENOMINATOR}")
        out.add(f)
    return tuple(sorted(out))


def speed_ratio(factor):
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
    ratio = speed_ratio(factor)
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

    def merge(self, other):
        """Adds `other`'s sums into these (Beam's combiner merges the workers' partial statistics)."""
        self.frames += other.frames
        for name in ("sum", "sumsq", "state_counts", "transitions", "bigram"):
            getattr(self, name).__iadd__(getattr(other, name))
        return self

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


def utterance_record(u, unlabelled=False):
    """`(serialized record, the statistics' inputs (feats, states, segment ids, phone ids))` of one utterance.

    With `unlabelled` (extra speech) the record has every state -1 and no transcription.
    """
    samples, segments, states, segment_ids, first = read_utterance(u)
    feats = features.compute_features(samples).numpy()[first:first + len(states)]
    phone_ids = [phones.PHONE_INDEX[p] for _, _, p in segments]
    stats_inputs = (feats, states, segment_ids, phone_ids)
    if unlabelled:
        states, phone_ids = np.full(len(states), -1), []
    return records.timit_example(feats, states, u.id, u.speaker, phone_ids), stats_inputs


def utterance_records(split, utts, stats, counts, log, unlabelled=False):
    """Records of one split; `unlabelled`: every state -1 and no transcription (extra speech)."""
    started = time.time()
    for i, u in enumerate(utts, 1):
        record, stats_inputs = utterance_record(u, unlabelled)
        if stats is not None:
            stats.add(*stats_inputs)
        counts["frames"] += len(stats_inputs[1])
        yield record
        if i % 200 == 0 or i == len(utts):
            log(f"  {split}: {i}/{len(utts)} utterances, {counts['frames']} frames, {time.time() - started:.1f} s")


def perturbed_copies(u, factors):
    """`(factor, serialized record, frames)` of one utterance at each speed; the record is None when
    no frame is left (state -1, no transcription)."""
    samples, segments, *_ = read_utterance(u)
    for f in factors:
        feats = perturbed_features(samples, segments, f)
        if feats is None:
            yield f, None, 0
            continue
        yield f, records.timit_example(feats, np.full(len(feats), -1), f"{u.id}_sp{speed_key(f)}", u.speaker, [],
                                       speed=f), len(feats)


def perturbed_records(utts, factors, counts, log):
    """Unlabelled records: each utterance at each speed (state -1, no transcription)."""
    started = time.time()
    for i, u in enumerate(utts, 1):
        for f, record, frames in perturbed_copies(u, factors):
            if record is None:
                log(f"  {PERTURBED_SPLIT}: {u.id} at speed {f:g} keeps no frame; left out")
                continue
            entry = counts[speed_key(f)]
            entry["count"] += 1
            entry["frames"] += frames
            yield record
        if i % 200 == 0 or i == len(utts):
            frames = sum(c["frames"] for c in counts.values())
            log(f"  {PERTURBED_SPLIT}: {i}/{len(utts)} utterances x {len(factors)} speeds, {frames} frames, "
                f"{time.time() - started:.1f} s")
