import os

import numpy as np
import pytest

from mimic_keras.data import phones

REFS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "refs")
needs_refs = pytest.mark.skipif(not os.path.isdir(REFS), reason="needs ../shared/refs")


def test_phone_set_and_states():
    assert len(phones.PHONES) == len(set(phones.PHONES)) == 61
    assert phones.NUM_STATES == 183
    assert phones.PHONE_INDEX["iy"] == 0 and phones.PHONE_INDEX["h#"] == 60


def test_folding_table_has_39_classes():
    assert set(phones.FOLD_61_TO_39) == set(phones.PHONES)
    targets = {v for v in phones.FOLD_61_TO_39.values() if v is not None}
    assert targets == set(phones.PHONES_39) and len(targets) == 39
    assert phones.FOLD_61_TO_39["q"] is None
    merges = {
        "sil": {"h#", "pau", "epi", "bcl", "dcl", "gcl", "pcl", "tcl", "kcl"},
        "aa": {"aa", "ao"}, "ah": {"ah", "ax", "ax-h"}, "er": {"er", "axr"}, "hh": {"hh", "hv"},
        "ih": {"ih", "ix"}, "l": {"l", "el"}, "m": {"m", "em"}, "n": {"n", "en", "nx"},
        "ng": {"ng", "eng"}, "sh": {"sh", "zh"}, "uw": {"uw", "ux"},
    }
    for target, sources in merges.items():
        assert {p for p, t in phones.FOLD_61_TO_39.items() if t == target} == sources
    singletons = [t for t in targets if t not in merges]
    assert all(phones.FOLD_61_TO_39[t] == t for t in singletons) and len(singletons) == 27
    assert phones.FOLD_INDEX.shape == (61,) and phones.FOLD_INDEX[phones.PHONE_INDEX["q"]] == -1


def test_fold_removes_q_and_merges_repeats():
    assert phones.fold(["h#", "q", "bcl", "b", "ix", "ax", "q", "pau", "h#"]) == ["sil", "b", "ih", "ah", "sil"]
    assert phones.fold(["h#", "bcl", "b"], merge_repeats=False) == ["sil", "sil", "b"]
    assert phones.fold(["sil", "aa"]) == ["sil", "aa"]  # idempotent on the 39 set
    with pytest.raises(KeyError):
        phones.fold(["xx"])


def _read_tsv(name, column):
    table = {}
    with open(os.path.join(REFS, name)) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            table[fields[0]] = fields[column] if len(fields) > column else ""
    return table


@needs_refs
def test_folding_matches_the_canonical_table():
    table = _read_tsv("timit_61_to_39.tsv", 1)
    assert {p: (None if t == "<del>" else t) for p, t in table.items()} == phones.FOLD_61_TO_39


@needs_refs
def test_folding_matches_kaldi_and_speechbrain():
    kaldi = _read_tsv("kaldi_phones.60-48-39.map", 2)
    assert kaldi.pop("q") == ""
    speechbrain = _read_tsv("speechbrain_60_to_48_39.tsv", 2)
    assert speechbrain.pop("q") == "" and speechbrain.pop("sil") == "sil"
    ours = {p: t for p, t in phones.FOLD_61_TO_39.items() if t is not None}
    assert kaldi == ours and speechbrain == ours


def test_core_test_speakers():
    speakers = phones.CORE_TEST_SPEAKERS
    assert len(set(speakers)) == 24
    assert [s[0] for s in speakers] == list("MMF" * 8)  # two men, one woman per dialect region
    assert speakers[21:] == ("MJLN0", "MPAM0", "FMLD0")


STANDIN_TEST = os.path.join(REFS, "..", "data", "timit-standin", "TEST")


@pytest.mark.skipif(not os.path.isdir(STANDIN_TEST), reason="needs ../shared/data/timit-standin")
def test_core_test_speakers_match_the_stand_in():
    found = {spk for dr in os.listdir(STANDIN_TEST) for spk in os.listdir(os.path.join(STANDIN_TEST, dr))}
    assert found == set(phones.CORE_TEST_SPEAKERS)


def _phn(tmp_path, text, name="SX1.PHN"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_read_phn(tmp_path):
    path = _phn(tmp_path, "0 100 h#\n100 250 s\n\n250 400 h#\n")
    assert phones.read_phn(path, num_samples=400) == [(0, 100, "h#"), (100, 250, "s"), (250, 400, "h#")]


@pytest.mark.parametrize("text,message", [
    ("0 100 h#\n90 200 s\n", "out of order"),
    ("0 100 h#\n100 200 s\n50 80 t\n", "out of order"),
    ("0 100 h#\n120 200 s\n", "gap"),
    ("0 100 h#\n100 100 s\n", "empty"),
    ("0 100 h#\n100 900 s\n", "past the end"),
    ("0 100 h#\n100 200 xx\n", "unknown phone symbol 'xx'"),
    ("0 100\n", "expected '<begin> <end> <phone>'"),
    ("0 1e2 h#\n", "expected"),
    ("\n", "empty transcription"),
])
def test_bad_phn_gets_a_one_line_error(tmp_path, text, message):
    path = _phn(tmp_path, text)
    with pytest.raises(phones.TranscriptError) as info:
        phones.read_phn(path, num_samples=500)
    assert str(info.value).startswith(path) and message in str(info.value) and "\n" not in str(info.value)


def test_missing_phn(tmp_path):
    with pytest.raises(phones.TranscriptError, match="missing .PHN"):
        phones.read_phn(str(tmp_path / "SX1.PHN"))


def test_state_labels_on_a_hand_made_utterance():
    # Frame t is centred on sample 160 t + 200. 12 frames: centres 200, 360, ..., 1960.
    segments = [
        (0, 500, "h#"),  # centres 200, 360 -> 2 frames: states 0, 1
        (500, 620, "dx"),  # centre 520 -> 1 frame: state 0
        (620, 1300, "aa"),  # centres 680 ... 1160 -> 4 frames: 0, 0, 1, 2
        (1300, 1500, "q"),  # centre 1320, 1480 -> 2 frames: 0, 1
        (1500, 1510, "t"),  # no frame centre inside: no frame
        (1510, 1950, "h#"),  # centres 1640, 1800 -> 2 frames; 1960 lies past the end
    ]
    states, seg = phones.frame_states(segments, 12)
    idx = phones.PHONE_INDEX
    expected = [
        (idx["h#"], 0), (idx["h#"], 1), (idx["dx"], 0),
        (idx["aa"], 0), (idx["aa"], 0), (idx["aa"], 1), (idx["aa"], 2),
        (idx["q"], 0), (idx["q"], 1), (idx["h#"], 0), (idx["h#"], 1),
    ]
    assert states[:11].tolist() == [3 * p + s for p, s in expected]
    assert states[11] == -1 and seg[11] == -1
    assert seg[:11].tolist() == [0, 0, 1, 2, 2, 2, 2, 3, 3, 5, 5]


def test_state_labels_split_long_segments_in_thirds():
    states, _ = phones.frame_states([(0, 160 * 9 + 400, "s")], 10)
    assert (states % 3).tolist() == [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]  # floor(3 i / 10)
    assert np.all(states // 3 == phones.PHONE_INDEX["s"])
