"""TIMIT models over whole utterances: per-utterance logits, frame accuracies, PER of one split.

`predict_utterances` runs a frame classifier over every utterance of a converted folder;
`evaluate_utterances` scores one split end to end (frame accuracies, decoder tuned on dev,
PER, transcripts for sclite).
"""

import numpy as np
import tensorflow as tf

from mimic_keras.data import phones, timit
from mimic_keras.eval.hmm import (
    DEFAULT_INSERTION_PENALTIES,
    DEFAULT_LM_WEIGHTS,
    PhoneHMM,
    decode_utterances,
    tune_decoder,
)
from mimic_keras.eval.per import error_counts, error_rate, write_scored


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
    results.update(counts, per=error_rate(counts), lm_weight=lm_weight, insertion_penalty=insertion_penalty,
                   tuning=tuning)
    if out_dir is not None:
        results["transcripts"] = write_scored(out_dir, split, [u["id"] for u in utts], refs, hyps)
    return results
