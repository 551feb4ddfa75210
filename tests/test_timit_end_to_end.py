"""TIMIT through every stage on a tiny synthetic corpus: labelling, report, export."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from mimic_keras import fit, predict
from mimic_keras.data import phones
from mimic_keras.data import timit, writer
from mimic_keras.export import export_frame_classifier
from mimic_keras.models.mimics import mimic_param_count
from mimic_keras.models.speech_teachers import speech_teacher_param_count
from mimic_keras.teachers_io import model_fingerprint
from pipelines import label_timit_with_teacher
from tests import timit_fixtures as fx

TINY = [
    "teacher.conv_filters=(4,)", "teacher.dense_units=(16, 16)", "teacher.num_teachers=2",
    "mimic.bottleneck=8", "mimic.hidden=32",
    "teacher_train.epochs=2", "mimic_train.epochs=3", "control_train.epochs=2",
    "teacher_train.batch_size=64", "mimic_train.batch_size=64", "control_train.batch_size=64",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("timit_run")
    corpus = fx.make_corpus(str(root / "TIMIT"))
    workdir, exports = str(root / "run"), str(root / "saved_models")
    args = ["all", "--preset", "timit-quick", "--timit", corpus, "--workdir", workdir, f"export.dir={exports}", *TINY]
    assert fit.main(args) == 0
    with open(os.path.join(workdir, "report.json")) as f:
        report = json.load(f)
    return workdir, exports, args, report


def _models(report):
    return {r["model"]: r for r in report["models"]}


def test_report_has_table_1_rows_with_formula_parameters(tiny_run):
    workdir, _, _, report = tiny_run
    with open(os.path.join(workdir, "config.json")) as f:
        cfg_dict = json.load(f)
    assert cfg_dict["data"]["dataset"] == "timit" and cfg_dict["num_classes"] == timit.NUM_STATES
    models = _models(report)
    assert list(models) == ["teacher_0", "teacher_1", "ensemble", "mimic", "control"]
    assert (models["teacher_0"]["kind"], models["teacher_1"]["kind"]) == ("dnn", "cnn")
    from mimic_keras.config import from_dict

    cfg = from_dict(cfg_dict)
    for i, kind in enumerate(("dnn", "cnn")):
        assert models[f"teacher_{i}"]["parameters"] == speech_teacher_param_count(cfg.teacher, kind=kind)
    assert models["ensemble"]["parameters"] == models["teacher_0"]["parameters"] + models["teacher_1"]["parameters"]
    shallow = mimic_param_count(cfg.mimic, timit.NUM_STATES, (timit.INPUT_DIM,))
    assert models["mimic"]["parameters"] == models["control"]["parameters"] == shallow
    assert models["mimic"]["hidden_units"] == 32 and models["teacher_0"]["hidden_units"] == 32
    data_dir = os.path.join(workdir, "data")
    assert report["splits"]["test"]["frames"] == timit.num_frames(data_dir, "test")
    assert report["transfer_examples"] == timit.num_frames(data_dir, "train")
    for r in report["models"]:
        for split in ("dev", "test"):
            s = r[split]
            assert 0.0 <= s["state_accuracy"] <= s["phone_accuracy"] <= 1.0
            assert s["per"] == s["errors"] / s["reference_phones"] and s["reference_phones"] > 0
        assert r["lm_weight"] > 0
    assert 0.0 <= models["mimic"]["teacher_agreement"] <= 1.0
    table = open(os.path.join(workdir, "report.md")).read()
    assert "| mimic | shallow |" in table and "PER core test" in table
    assert os.path.getsize(os.path.join(workdir, "curves.png")) > 1000
    assert os.path.getsize(os.path.join(workdir, "hidden.png")) > 1000
    histories = report["histories"]  # the figures can be redrawn from report.json alone
    assert histories["mimic"]["epoch"] == [1, 2, 3] and len(histories["control"]["val_loss"]) == 2
    assert len(histories["mimic"]["hidden_active"]) == 3


def test_transcripts_cover_every_utterance(tiny_run):
    workdir, _, _, report = tiny_run
    for model in ("teacher_0", "ensemble", "mimic"):
        for split in ("dev", "test"):
            for kind in ("ref", "hyp"):
                path = os.path.join(workdir, "transcripts", model, f"{split}.{kind}.txt")
                lines = open(path).read().splitlines()
                assert len(lines) == report["splits"][split]["utterances"]
                assert all("_" in line.split()[0] for line in lines)  # <speaker>_<utt> first


def test_mimic_learned_from_the_cached_logits(tiny_run):
    workdir, _, _, _ = tiny_run
    history = json.load(open(os.path.join(workdir, "mimic", "history.json")))
    assert history["epoch"] == [1, 2, 3] and history["loss"][-1] < history["loss"][0]
    manifest = writer.read_manifest(os.path.join(workdir, "transfer"))
    teachers = [os.path.join(workdir, "teacher", f"teacher_{i}", "model.keras") for i in range(2)]
    assert manifest["teacher"]["sha256"] == [model_fingerprint(p) for p in teachers]
    assert sorted(manifest["splits"]) == ["dev", "test", "train"]


def test_labels_are_the_ensemble_mean_of_each_frame(tiny_run):
    workdir = tiny_run[0]
    transfer = os.path.join(workdir, "transfer")
    teachers = [keras.saving.load_model(os.path.join(workdir, "teacher", f"teacher_{i}", "model.keras"))
                for i in range(2)]
    frames, targets = next(iter(timit.frame_pipeline(transfer, "dev", 100_000, target="distill")))
    expected = np.mean([t.predict(frames, verbose=0) for t in teachers], axis=0)
    np.testing.assert_allclose(targets["logits"].numpy(), expected, atol=1e-4)
    assert len(frames) == timit.num_frames(transfer, "dev")


def test_label_job_rerun_is_a_no_op(tiny_run, capsys):
    workdir = tiny_run[0]
    transfer = os.path.join(workdir, "transfer")
    before = writer.read_manifest(transfer)
    teachers = [os.path.join(workdir, "teacher", f"teacher_{i}", "model.keras") for i in range(2)]
    capsys.readouterr()
    again = label_timit_with_teacher.label(os.path.join(workdir, "data"), teachers, transfer,
                                           splits=["train", "dev", "test"])
    assert "nothing to do" in capsys.readouterr().out and again == before


def test_label_job_refuses_what_does_not_fit(tiny_run, tmp_path, capsys):
    workdir = tiny_run[0]
    data = os.path.join(workdir, "data")
    teacher = os.path.join(workdir, "teacher", "teacher_0", "model.keras")
    out = str(tmp_path / "out")
    with pytest.raises(ValueError, match=r"not \(615,\) context windows of ±2 frames"):
        label_timit_with_teacher.label(data, [teacher], out, context=2)
    with pytest.raises(ValueError, match="no split"):
        label_timit_with_teacher.label(data, [teacher], out, splits=["validation"])
    assert label_timit_with_teacher.main(["--data", str(tmp_path), "--teacher", teacher, "--out", out]) == 2
    assert "no manifest" in capsys.readouterr().err


def test_rerun_skips_finished_stages(tiny_run, capsys):
    _, _, args, _ = tiny_run
    capsys.readouterr()
    assert fit.main(args) == 0
    assert capsys.readouterr().out.count("up to date") == 7


def test_exported_mimic_serves_frames_and_utterances(tiny_run):
    workdir, exports, _, _ = tiny_run
    exported = json.load(open(os.path.join(workdir, "export.json")))["mimic"]
    assert exported == os.path.join(exports, "run", "1")  # named for the workdir
    mimic = keras.saving.load_model(os.path.join(workdir, "mimic", "model.keras"))
    loaded = tf.saved_model.load(exported)
    utt = next(timit.load_utterances(os.path.join(workdir, "data"), "test", normalize=True).as_numpy_iterator())
    windows = timit.context_windows(utt["features"]).numpy()
    expected = mimic.predict(windows, verbose=0)
    frames = loaded.signatures["serving_default"](frames=tf.constant(windows))
    np.testing.assert_allclose(frames["logits"].numpy(), expected, atol=1e-4)
    np.testing.assert_allclose(frames["probabilities"].numpy().sum(-1), 1.0, atol=1e-5)
    # The utterance signature takes raw features: the training statistics are in the export.
    raw = next(timit.load_utterances(os.path.join(workdir, "data"), "test").as_numpy_iterator())["features"]
    whole = loaded.signatures["serving_utterance"](features=tf.constant(raw))
    np.testing.assert_allclose(whole["logits"].numpy(), expected, atol=1e-4)
    assert whole["classes"].shape == (len(utt["state"]),)


def test_export_with_statistics_takes_raw_features(tiny_run, tmp_path):
    workdir = tiny_run[0]
    data = os.path.join(workdir, "data")
    mimic = keras.saving.load_model(os.path.join(workdir, "mimic", "model.keras"))
    path = export_frame_classifier(mimic, str(tmp_path), "m", normalization=timit.normalization(data))
    raw = next(timit.load_utterances(data, "dev").as_numpy_iterator())["features"]
    mean, std = timit.normalization(data)
    expected = mimic.predict(timit.context_windows((raw - mean) / std).numpy(), verbose=0)
    out = tf.saved_model.load(path).signatures["serving_utterance"](features=tf.constant(raw))
    np.testing.assert_allclose(out["probabilities"].numpy(), tf.nn.softmax(expected).numpy(), atol=1e-5)
    with pytest.raises(ValueError, match="windows of ±2 frames"):
        export_frame_classifier(mimic, str(tmp_path), "m", context=2)


def _hypotheses(workdir, split="test"):
    with open(os.path.join(workdir, "transcripts", "mimic", f"{split}.hyp.txt")) as f:
        return {line.split(" ", 1)[0]: line.split(" ", 1)[1].strip() if " " in line.strip() else ""
                for line in f if line.strip()}


def _decoded(model, corpus, capsys):
    """{(speaker, utterance): phones} of every test-speaker WAV, decoded by `predict MODEL`."""
    wavs = [fx.utterance_files(corpus, speaker, utt)[0] for _, speaker in fx.TEST_SPEAKERS for utt in fx.UTTERANCES]
    assert predict.main([model, *wavs]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    return {tuple(line["input"].split(os.sep)[-2:]): line["phones"] for line in lines}


def _check_against_transcripts(decoded, hyps):
    matched = 0
    for (speaker, wav), phones in decoded.items():
        utt_id = [i for i in hyps if speaker.lower() in i.lower() and wav[:-4].lower() in i.lower()]
        if utt_id:  # the test split's utterances (the core speakers'): what evaluate decoded
            assert phones == hyps[utt_id[0]], utt_id[0]
            matched += 1
    assert matched == len(hyps) > 0


def test_predict_decodes_wav_files_into_the_reports_transcripts(tiny_run, capsys):
    """The export's decoder (HMM, tuned LM weight and penalty) gives what evaluate wrote for each utterance."""
    workdir, exports, args, _ = tiny_run
    corpus = args[args.index("--timit") + 1]
    decoded = _decoded(os.path.join(exports, "run", "1"), corpus, capsys)
    assert all(set(p.split()) <= set(phones.PHONES_39) for p in decoded.values())
    _check_against_transcripts(decoded, _hypotheses(workdir))


