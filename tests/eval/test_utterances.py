"""TIMIT models over whole utterances (`mimic_keras.eval.utterances`), decoded by `eval.hmm`."""

import os

import keras
import numpy as np

from mimic_keras.data import phones, timit
from mimic_keras.eval import hmm, per, utterances


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
    results = utterances.evaluate_utterances(predict, timit_records, "test", lm_weight=1.0, insertion_penalty=0.0,
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
    results = utterances.evaluate_utterances(model, timit_records, "test", lm_weights=(1.0, 2.0),
                                           insertion_penalties=(0.0, 5.0), out_dir=str(tmp_path))
    assert results["tuning"]["split"] == "dev" and len(results["tuning"]["grid"]) == 4
    assert (results["lm_weight"], results["insertion_penalty"]) in {(1.0, 0.0), (1.0, 5.0), (2.0, 0.0), (2.0, 5.0)}
    assert 0.0 <= results["state_accuracy"] < 0.5 and results["per"] > 0.5
    assert os.path.exists(os.path.join(str(tmp_path), "test.hyp.txt"))


def test_noisy_predictions_decode_better_than_frame_argmax(timit_records):
    # A classifier right on ~60% of frames: the HMM and bigram recover most phones.
    rng = np.random.default_rng(0)
    utts = utterances.predict_utterances(_oracle(timit_records, "test"), timit_records, "test")
    model_hmm = hmm.PhoneHMM.from_manifest(timit_records)
    for u in utts:
        noise = rng.normal(0, 1.0, u["logits"].shape)
        u["logits"] = (u["logits"] / 20.0 * 2.0 + noise + model_hmm.log_prior.clip(-30)).astype(np.float32)
    acc = utterances.frame_accuracies(utts)["state_accuracy"]
    refs, hyps = hmm.decode_utterances(utts, model_hmm, 1.0, 0.0)
    argmax_hyps = [phones.fold(phones.PHONES[s // 3] for s in u["logits"].argmax(-1)) for u in utts]
    assert 0.3 < acc < 0.9
    assert per.phone_error_rate(refs, hyps) < 0.5 * per.phone_error_rate(refs, argmax_hyps)
