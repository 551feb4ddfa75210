"""TIMIT phone decoding: a phone-loop HMM and its Viterbi search.

A hybrid decoder: each of the 61 phones is an HMM of 3 left-to-right states; a model's frame
posteriors over the 183 states, divided by the states' training priors, act as scaled
likelihoods. A phone may be left from any of its states (segments shorter than 3 frames have
fewer states in the targets, see `mimic_keras.data.phones`); its next phone is scored by a
bigram of the training transcriptions. Path score, in natural logs:

    Σ_t log p(x_t | s_t) + Σ log a(s → s')                    (self / next / exit, counted)
      + lm_weight × Σ log P(phone | previous phone)          (incl. utterance start and end)
      - insertion_penalty × (number of phones)

`decode_utterances` folds hypotheses and references to the 39 classes; `tune_decoder` picks
the LM weight and insertion penalty of the lowest PER (`mimic_keras.eval.per`).
"""

import dataclasses
import itertools
from typing import NamedTuple

import numpy as np

from mimic_keras.data import phones, timit
from mimic_keras.eval.calibration import log_softmax
from mimic_keras.eval.per import phone_error_rate

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


def decoder_state(hmm, lm_weight, insertion_penalty):
    """A decoder as plain JSON data: the HMM's log-probabilities and the tuned settings."""
    return {"hmm": {f.name: np.asarray(getattr(hmm, f.name)).tolist() for f in dataclasses.fields(hmm)},
            "lm_weight": float(lm_weight), "insertion_penalty": float(insertion_penalty)}


def decoder_from_state(state):
    """Inverse of `decoder_state`: `(PhoneHMM, lm_weight, insertion_penalty)`."""
    hmm = PhoneHMM(**{k: np.asarray(v, np.float64) for k, v in state["hmm"].items()})
    return hmm, state["lm_weight"], state["insertion_penalty"]


def decode_phones(logits, hmm, lm_weight, insertion_penalty):
    """The 39-phone transcript (a list of symbols) of one utterance's frame logits."""
    decoded = viterbi_decode(log_likelihoods(logits, hmm), hmm, lm_weight, insertion_penalty)
    return phones.fold(phones.PHONES[i] for i in decoded.phones)


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


def log_likelihoods(logits, hmm):
    """Scaled log-likelihoods: log softmax(logits) - log prior; unseen states ruled out."""
    log_post = log_softmax(logits)
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
