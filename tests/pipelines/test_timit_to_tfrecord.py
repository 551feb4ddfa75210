import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.data import features, phones, records, sphere, writer
from pipelines import timit_to_tfrecord as job
from tests import timit_fixtures as fx


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return fx.make_corpus(str(tmp_path_factory.mktemp("timit") / "TIMIT"))


@pytest.fixture(scope="module")
def converted(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out"))
    return out, job.convert(corpus, out, log=lambda *_: None)


def _records(out, split):
    return [records.parse_timit_example(s) for s in tf.data.TFRecordDataset(writer.split_files(out, split))]


def test_splits_are_speaker_disjoint_and_standard(converted):
    out, manifest = converted
    splits = manifest["splits"]
    assert set(splits) == {"train", "dev", "test"}
    assert len(splits["dev"]["speakers"]) == 1  # round(50 × 6 / 462)
    assert not set(splits["dev"]["speakers"]) & set(splits["train"]["speakers"])
    assert len(splits["train"]["speakers"]) == 5
    assert splits["test"]["speakers"] == ["FPAS0", "MDAB0"]  # core test only, MZZZ9 left out
    assert splits["train"]["count"] == 10 and splits["dev"]["count"] == 2 and splits["test"]["count"] == 4  # no SA
    for split in splits.values():
        assert sum(s["count"] for s in split["shards"]) == split["count"]
        for shard in split["shards"]:
            assert writer.sha256_file(os.path.join(out, shard["file"])) == shard["sha256"]
    assert writer.is_complete(out, manifest["fingerprint"])
    assert not [f for f in os.listdir(out) if ".tmp" in f]


def test_records_hold_features_states_and_transcription(corpus, converted):
    out, manifest = converted
    recs = _records(out, "test")
    assert sum(int(r["state"].shape[0]) for r in recs) == manifest["splits"]["test"]["frames"]
    rec = next(r for r in recs if r["id"].numpy() == b"MDAB0_SX200")
    assert rec["speaker"].numpy() == b"MDAB0"
    audio_path, phn_path = fx.utterance_files(corpus, "MDAB0")
    samples, _ = sphere.read_audio(audio_path)
    segments = phones.read_phn(phn_path)
    states, _ = phones.frame_states(segments, features.num_frames(len(samples)))
    keep = states >= 0
    np.testing.assert_array_equal(rec["state"].numpy(), states[keep])
    np.testing.assert_allclose(rec["features"].numpy(), features.compute_features(samples).numpy()[keep], atol=1e-6)
    assert [phones.PHONES[i] for i in rec["phones"].numpy()] == [p for _, _, p in segments]


def test_manifest_statistics(converted):
    out, manifest = converted
    train = _records(out, "train")
    feats = np.concatenate([r["features"].numpy() for r in train]).astype(np.float64)
    norm = manifest["normalization"]
    assert norm["frames"] == len(feats) == manifest["splits"]["train"]["frames"]
    np.testing.assert_allclose(norm["mean"], feats.mean(0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(norm["std"], feats.std(0), rtol=1e-5, atol=1e-6)
    stats = manifest["train_stats"]
    states = np.concatenate([r["state"].numpy() for r in train])
    np.testing.assert_array_equal(stats["state_counts"], np.bincount(states, minlength=phones.NUM_STATES))
    t = stats["transitions"]
    # Every frame leaves its state once: self, next or exit (the last frame exits too).
    np.testing.assert_array_equal(np.add(np.add(t["self"], t["next"]), t["exit"]), stats["state_counts"])
    assert sum(t["next"][2::3]) == 0
    bigram = np.array(stats["bigram_counts"])
    assert bigram[61].sum() == bigram[:, 61].sum() == len(train)  # one start and one end per utterance
    assert bigram[61, phones.PHONE_INDEX["h#"]] == len(train)
    assert manifest["phones"] == list(phones.PHONES) and manifest["features"]["dim"] == features.FEATURE_DIM


def test_rerun_does_nothing(corpus, converted):
    out, manifest = converted
    stamp = os.path.getmtime(os.path.join(out, writer.MANIFEST))
    messages = []
    assert job.convert(corpus, out, log=messages.append) == manifest
    assert "nothing to do" in messages[-1]
    assert os.path.getmtime(os.path.join(out, writer.MANIFEST)) == stamp


def test_options_full_test_sa_and_dev(corpus, tmp_path):
    manifest = job.convert(corpus, str(tmp_path), full_test=True, include_sa=True, dev_speakers=2,
                           log=lambda *_: None)
    splits = manifest["splits"]
    assert splits["test"]["speakers"] == ["FPAS0", "MDAB0", "MZZZ9"]
    assert splits["test"]["count"] == 9 and len(splits["dev"]["speakers"]) == 2 and splits["train"]["count"] == 12


def test_default_dev_speakers_is_proportional():
    assert job.default_dev_speakers(462) == 50
    assert job.default_dev_speakers(120) == 13
    assert job.default_dev_speakers(1) == 0
    assert job.choose_dev_speakers(["A", "B", "C", "D"], 2) == job.choose_dev_speakers(["D", "C", "B", "A"], 2)


def test_lower_case_and_riff_copies_convert_the_same(converted, tmp_path):
    _, manifest = converted
    for kwargs in ({"lower": True}, {"riff": True}):
        root = fx.make_corpus(str(tmp_path / str(kwargs)), **kwargs)
        other = job.convert(root, str(tmp_path / ("out" + str(kwargs))), log=lambda *_: None)
        for split in ("train", "dev", "test"):
            assert other["splits"][split]["frames"] == manifest["splits"][split]["frames"]
            assert other["splits"][split]["speakers"] == manifest["splits"][split]["speakers"]
        np.testing.assert_allclose(other["normalization"]["mean"], manifest["normalization"]["mean"], atol=1e-9)


def test_corpus_one_level_down_is_found(corpus, tmp_path):
    assert job.find_parts(os.path.dirname(corpus))["TRAIN"] == os.path.join(corpus, "TRAIN")
    with pytest.raises(job.CorpusError, match="no TRAIN and TEST"):
        job.find_parts(str(tmp_path))


def _corrupt_truncate(audio, phn):
    with open(audio, "r+b") as f:
        f.truncate(os.path.getsize(audio) - 100)


def _corrupt_rate(audio, phn):
    samples = sphere.read_sphere(audio)[0]
    fx.write_sphere(audio, samples, fields={"sample_rate": ("-i", 8000)})


def _corrupt_unknown_phone(audio, phn):
    text = open(phn).read().splitlines()
    text[2] = text[2].rsplit(" ", 1)[0] + " zz"
    open(phn, "w").write("\n".join(text) + "\n")


def _corrupt_order(audio, phn):
    lines = open(phn).read().splitlines()
    lines[1], lines[2] = lines[2], lines[1]
    open(phn, "w").write("\n".join(lines) + "\n")


def _corrupt_past_end(audio, phn):
    lines = open(phn).read().splitlines()
    b, e, p = lines[-1].split()
    lines[-1] = f"{b} {int(e) + 500} {p}"
    open(phn, "w").write("\n".join(lines) + "\n")


def _corrupt_missing_phn(audio, phn):
    os.remove(phn)


def _corrupt_header(audio, phn):
    data = open(audio, "rb").read()
    open(audio, "wb").write(data.replace(b"end_head", b"end_hxad"))


@pytest.mark.parametrize("corrupt,message", [
    (_corrupt_truncate, "but the file has"),
    (_corrupt_rate, "8000 Hz"),
    (_corrupt_unknown_phone, "unknown phone symbol"),
    (_corrupt_order, "out of order"),
    (_corrupt_past_end, "past the end of the audio"),
    (_corrupt_missing_phn, "missing .PHN"),
    (_corrupt_header, "malformed SPHERE header"),
])
def test_bad_input_stops_with_one_line_and_writes_nothing(corpus, tmp_path, capsys, corrupt, message):
    root = str(tmp_path / "TIMIT")
    shutil.copytree(corpus, root)
    audio, phn = fx.utterance_files(root, "MDAB0")  # a test utterance: train is converted first
    corrupt(audio, phn)
    out = str(tmp_path / "out")
    assert job.main(["--timit", root, "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert "MDAB0" in err
    assert not os.path.exists(out) or not os.listdir(out)


def test_failed_rerun_invalidates_nothing_it_did_not_redo(corpus, converted, tmp_path):
    # A changed corpus gets a new fingerprint: the old output stays until the check passes.
    root = str(tmp_path / "TIMIT")
    shutil.copytree(corpus, root)
    out = str(tmp_path / "out")
    first = job.convert(root, out, log=lambda *_: None)
    audio, phn = fx.utterance_files(root, "MDAB0")
    _corrupt_unknown_phone(audio, phn)
    with pytest.raises(job.CorpusError):
        job.convert(root, out, log=lambda *_: None)
    assert writer.read_manifest(out) == first


def test_cli_converts(corpus, tmp_path, capsys):
    out = str(tmp_path / "out")
    assert job.main(["--timit", corpus, "--out", out, "--limit", "1", "--dev-speakers", "1", "--shards", "1"]) == 0
    manifest = json.load(open(os.path.join(out, "manifest.json")))
    assert {k: v["count"] for k, v in manifest["splits"].items()} == {"train": 1, "dev": 1, "test": 1}
    assert "wrote" in capsys.readouterr().out


@pytest.mark.tfio
def test_flac_corpus_converts_through_tensorflow_io(converted, tmp_path):
    pytest.importorskip("tensorflow_io")
    soundfile = pytest.importorskip("soundfile")
    _, manifest = converted
    root = fx.make_corpus(str(tmp_path / "TIMIT"))
    for dirpath, _, files in os.walk(root):
        for name in files:
            if name.endswith(".WAV"):
                path = os.path.join(dirpath, name)
                soundfile.write(path[:-4] + ".flac", sphere.read_sphere(path)[0], 16000, subtype="PCM_16")
                os.remove(path)
    other = job.convert(root, str(tmp_path / "out"), log=lambda *_: None)
    for split in ("train", "dev", "test"):
        assert other["splits"][split]["frames"] == manifest["splits"][split]["frames"]
    np.testing.assert_allclose(other["normalization"]["mean"], manifest["normalization"]["mean"], atol=1e-9)


# --- speed-perturbed copies (--perturb) --------------------------------------------------------

@pytest.fixture(scope="module")
def perturbed(corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("perturbed"))
    return out, job.convert(corpus, out, perturb=(1.1, 0.9), log=lambda *_: None)


def _dominant_hz(samples):
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return np.argmax(spectrum) * fx.SAMPLE_RATE / len(samples)


@pytest.mark.parametrize("factor", [0.9, 1.1, 0.8])
def test_speed_perturb_shortens_by_the_factor_and_raises_pitch(factor):
    t = np.arange(fx.SAMPLE_RATE) / fx.SAMPLE_RATE
    tone = (0.5 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
    out, segments = job.speed_perturb(tone, [(0, 8000, "h#"), (8000, 16000, "s")], factor)
    assert out.dtype == np.float32 and len(out) == int(np.ceil(fx.SAMPLE_RATE / factor))
    assert abs(_dominant_hz(out) - 1000.0 * factor) < 3.0  # the 1 kHz tone, played f times faster
    assert segments == [(0, round(8000 / factor), "h#"), (round(8000 / factor), round(16000 / factor), "s")]
    np.testing.assert_array_equal(out, job.speed_perturb(tone, segments, factor)[0])  # deterministic


def test_perturbed_split_holds_every_train_utterance_at_each_speed(converted, perturbed):
    (plain_out, plain), (out, manifest) = converted, perturbed
    train = {r["id"].numpy().decode(): r for r in _records(out, "train")}
    copies = _records(out, "unlabelled")
    split = manifest["splits"]["unlabelled"]
    assert manifest["source"]["perturb"] == [0.9, 1.1]
    assert split["count"] == len(copies) == 2 * len(train) and split["speakers"] == manifest["splits"]["train"]["speakers"]
    assert sorted(split["factors"]) == ["0.9", "1.1"]
    for key, factor in (("0.9", 0.9), ("1.1", 1.1)):
        mine = [r for r in copies if r["id"].numpy().decode().endswith(f"_sp{key}")]
        assert split["factors"][key]["count"] == len(mine) == len(train)
        assert split["factors"][key]["frames"] == sum(int(r["state"].shape[0]) for r in mine)
        for r in mine:
            original = train[r["id"].numpy().decode()[:-len(f"_sp{key}")]]
            assert r["speaker"].numpy() == original["speaker"].numpy()
            assert float(r["speed"]) == pytest.approx(factor)
            assert np.all(r["state"].numpy() == -1) and r["phones"].shape == (0,)
            # The transcribed span, 1/f as long: its frame count within a frame or two.
            assert abs(r["state"].shape[0] - original["state"].shape[0] / factor) <= 2
            assert r["features"].shape == (r["state"].shape[0], features.FEATURE_DIM)
            assert not np.allclose(r["features"].numpy()[:5], original["features"].numpy()[:5])
    assert split["frames"] == sum(c["frames"] for c in split["factors"].values())
    assert float(train[next(iter(train))]["speed"]) == 1.0  # originals: the default
    # The other splits, their statistics and their files are those of the plain conversion.
    assert manifest["normalization"] == plain["normalization"] and manifest["train_stats"] == plain["train_stats"]
    for name in ("train", "dev", "test"):
        assert manifest["splits"][name] == plain["splits"][name]


def test_perturbed_conversion_is_deterministic_and_its_options_are_fingerprinted(corpus, converted, perturbed,
                                                                                   tmp_path):
    (_, plain), (out, manifest) = converted, perturbed
    assert "perturb" not in plain["source"]  # conversions without it keep their old fingerprints
    assert manifest["fingerprint"] != plain["fingerprint"]
    messages = []
    assert job.convert(corpus, out, perturb=(0.9, 1.1), log=messages.append) == manifest
    assert "nothing to do" in messages[-1]
    again = job.convert(corpus, str(tmp_path / "again"), perturb="0.9,1.1", log=lambda *_: None)
    assert again["fingerprint"] == manifest["fingerprint"]
    assert again["splits"]["unlabelled"]["shards"] == manifest["splits"]["unlabelled"]["shards"]  # same sha256
    # Other speeds are another conversion: redone, not skipped.
    other = job.convert(corpus, str(tmp_path / "again"), perturb=(0.9,), log=messages.append)
    assert "nothing to do" not in messages[-1] and other["fingerprint"] not in (manifest["fingerprint"], plain["fingerprint"])
    assert list(other["splits"]["unlabelled"]["factors"]) == ["0.9"]
    assert other["splits"]["unlabelled"]["factors"]["0.9"] == manifest["splits"]["unlabelled"]["factors"]["0.9"]
    none = job.convert(corpus, str(tmp_path / "again"), log=lambda *_: None)
    assert none["fingerprint"] == plain["fingerprint"] and "unlabelled" not in none["splits"]
    assert not [f for f in os.listdir(tmp_path / "again") if f.startswith("unlabelled")]


@pytest.mark.parametrize("text,message", [
    ("1", "not 1"), ("2.5", "in \\[0.5, 2\\]"), ("0.9123", "p/q"), ("fast", "not a number"),
])
def test_bad_perturb_factors_stop_before_writing(corpus, tmp_path, capsys, text, message):
    with pytest.raises(job.CorpusError, match=message):
        job.perturb_factors(text)
    out = str(tmp_path / "out")
    assert job.main(["--timit", corpus, "--out", out, "--perturb", text]) == 2
    assert capsys.readouterr().err.startswith("error: --perturb")
    assert not os.path.exists(out)


def test_cli_perturbs(corpus, tmp_path):
    out = str(tmp_path / "out")
    assert job.main(["--timit", corpus, "--out", out, "--limit", "2", "--perturb", "1.2, 0.8", "--shards", "1"]) == 0
    split = writer.read_manifest(out)["splits"]["unlabelled"]
    assert split["count"] == 4 and {k: v["count"] for k, v in split["factors"].items()} == {"0.8": 2, "1.2": 2}
    assert split["factors"]["0.8"]["ratio"] == "4/5"
    assert job.perturb_factors("1.2, 0.8,1.2") == (0.8, 1.2)


EXTRA_SPEAKERS = tuple((f"DR{1 + i % 8}", f"MEXT{i}") for i in range(8))


@pytest.fixture(scope="module")
def extra_corpus(tmp_path_factory):
    """Another corpus: 8 new TRAIN speakers; SX200 is also a sentence of the labelled corpus's TEST."""
    root = str(tmp_path_factory.mktemp("extra") / "EXTRA")
    return fx.make_corpus(root, train=EXTRA_SPEAKERS, test=(("DR1", "MTST0"),),
                          utterances=("SA1", "SX200", "SX300", "SI400"), seed=1)


@pytest.fixture(scope="module")
def with_extra(corpus, extra_corpus, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("with_extra"))
    return out, job.convert(corpus, out, unlabelled=extra_corpus, log=lambda *_: None)


def test_unlabelled_corpus_becomes_four_speaker_parts_without_test_sentences(converted, extra_corpus, with_extra):
    (_, plain), (out, manifest) = converted, with_extra
    parts = [manifest["splits"][name] for name in ("extra_0", "extra_1", "extra_2", "extra_3")]
    assert [p["speakers"] for p in parts] and all(len(p["speakers"]) == 2 for p in parts)
    speakers = [s for p in parts for s in p["speakers"]]
    assert sorted(speakers) == sorted(s for _, s in EXTRA_SPEAKERS)  # disjoint parts, every speaker
    # SA1 goes as in the other splits; SX200 is read in TEST: left out, and counted.
    assert manifest["source"]["unlabelled"] == os.path.abspath(extra_corpus)
    assert manifest["source"]["unlabelled_left_out"] == len(EXTRA_SPEAKERS)
    for name, part in zip(("extra_0", "extra_1", "extra_2", "extra_3"), parts):
        got = _records(out, name)
        assert part["count"] == len(got) == 4
        assert sorted({r["id"].numpy().decode().split("_")[1] for r in got}) == ["SI400", "SX300"]
        assert part["frames"] == sum(int(r["state"].shape[0]) for r in got)
        assert all(np.all(r["state"].numpy() == -1) and r["phones"].shape == (0,) for r in got)
    # The labelled splits and their statistics are those of the plain conversion.
    assert manifest["normalization"] == plain["normalization"] and manifest["train_stats"] == plain["train_stats"]
    for name in ("train", "dev", "test"):
        assert manifest["splits"][name] == plain["splits"][name]
    assert manifest["fingerprint"] != plain["fingerprint"]


def test_unlabelled_rerun_does_nothing_and_bad_extra_corpora_stop(corpus, extra_corpus, with_extra, tmp_path):
    out, manifest = with_extra
    messages = []
    assert job.convert(corpus, out, unlabelled=extra_corpus, log=messages.append) == manifest
    assert "nothing to do" in messages[-1]
    small = fx.make_corpus(str(tmp_path / "SMALL"), train=EXTRA_SPEAKERS[:3], test=(("DR1", "MTST0"),),
                          utterances=("SX300",))
    with pytest.raises(job.CorpusError, match="3 TRAIN speakers.*at least 4"):
        job.convert(corpus, str(tmp_path / "a"), unlabelled=small, log=lambda *_: None)
    no_txt = shutil.copytree(extra_corpus, str(tmp_path / "NO_TXT"))
    os.remove(os.path.join(no_txt, "TRAIN", "DR2", "MEXT1", "SX300.TXT"))
    assert job.main(["--timit", corpus, "--out", str(tmp_path / "b"), "--unlabelled", no_txt]) == 2
    assert not os.path.exists(tmp_path / "b")
