"""Edit distance, PER and transcript files (`mimic_keras.eval.per`)."""

import pytest

from mimic_keras.eval import per


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
    s, d, i = per.edit_distance(ref.split(), hyp.split())
    if isinstance(expected, int):
        assert s + d + i == expected
    else:
        assert (s, d, i) == expected


def test_phone_error_rate_sums_over_utterances():
    refs = [["sil", "b", "sil"], ["aa", "r"]]
    hyps = [["sil", "p", "sil"], ["aa", "r", "r", "sil"]]
    assert per.phone_error_rate(refs, hyps) == pytest.approx(3 / 5)
    counts = per.error_counts(refs, hyps)
    assert counts == {"substitutions": 1, "deletions": 0, "insertions": 2, "errors": 3, "reference_phones": 5}
    with pytest.raises(ValueError):
        per.phone_error_rate(refs, hyps[:1])


def test_transcripts_round_trip(tmp_path):
    path = str(tmp_path / "t" / "test.hyp.txt")
    per.write_transcripts(path, ["A_1", "B_2"], [["sil", "b"], []])
    assert per.read_transcripts(path) == (["A_1", "B_2"], [["sil", "b"], []])


def test_scored_transcripts_round_trip_with_speakers(tmp_path):
    paths = per.write_scored(str(tmp_path), "dev", ["FELC0_SI643", "MDAB0_SX1"], [["a", "b"], ["c"]], [["a"], ["c"]])
    assert paths == {"ref": str(tmp_path / "dev.ref.txt"), "hyp": str(tmp_path / "dev.hyp.txt")}
    assert per.read_scored(str(tmp_path), "dev") == (["FELC0", "MDAB0"], [["a", "b"], ["c"]], [["a"], ["c"]])
    assert per.error_rate(per.error_counts([["a", "b"], ["c"]], [["a"], ["c"]])) == pytest.approx(1 / 3)
    assert per.error_rate(per.error_counts([[]], [[]])) == 0.0
