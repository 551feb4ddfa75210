"""TIMIT evaluation: frame accuracies, Viterbi phone decoding and phone error rate (PER).

A hybrid decoder: each of the 61 phones is an HMM of 3 left-to-right states; a model's frame
posteriors over the 183 states, divided by the states' training priors, act as scaled
likelihoods. A phone may be left from any of its states (segments shorter than 3 frames have
fewer states in the targets, see `mimic_keras.data.phones`); its next phone is scored by a
bigram of the training transcriptions. Path score, in natural logs:

    Σ_t log p(x_t | s_t) + Σ log a(s → s')                    (self / next / exit, counted)
      + lm_weight × Σ log P(phone | previous phone)          (incl. utterance start and end)
      - insertion_penalty × (number of phones)

Hypotheses and references are folded to the 39 classes (`q` removed, repeats merged) and
compared by edit distance. `evaluate_utterances` writes both as `<utt-id> ph ph ...` lines so
that an external scorer (e.g. NIST sclite) can recompute the PER.
"""

import dataclasses
import itertools
import os
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from mimic_keras.data import phones, timit

_NEG = -1e30  # log(0) that stays finite in sums
DEFAULT_LM_WEIGHTS = (1.0, 2.0, 4.0, 8.0)
DEFAULT_INSERTION_PENALTIES = (-4.0, -2.0, 0.0, 2.0, 4.0)


def _log(x):
    x = np.asarray(x, np.float64)
    return np.where(x > 0, np.log(np.maximum(x, 1e-300)), _NEG)


@dataclasses.dataclass
class PhoneHMM:
    """Log-probabilities of the phone-loop HMM (P phones × 3 states).

    Attributes:
        log_self, log_next, log_exit: `[3P]` transition log-probabilities from each state.
        log_bigram: `[P, P]` log P(next phone | phone).
        log_start, log_end: `[P]` log P(phone | start), log P(end | phone).
        log_prior: `[3P]` state priors (training frame frequencies); unseen states `_NEG`.
    """

    log_self: np.ndarray
    log_next: np.ndarray
    log_exit: np.ndarray
    log_bigram: np.ndarray
    log_start: np.ndarray
    log_end: np.ndarray
    log_prior: np.ndarray

    @property
    def num_phones(self):
        return len(self.log_start)

    @classmethod
    def from_counts(cls, state_counts, transitions, bigram_counts, smoothing=1.0):
        """Estimates the HMM from training counts, add-`smoothing` on every allowed event.

        Args:
            state_counts: `[3P]` frames per state.
            transitions: dict of `[3P]` counts `self`, `next`, `exit` from each state.
            bigram_counts: `[P+1, P+1]`; row P counts starts, column P ends.
            smoothing: added to every count of an allowed transition or bigram.
        """
        t = {k: np.asarray(v, np.float64) + smoothing for k, v in transitions.items()}
        t["next"][2::3] = 0.0  # the last state has no next state
        total = t["self"] + t["next"] + t["exit"]
        b = np.asarray(bigram_counts, np.float64) + smoothing
        p = b.shape[0] - 1
        counts = np.asarray(state_counts, np.float64)
        return cls(
            log_self=_log(t["self"] / total),
            log_next=_log(t["next"] / total),
            log_exit=_log(t["exit"] / total),
            log_bigram=_log(b[:p, :p] / b[:p].sum(1, keepdims=True)),
            log_start=_log(b[p, :p] / b[p, :p].sum()),
            log_end=_log(b[:p, p] / b[:p].sum(1)),
            log_prior=_log(counts / counts.sum()),
        )

    @classmethod
    def from_manifest(cls, data_dir, smoothing=1.0):
        """The HMM of a converted TIMIT folder (its `train_stats`)."""
        stats = timit.manifest_entry(data_dir, "train_stats")
        return cls.from_counts(stats["state_counts"], stats["transitions"], stats["bigram_counts"], smoothing)


class Decoding(NamedTuple):
    phones: list  # phone indices, one per decoded segment
    states: np.ndarray  # best state per frame
    score: float  # the best path's score


