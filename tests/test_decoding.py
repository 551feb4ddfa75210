import itertools
import os

import keras
import numpy as np
import pytest

from mimic_keras import decoding
from mimic_keras.data import phones, timit


def _toy_hmm(num_phones, rng):
    s = 3 * num_phones
    counts = {k: rng.integers(1, 10, s) for k in ("self", "next", "exit")}
    return decoding.PhoneHMM.from_counts(rng.integers(1, 10, s), counts, rng.integers(0, 10, (num_phones + 1,) * 2))


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
    result = decoding.viterbi_decode(ll, hmm, lm_weight=w, insertion_penalty=ip)
    assert result.score == pytest.approx(best)
    assert result.states.tolist() == list(best_path[0])
    assert result.phones == [s // 3 for s, e in zip(*best_path) if e]


def _uniform_hmm(num_phones):
    ones = np.ones(3 * num_phones)
    return decoding.PhoneHMM.from_counts(ones, {"self": ones, "next": ones, "exit": ones},
                                         np.ones((num_phones + 1, num_phones + 1)))


def test_viterbi_known_path():
    # 3 phones; frames clearly in phone 2 (3 frames), then phone 0 (2 frames), then phone 2 again.
    truth = [6, 7, 8, 0, 1, 6, 7]
    ll = np.full((7, 9), -8.0)
    ll[np.arange(7), truth] = 0.0
    result = decoding.viterbi_decode(ll, _uniform_hmm(3))
    assert result.phones == [2, 0, 2] and result.states.tolist() == truth


def test_repeated_phone_is_two_segments():
    ll = np.full((6, 6), -8.0)
    ll[np.arange(6), [0, 1, 2, 0, 1, 2]] = 0.0
    assert decoding.viterbi_decode(ll, _uniform_hmm(2)).phones == [0, 0]


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
    assert decoding.viterbi_decode(ll, hmm, lm_weight=0.0).phones == [0, 1, 0]
    assert decoding.viterbi_decode(ll, hmm, lm_weight=2.0).phones == [0, 0, 0]
    # A phone-per-frame hypothesis loses to fewer, longer phones as the penalty grows.
    noisy = np.random.default_rng(0).normal(0, 1, (30, 6))
    counts = [len(decoding.viterbi_decode(noisy, hmm, 1.0, ip).phones) for ip in (-5.0, 0.0, 5.0, 50.0)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] == 1


@pytest.mark.parametrize("ref,hyp,expected", [
    ("a b c", "a b c", (0, 0, 0)),
    ("a b c", "a x c", (1, 0, 0)),
    ("a b c", "a c", (0, 1, 0)),
    ("a b c", "a b c d", (0, 0, 1)),
    ("a b c", "", (0, 3, 0)),
    ("", "a b", (0, 0, 2)),
    ("sil b ih sil", "b ih ih sil k", 3),  # several minimal alignments: only the total is fixed
])
def test_edit_distance(ref, hyp, expected):
    s, d, i = decoding.edit_distance(ref.split(), hyp.split())
    if isinstance(expected, int):
        assert s + d + i == expected
    else:
        assert (s, d, i) == expected


def test_phone_error_rate_sums_over_utterances():
    refs = [["sil", "b", "sil"], ["aa", "r"]]
    hyps = [["sil", "p", "sil"], ["aa", "r", "r", "sil"]]
    assert decoding.phone_error_rate(refs, hyps) == pytest.approx(3 / 5)
    counts = decoding.error_counts(refs, hyps)
    assert counts == {"substitutions": 1, "deletions": 0, "insertions": 2, "errors": 3, "reference_phones": 5}
    with pytest.raises(ValueError):
        decoding.phone_error_rate(refs, hyps[:1])


def _oracle(timit_records, split):
    """A predict function that knows the answer: logits peaked on the true state of each frame."""
    truth = {}
    for u in timit.load_utterances(timit_records, split, normalize=True).as_numpy_iterator():
        for window, state in zip(timit.context_windows(u["features"]).numpy(), u["state"]):
            truth[window.tobytes()] = state

    def predict(windows):
        states = [truth[w.tobytes()] for w in np.asarray(windows, np.float32)]
        return np.eye(183, dtype=np.float32)[states] * 20.0

    return predict


def test_evaluate_an_oracle(timit_records, tmp_path):
    predict = _oracle(timit_records, "test")
    results = decoding.evaluate_utterances(predict, timit_records, "test", lm_weight=1.0, insertion_penalty=0.0,
                                           out_dir=str(tmp_path))
    assert results["state_accuracy"] == 1.0 and results["phone_accuracy"] == 1.0
    assert results["per"] == 0.0 and results["frames"] == timit.num_frames(timit_records, "test")
    ref_lines = open(results["transcripts"]["ref"]).read().splitlines()
    hyp_lines = open(results["transcripts"]["hyp"]).read().splitlines()
    assert ref_lines == hyp_lines and len(ref_lines) == results["utterances"] == 4
    for line in ref_lines:
        uid, *tokens = line.split()
        assert uid.split("_")[0] in ("MDAB0", "FPAS0")
        assert tokens[0] == tokens[-1] == "sil" and set(tokens) <= set(phones.PHONES_39)
    assert results["reference_phones"] == sum(len(line.split()) - 1 for line in ref_lines)


def test_evaluate_tunes_on_dev_and_scores_a_keras_model(timit_records, tmp_path):
    model = keras.Sequential([keras.Input((1845,)), keras.layers.Dense(183, kernel_initializer="zeros",
                                                                        bias_initializer="zeros")])
    results = decoding.evaluate_utterances(model, timit_records, "test", lm_weights=(1.0, 2.0),
                                           insertion_penalties=(0.0, 5.0), out_dir=str(tmp_path))
    assert results["tuning"]["split"] == "dev" and len(results["tuning"]["grid"]) == 4
    assert (results["lm_weight"], results["insertion_penalty"]) in {(1.0, 0.0), (1.0, 5.0), (2.0, 0.0), (2.0, 5.0)}
    assert 0.0 <= results["state_accuracy"] < 0.5 and results["per"] > 0.5
    assert os.path.exists(os.path.join(str(tmp_path), "test.hyp.txt"))


def test_noisy_predictions_decode_better_than_frame_argmax(timit_records):
    # A classifier right on ~60% of frames: the HMM and bigram recover most phones.
    rng = np.random.default_rng(0)
    utts = decoding.predict_utterances(_oracle(timit_records, "test"), timit_records, "test")
    hmm = decoding.PhoneHMM.from_manifest(timit_records)
    for u in utts:
        noise = rng.normal(0, 1.0, u["logits"].shape)
        u["logits"] = (u["logits"] / 20.0 * 2.0 + noise + hmm.log_prior.clip(-30)).astype(np.float32)
    acc = decoding.frame_accuracies(utts)["state_accuracy"]
    refs, hyps = decoding.decode_utterances(utts, hmm, 1.0, 0.0)
    argmax_hyps = [phones.fold(phones.PHONES[s // 3] for s in u["logits"].argmax(-1)) for u in utts]
    assert 0.3 < acc < 0.9
    assert decoding.phone_error_rate(refs, hyps) < 0.5 * decoding.phone_error_rate(refs, argmax_hyps)


def test_per_bootstrap_resamples_speakers():
    from mimic_keras import decoding

    refs = [["a", "b", "c", "d"]] * 6
    same = [["a", "b", "c", "x"]] * 6  # every speaker at PER 0.25: no spread
    assert decoding.per_bootstrap_ci95(refs, same, ["s1", "s1", "s2", "s2", "s3", "s3"]) == (0.25, 0.25)
    mixed = [["a", "b", "c", "d"]] * 3 + [["x", "x", "c", "d"]] * 3  # speakers at PER 0 and 0.5
    low, high = decoding.per_bootstrap_ci95(refs, mixed, ["s1", "s2", "s3", "s4", "s5", "s6"])
    assert low < decoding.phone_error_rate(refs, mixed) < high and 0.0 <= low and high <= 0.5
    # All of a speaker's utterances move together: two speakers give only 3 possible rates.
    low2, high2 = decoding.per_bootstrap_ci95(refs, mixed, ["s1"] * 3 + ["s2"] * 3)
    assert (low2, high2) == (0.0, 0.5)


def test_per_difference_is_paired_over_speakers():
    from mimic_keras import decoding

    refs = [["a", "b", "c", "d"]] * 6
    speakers = ["s1", "s2", "s3", "s4", "s5", "s6"]
    # Speakers differ a lot (PER 0 or 0.5), but B is always one error per utterance worse than A.
    a = [["a", "b", "c", "d"]] * 3 + [["x", "x", "c", "d"]] * 3
    b = [["a", "b", "c", "y"]] * 3 + [["x", "x", "y", "d"]] * 3
    diff, low, high = decoding.per_difference_bootstrap_ci95(refs, a, b, speakers)
    assert diff == pytest.approx(-0.25) and low == pytest.approx(-0.25) and high == pytest.approx(-0.25)
    unpaired = decoding.per_bootstrap_ci95(refs, a, speakers)
    assert unpaired[1] - unpaired[0] > 0.2  # the shared speaker spread, gone from the paired interval
    # A system against itself: exactly zero.
    assert decoding.per_difference_bootstrap_ci95(refs, a, a, speakers) == (0.0, 0.0, 0.0)


def test_paired_accuracy_difference():
    from mimic_keras.report import paired_difference_ci95

    a = np.array([1, 1, 1, 1, 0, 0, 1, 1, 0, 1] * 100, bool)
    b = a.copy()
    b[:50] = ~b[:50]  # B flips 50 of 1,000 answers: 35 right → wrong, 15 wrong → right
    diff, half = paired_difference_ci95(a, b)
    assert diff == pytest.approx(np.mean(a) - np.mean(b))
    d = a.astype(float) - b
    assert half == pytest.approx(1.96 * d.std(ddof=1) / np.sqrt(len(d)))
    assert paired_difference_ci95(a, a) == (0.0, 0.0)
    with pytest.raises(ValueError, match="two or more"):
        paired_difference_ci95([True], [False])


def test_transcripts_round_trip(tmp_path):
    from mimic_keras import decoding

    path = str(tmp_path / "t" / "test.hyp.txt")
    decoding.write_transcripts(path, ["A_1", "B_2"], [["sil", "b"], []])
    assert decoding.read_transcripts(path) == (["A_1", "B_2"], [["sil", "b"], []])