def test_predict_names_an_undecodable_audio_file_and_goes_on(tiny_run, tmp_path, capsys):
    workdir, exports, args, _ = tiny_run
    good = fx.utterance_files(args[args.index("--timit") + 1], fx.TEST_SPEAKERS[0][1])[0]
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....not audio")
    assert predict.main([workdir, str(bad), good]) == 1  # a workdir: its exported mimic
    captured = capsys.readouterr()
    assert [json.loads(line)["input"] for line in captured.out.strip().splitlines()] == [good]
    (error,) = captured.err.strip().splitlines()
    assert error.startswith(f"error: {bad}: ")


def test_litert_variants_report_frame_accuracy_and_per_and_decode_alike(tiny_run, tmp_path, capsys):
    workdir, exports, args, report = tiny_run
    copy, exports_copy = str(tmp_path / "run"), str(tmp_path / "saved_models")
    shutil.copytree(workdir, copy)
    shutil.copytree(exports, exports_copy)
    assert fit.main(["export", "--workdir", copy, f"export.dir={exports_copy}", "export.tflite=float32,int8"]) == 0
    capsys.readouterr()
    with open(os.path.join(copy, "litert.json")) as f:
        results = json.load(f)["mimic"]
    mimic = _models(report)["mimic"]
    assert results["keras"]["test_accuracy"] == pytest.approx(mimic["test"]["state_accuracy"], abs=1e-6)
    assert results["keras"]["test_per"] == pytest.approx(mimic["test"]["per"], abs=1e-6)
    assert results["variants"]["float32"]["test_per"] == pytest.approx(mimic["test"]["per"], abs=1e-6)
    assert 0 <= results["variants"]["int8"]["test_per"] <= 1.5
    tflite = os.path.join(exports_copy, "run", "2", "litert", "float32.tflite")
    corpus = args[args.index("--timit") + 1]
    _check_against_transcripts(_decoded(tflite, corpus, capsys), _hypotheses(workdir))


def test_timit_flag_needs_a_timit_preset(tmp_path, capsys):
    assert fit.main(["prepare", "--preset", "cifar10-quick", "--timit", str(tmp_path), "--workdir", str(tmp_path)]) == 2
    assert "--timit needs a TIMIT preset" in capsys.readouterr().err


STANDIN = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "timit-standin")


@pytest.mark.large
@pytest.mark.skipif(not os.path.isdir(STANDIN), reason="needs ../shared/data/timit-standin")
def test_quick_preset_end_to_end(tmp_path):
    workdir = str(tmp_path / "run")
    args = ["all", "--preset", "timit-quick", "--timit", STANDIN, "--workdir", workdir,
            f"export.dir={tmp_path / 'saved_models'}"]
    assert fit.main(args) == 0
    with open(os.path.join(workdir, "report.json")) as f:
        models = _models(json.load(f))
    assert report_ok(models)


def report_ok(models):
    """Every model learned something real; the mimic agrees with its teacher more than the control."""
    assert min(r["test"]["state_accuracy"] for r in models.values()) > 0.3
    assert max(r["test"]["per"] for r in models.values()) < 0.6
    assert models["mimic"]["teacher_agreement"] > models["control"]["teacher_agreement"]
    return True
