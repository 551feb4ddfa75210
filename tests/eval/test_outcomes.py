"""Per-example outcomes kept in tables (`mimic_keras.eval.outcomes`): the paired intervals they give."""

import json

import numpy as np
import pytest

from mimic_keras.eval import outcomes, stats


def _words(rng, n):
    return [list(rng.choice(list("abcdef"), size=rng.integers(3, 9))) for _ in range(n)]


def _noisy(rng, refs, rate):
    return [[p if rng.random() > rate else "x" for p in r] + (["y"] if rng.random() < rate else []) for r in refs]


def test_image_records_give_paired_ci_from_the_run_folders():
    rng = np.random.default_rng(0)
    ids = np.array([f"test_{i:05d}".encode() for i in rng.permutation(1003)])  # file order, not sorted
    a, b = rng.random(1003) < 0.8, rng.random(1003) < 0.7
    record_a, record_b = outcomes.pack_correct(ids, a), outcomes.pack_correct(ids, b)
    record_a, record_b = json.loads(json.dumps(record_a)), json.loads(json.dumps(record_b))  # as stored
    order = np.argsort([i.decode() for i in ids])
    assert np.array_equal(outcomes.unpack_correct(record_a), a[order])  # 1003 bits: the padding dropped
    diff, low, high = outcomes.paired_difference(record_a, record_b)
    expected, half = stats.paired_difference_ci95(b, a)  # experiments/paired_ci.py: other minus base
    assert (diff, low, high) == pytest.approx((expected, expected - half, expected + half))
    assert diff == pytest.approx(b.mean() - a.mean())
    # Another test set (one id changed; or fewer images) is refused, not paired.
    other_ids = ids.copy()
    other_ids[0] = b"test_99999"
    with pytest.raises(ValueError, match="different test images"):
        outcomes.paired_difference(record_a, outcomes.pack_correct(other_ids, b))
    with pytest.raises(ValueError, match="ids but"):
        outcomes.pack_correct(ids[:5], b)


def test_speaker_records_give_the_paired_bootstrap_of_the_transcripts():
    rng = np.random.default_rng(1)
    refs = _words(rng, 60)
    speakers = [f"S{k % 13:02d}" for k in range(60)][::-1]  # utterances not grouped nor sorted by speaker
    hyps_a, hyps_b = _noisy(rng, refs, 0.2), _noisy(rng, refs, 0.3)
    record_a = json.loads(json.dumps(outcomes.speaker_record(speakers, refs, hyps_a)))
    record_b = json.loads(json.dumps(outcomes.speaker_record(speakers, refs, hyps_b)))
    assert record_a["speakers"].split() == sorted(set(speakers))
    assert sum(map(int, record_a["phones"].split())) == sum(len(r) for r in refs)
    expected = stats.per_difference_bootstrap_ci95(refs, hyps_b, hyps_a, speakers)
    assert outcomes.paired_difference(record_a, record_b) == pytest.approx(expected)
    assert expected[1] < expected[0] < expected[2]  # a real interval, not a point
    # Other utterances (a reference phone more for one speaker) are refused.
    longer = [r + ["a"] if s == "S03" else r for r, s in zip(refs, speakers)]
    with pytest.raises(ValueError, match="different test utterances"):
        outcomes.paired_difference(record_a, outcomes.speaker_record(speakers, longer, hyps_b))
    with pytest.raises(ValueError, match="different kinds"):
        outcomes.paired_difference(record_a, outcomes.pack_correct(["a", "b"], [True, False]))
