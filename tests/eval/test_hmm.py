"""The phone-loop HMM and its Viterbi search (`mimic_keras.eval.hmm`)."""

import itertools

import numpy as np
import pytest

from mimic_keras.eval import hmm as hmm_lib


def _toy_hmm(num_phones, rng):
    s = 3 * num_phones
    counts = {k: rng.integers(1, 10, s) for k in ("self", "next", "exit")}
    return hmm_lib.PhoneHMM.from_counts(rng.integers(1, 10, s), counts, rng.integers(0, 10, (num_phones + 1,) * 2))


def _path_score(hmm, ll, states, entries, w, ip):
    """Score of a (states, entered) path, or None when the HMM does not allow it."""
    if not entries[0] or states[0] % 3:
        return None
    score = w * hmm.log_start[states[0] // 3] - ip + ll[0, states[0]]
    for t in range(1, len(states)):
        a, b = states[t - 1], states[t]
        if entries[t]:
            if b % 3:
                return None
            score += hmm.log_exit[a] + w * hmm.log_bigram[a // 3, b // 3] - ip
        elif b == a:
            score += hmm.log_self[a]
        elif b == a + 1 and a % 3 < 2:
            score += hmm.log_next[a]
        else:
            return None
        score += ll[t, b]
    return score + hmm.log_exit[states[-1]] + w * hmm.log_end[states[-1] // 3]


@pytest.mark.parametrize("seed", range(3))
def test_viterbi_finds_the_best_path_of_a_toy_hmm(seed):
    rng = np.random.default_rng(seed)
    hmm = _toy_hmm(2, rng)
    ll = rng.normal(0, 2, (4, 6))
    w, ip = 1.5, 0.7
    best, best_path = -np.inf, None
    for states in itertools.product(range(6), repeat=4):
        for entries in itertools.product((True, False), repeat=4):
            score = _path_score(hmm, ll, states, entries, w, ip)
            if score is not None and score > best:
                best, best_path = score, (states, entries)
    result = hmm_lib.viterbi_decode(ll, hmm, lm_weight=w, insertion_penalty=ip)
    assert result.score == pytest.approx(best)
    assert result.states.tolist() == list(best_path[0])
    assert result.phones == [s // 3 for s, e in zip(*best_path) if e]


def _uniform_hmm(num_phones):
    ones = np.ones(3 * num_phones)
    return hmm_lib.PhoneHMM.from_counts(ones, {"self": ones, "next": ones, "exit": ones},
                                         np.ones((num_phones + 1, num_phones + 1)))


def test_viterbi_known_path():
    # 3 phones; frames clearly in phone 2 (3 frames), then phone 0 (2 frames), then phone 2 again.
    truth = [6, 7, 8, 0, 1, 6, 7]
    ll = np.full((7, 9), -8.0)
    ll[np.arange(7), truth] = 0.0
    result = hmm_lib.viterbi_decode(ll, _uniform_hmm(3))
    assert result.phones == [2, 0, 2] and result.states.tolist() == truth


def test_repeated_phone_is_two_segments():
    ll = np.full((6, 6), -8.0)
    ll[np.arange(6), [0, 1, 2, 0, 1, 2]] = 0.0
    assert hmm_lib.viterbi_decode(ll, _uniform_hmm(2)).phones == [0, 0]


def test_lm_weight_and_insertion_penalty():
    # Frames 3-5 are acoustically a little more phone 1 than phone 0; the bigram
    # (0 -> 0 likely, 0 -> 1 rare) overrules that once it weighs enough.
    hmm = _uniform_hmm(2)
    hmm.log_bigram = np.log(np.array([[0.99, 0.01], [0.5, 0.5]]))
    ll = np.full((9, 6), -8.0)
    for t in range(9):
        if 3 <= t < 6:
            ll[t, t % 3], ll[t, 3 + t % 3] = -1.0, -0.9
        else:
            ll[t, t % 3] = 0.0
    assert hmm_lib.viterbi_decode(ll, hmm, lm_weight=0.0).phones == [0, 1, 0]
    assert hmm_lib.viterbi_decode(ll, hmm, lm_weight=2.0).phones == [0, 0, 0]
    # A phone-per-frame hypothesis loses to fewer, longer phones as the penalty grows.
    noisy = np.random.default_rng(0).normal(0, 1, (30, 6))
    counts = [len(hmm_lib.viterbi_decode(noisy, hmm, 1.0, ip).phones) for ip in (-5.0, 0.0, 5.0, 50.0)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] == 1