def viterbi_decode(log_likelihoods, hmm, lm_weight=1.0, insertion_penalty=0.0):
    """Most likely phone sequence of one utterance.

    Args:
        log_likelihoods: `[T, 3P]` scaled log-likelihoods (log posterior - log prior).
        hmm: a `PhoneHMM` with P phones.
        lm_weight: scale of the bigram log-probabilities.
        insertion_penalty: subtracted once per decoded phone (larger: fewer phones).

    Returns:
        A `Decoding`: phone indices, the state path `[T]` and its score.

    Example:
        >>> hmm = PhoneHMM.from_counts(np.ones(6), {k: np.ones(6) for k in ("self", "next", "exit")},
        ...                            np.ones((3, 3)))
        >>> ll = np.full((4, 6), -10.0); ll[[0, 1, 2, 3], [0, 1, 3, 4]] = 0.0
        >>> viterbi_decode(ll, hmm).phones
        [0, 1]
    """
    ll = np.asarray(log_likelihoods, np.float64)
    num_frames, num_states = ll.shape
    p = hmm.num_phones
    if num_states != 3 * p:
        raise ValueError(f"log_likelihoods have {num_states} states, the HMM {3 * p}")
    if num_frames == 0:
        return Decoding([], np.zeros(0, np.int32), 0.0)
    lm_bigram = lm_weight * hmm.log_bigram
    back = np.zeros((num_frames, num_states), np.int32)
    entered = np.zeros((num_frames, num_states), bool)
    phone_range = np.arange(p)

    delta = np.full(num_states, _NEG)
    delta[0::3] = lm_weight * hmm.log_start - insertion_penalty + ll[0, 0::3]
    entered[0, 0::3] = True
    for t in range(1, num_frames):
        best = delta + hmm.log_self
        src = np.arange(num_states, dtype=np.int32)
        advance = np.full(num_states, _NEG)
        advance[1::3] = delta[0::3] + hmm.log_next[0::3]
        advance[2::3] = delta[1::3] + hmm.log_next[1::3]
        take = advance > best
        best = np.where(take, advance, best)
        src = np.where(take, src - 1, src)
        leave = (delta + hmm.log_exit).reshape(p, 3)
        leave_state = leave.argmax(1)
        leave_score = leave[phone_range, leave_state]
        cand = leave_score[:, None] + lm_bigram  # [from, to]
        prev_phone = cand.argmax(0)
        enter = cand[prev_phone, phone_range] - insertion_penalty
        take = enter > best[0::3]
        best[0::3] = np.where(take, enter, best[0::3])
        src[0::3] = np.where(take, 3 * prev_phone + leave_state[prev_phone], src[0::3])
        entered[t, 0::3] = take
        back[t] = src
        delta = best + ll[t]

    final = delta + hmm.log_exit + lm_weight * np.repeat(hmm.log_end, 3)
    state = int(final.argmax())
    score = float(final[state])
    path = np.zeros(num_frames, np.int32)
    starts = []
    for t in range(num_frames - 1, -1, -1):
        path[t] = state
        if entered[t, state]:
            starts.append(int(state // 3))
        state = back[t, state]
    return Decoding(starts[::-1], path, score)


def edit_distance(ref, hyp):
    """Minimum edit operations turning `ref` into `hyp`.

    Returns:
        `(substitutions, deletions, insertions)` of one minimal alignment.

    Example:
        >>> edit_distance("a b c".split(), "a x c d".split())
        (1, 0, 1)
    """
    n, m = len(ref), len(hyp)
    # cost[i][j] = (errors, subs, dels, ins) for ref[:i] vs hyp[:j]
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            d = prev[j - 1]
            if ref[i - 1] == hyp[j - 1]:
                diag = d
            else:
                diag = (d[0] + 1, d[1] + 1, d[2], d[3])
            up = prev[j]
            left = cur[j - 1]
            cur.append(min(diag, (up[0] + 1, up[1], up[2] + 1, up[3]), (left[0] + 1, left[1], left[2], left[3] + 1)))
        prev = cur
    _, s, d, i = prev[m]
    return s, d, i


def error_counts(refs, hyps):
    """Substitutions, deletions, insertions and reference length summed over utterances."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    total = np.zeros(3, np.int64)
    for r, h in zip(refs, hyps):
        total += edit_distance(list(r), list(h))
    ref_len = sum(len(r) for r in refs)
    return {"substitutions": int(total[0]), "deletions": int(total[1]), "insertions": int(total[2]),
            "errors": int(total.sum()), "reference_phones": ref_len}


def phone_error_rate(refs, hyps):
    """PER as a fraction: edit distance summed over utterances / reference phones.

    Args:
        refs, hyps: sequences of token sequences (already folded; see `phones.fold`).

    Example:
        >>> phone_error_rate([["sil", "b", "sil"]], [["sil", "p", "sil", "k"]])
        0.6666666666666666
    """
    counts = error_counts(refs, hyps)
    return counts["errors"] / max(counts["reference_phones"], 1)


def _speaker_totals(refs, hyps, names_index, num_speakers):
    """Per speaker: (edit operations, reference phones)."""
    edits = np.array([sum(edit_distance(list(r), list(h))) for r, h in zip(refs, hyps)], np.float64)
    lengths = np.array([len(r) for r in refs], np.float64)
    return np.stack([np.bincount(names_index, edits, num_speakers), np.bincount(names_index, lengths, num_speakers)], 1)


def _speaker_draws(speakers, samples, seed):
    names, index = np.unique(np.asarray(speakers), return_inverse=True)
    return index, len(names), np.random.default_rng(seed).integers(0, len(names), size=(samples, len(names)))


def per_difference_bootstrap_ci95(refs, hyps_a, hyps_b, speakers, samples=2000, seed=0):
    """PER of A minus PER of B on the same utterances, with a paired speaker-bootstrap 95% interval.

    Both systems' PERs are computed on the same resampled speakers in every draw, so the
    interval of the difference is free of the between-speaker spread both share.

    Returns:
        `(difference, low, high)`.
    """
    index, n, draws = _speaker_draws(speakers, samples, seed)
    a, b = (_speaker_totals(refs, h, index, n) for h in (hyps_a, hyps_b))
    ta, tb = a[draws].sum(axis=1), b[draws].sum(axis=1)
    diffs = ta[:, 0] / np.maximum(ta[:, 1], 1) - tb[:, 0] / np.maximum(tb[:, 1], 1)
    point = a[:, 0].sum() / max(a[:, 1].sum(), 1) - b[:, 0].sum() / max(b[:, 1].sum(), 1)
    return float(point), float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5))


def per_bootstrap_ci95(refs, hyps, speakers, samples=2000, seed=0):
    """95% percentile interval (low, high) of the PER, resampling test speakers with replacement.

    Utterances of one speaker are not independent (same voice, same channel): the unit of
    resampling is the speaker, each drawn with all of its utterances.

    Args:
        refs, hyps: folded phone sequences per utterance.
        speakers: the speaker of each utterance.
        samples: bootstrap resamples.
        seed: for the resampling.
    """
    index, n, draws = _speaker_draws(speakers, samples, seed)
    totals = _speaker_totals(refs, hyps, index, n)[draws].sum(axis=1)
    rates = totals[:, 0] / np.maximum(totals[:, 1], 1)
    return float(np.percentile(rates, 2.5)), float(np.percentile(rates, 97.5))


def read_transcripts(path):
    """(ids, phone sequences) of a `write_transcripts` file."""
    ids, seqs = [], []
    with open(path) as f:
        for line in f:
            uid, *tokens = line.split()
            ids.append(uid)
            seqs.append(tokens)
    return ids, seqs


def _predict_fn(model_or_predict_fn):
    if hasattr(model_or_predict_fn, "predict_on_batch"):
        model = model_or_predict_fn
        return lambda x: model(x, training=False)
    return model_or_predict_fn


def predict_utterances(model_or_predict_fn, data_dir, split, context=timit.CONTEXT, batch_frames=8192):
    """Runs a frame classifier over every utterance of a split.

    Args:
        model_or_predict_fn: a Keras model, or a function from normalised context windows
            `[N, (2 context + 1) × 123]` to logits `[N, 183]`.
        data_dir: a converted TIMIT folder.
        split: `train`, `dev` or `test`.
        context: the model's context (frames on each side).
        batch_frames: frames per call (several utterances are concatenated).

    Returns:
        A list of dicts `id`, `speaker`, `logits` float32 `[T, 183]`, `state` `[T]`, `phones` `[P]`.
    """
    predict = _predict_fn(model_or_predict_fn)
    ds = timit.load_utterances(data_dir, split, normalize=True)
    ds = ds.map(lambda ex: {**ex, "windows": timit.context_windows(ex["features"], context)},
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    out, pending = [], []

    def flush():
        if not pending:
            return
        logits = np.asarray(predict(np.concatenate([u.pop("windows") for u in pending])), np.float32)
        for u, chunk in zip(pending, np.split(logits, np.cumsum([len(u["state"]) for u in pending])[:-1])):
            u["logits"] = chunk
            out.append(u)
        pending.clear()

    for ex in ds.as_numpy_iterator():
        pending.append({"id": ex["id"].decode(), "speaker": ex["speaker"].decode(), "state": ex["state"],
                        "phones": ex["phones"], "windows": ex["windows"]})
        if sum(len(u["state"]) for u in pending) >= batch_frames:
            flush()
    flush()
    return out


def frame_accuracies(utterances):
    """State accuracy and folded (39-class) phone accuracy of argmax predictions.

    Frames labelled `q` (deleted in the 39-set) are left out of the phone accuracy.
    """
    pred = np.concatenate([u["logits"].argmax(-1) for u in utterances])
    ref = np.concatenate([u["state"] for u in utterances])
    ref_fold = phones.FOLD_INDEX[ref // 3]
    keep = ref_fold >= 0
    return {
        "state_accuracy": float(np.mean(pred == ref)),
        "phone_accuracy": float(np.mean(phones.FOLD_INDEX[pred // 3][keep] == ref_fold[keep])),
        "frames": int(len(ref)),
    }


def log_likelihoods(logits, hmm):
    """Scaled log-likelihoods: log softmax(logits) - log prior; unseen states ruled out."""
    logits = np.asarray(logits, np.float64)
    log_post = logits - logits.max(-1, keepdims=True)
    log_post -= np.log(np.exp(log_post).sum(-1, keepdims=True))
    seen = hmm.log_prior > _NEG / 2
    return np.where(seen, log_post - np.where(seen, hmm.log_prior, 0.0), _NEG)


def decode_utterances(utterances, hmm, lm_weight, insertion_penalty):
    """39-class reference and hypothesis transcripts (lists of symbols) of predicted utterances."""
    refs, hyps = [], []
    for u in utterances:
        decoded = viterbi_decode(log_likelihoods(u["logits"], hmm), hmm, lm_weight, insertion_penalty)
        refs.append(phones.fold(phones.PHONES[i] for i in u["phones"]))
        hyps.append(phones.fold(phones.PHONES[i] for i in decoded.phones))
    return refs, hyps


def tune_decoder(utterances, hmm, lm_weights=DEFAULT_LM_WEIGHTS, insertion_penalties=DEFAULT_INSERTION_PENALTIES):
    """Grid search of LM weight and insertion penalty for the lowest PER.

    Returns:
        `(lm_weight, insertion_penalty, per)`, and the whole grid as a list of triples.
    """
    grid = []
    for w, ip in itertools.product(lm_weights, insertion_penalties):
        grid.append((w, ip, phone_error_rate(*decode_utterances(utterances, hmm, w, ip))))
    best = min(grid, key=lambda g: g[2])
    return best, grid


def write_transcripts(path, ids, transcripts):
    """Writes `<utt-id> ph ph ...` lines."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        for uid, tokens in zip(ids, transcripts):
            f.write(" ".join([uid, *tokens]) + "\n")


def evaluate_utterances(
    model_or_predict_fn,
    data_dir,
    split="test",
    *,
    context=timit.CONTEXT,
    lm_weight=None,
    insertion_penalty=None,
    tune_split="dev",
    lm_weights=DEFAULT_LM_WEIGHTS,
    insertion_penalties=DEFAULT_INSERTION_PENALTIES,
    out_dir=None,
):
    """Frame accuracies and PER of a frame classifier on one split.

    The LM weight and insertion penalty, unless given, are tuned on `tune_split` over the
    grid `lm_weights × insertion_penalties` (defaults 1 and 0 when the folder has no such
    split).

    Args:
        model_or_predict_fn: a Keras model or a function windows `[N, 1845]` → logits `[N, 183]`.
        data_dir: a converted TIMIT folder.
        split: the split to score.
        context: the model's context (frames on each side).
        lm_weight, insertion_penalty: decoder settings; None tunes them.
        tune_split: where to tune them.
        lm_weights, insertion_penalties: the tuning grid.
        out_dir: when given, gets `<split>.ref.txt` and `<split>.hyp.txt` (39-class
            transcripts, `<utt-id> ph ph ...`).

    Returns:
        A dict: `state_accuracy`, `phone_accuracy`, `per` (fractions), `frames`,
        `utterances`, the error counts, the decoder settings, and the transcript paths.

    Example:
        >>> results = evaluate_utterances(model, "cache/timit", "test", out_dir="runs/x")  # doctest: +SKIP
    """
    hmm = PhoneHMM.from_manifest(data_dir)
    tuning = None
    if lm_weight is None or insertion_penalty is None:
        splits = timit.manifest_entry(data_dir, "splits")
        if tune_split in splits:
            dev = predict_utterances(model_or_predict_fn, data_dir, tune_split, context)
            (w, ip, dev_per), grid = tune_decoder(
                dev, hmm, [lm_weight] if lm_weight is not None else lm_weights,
                [insertion_penalty] if insertion_penalty is not None else insertion_penalties,
            )
            tuning = {"split": tune_split, "per": dev_per, "grid": grid}
            lm_weight, insertion_penalty = w, ip
        else:
            lm_weight = 1.0 if lm_weight is None else lm_weight
            insertion_penalty = 0.0 if insertion_penalty is None else insertion_penalty
    utts = predict_utterances(model_or_predict_fn, data_dir, split, context)
    results = {"split": split, "utterances": len(utts), **frame_accuracies(utts)}
    refs, hyps = decode_utterances(utts, hmm, lm_weight, insertion_penalty)
    counts = error_counts(refs, hyps)
    results.update(counts, per=counts["errors"] / max(counts["reference_phones"], 1),
                   lm_weight=lm_weight, insertion_penalty=insertion_penalty, tuning=tuning)
    if out_dir is not None:
        ids = [u["id"] for u in utts]
        results["transcripts"] = {
            "ref": os.path.join(out_dir, f"{split}.ref.txt"),
            "hyp": os.path.join(out_dir, f"{split}.hyp.txt"),
        }
        write_transcripts(results["transcripts"]["ref"], ids, refs)
        write_transcripts(results["transcripts"]["hyp"], ids, hyps)
    return results


def read_scored(folder, split="test"):
    """(speakers, references, hypotheses) of the transcripts an evaluation wrote in `folder`.

    Reads `folder/{split}.ref.txt` and `.hyp.txt` (`write_transcripts`); the speaker is the
    utterance id's prefix (`FELC0_SI643` → `FELC0`).

    Raises:
        ValueError: the two files list different utterances.
    """
    ref_ids, refs = read_transcripts(os.path.join(folder, f"{split}.ref.txt"))
    hyp_ids, hyps = read_transcripts(os.path.join(folder, f"{split}.hyp.txt"))
    if ref_ids != hyp_ids:
        raise ValueError(f"{folder}: reference and hypothesis utterances differ")
    return [uid.split("_")[0] for uid in ref_ids], refs, hyps
