"""TIMIT evaluation of a run, in the shape of the paper's Table 1: `report.json`, `report.md`, figures.

For each teacher, their ensemble (mean logits, when there are several), the mimic and the
control: parameters, non-linear hidden units, frame accuracy (183 states, and 39 folded
phones) and phone error rate on dev and on the core test set. Each model's decoder (LM weight
and insertion penalty, `mimic_keras.decoding`) is tuned once, on dev, and then used on both
splits. The 39-class reference and hypothesis transcripts go to
`<workdir>/transcripts/<model>/{dev,test}.{ref,hyp}.txt` (`<utt-id> ph ph ...`), for sclite.
`student_scores` scores one student against the teacher logits of its transfer set (a row of
`experiments/mimic_sweep.py`).
"""

import os

import keras
import numpy as np

from mimic_keras import decoding
from mimic_keras.data import timit, writer
from mimic_keras.losses import L2Logits
from mimic_keras.models.summary import hidden_units
from mimic_keras.report import checkpoint_protocol, objectives, run_histories, write_report
from mimic_keras.training import read_history

SPLITS = ("dev", "test")


def _predict(model, data_dir, context):
    return {split: decoding.predict_utterances(model, data_dir, split, context) for split in SPLITS}


def _score(utterances, hmm, transcripts_dir):
    """Tunes the decoder on dev, then scores dev and test with it; writes the transcripts."""
    (lm_weight, penalty, _), _ = decoding.tune_decoder(utterances["dev"], hmm)
    scores = {"lm_weight": lm_weight, "insertion_penalty": penalty}
    for split in SPLITS:
        utts = utterances[split]
        refs, hyps = decoding.decode_utterances(utts, hmm, lm_weight, penalty)
        counts = decoding.error_counts(refs, hyps)
        ids = [u["id"] for u in utts]
        decoding.write_transcripts(os.path.join(transcripts_dir, f"{split}.ref.txt"), ids, refs)
        decoding.write_transcripts(os.path.join(transcripts_dir, f"{split}.hyp.txt"), ids, hyps)
        scores[split] = {**decoding.frame_accuracies(utts), **counts,
                         "per": counts["errors"] / max(counts["reference_phones"], 1),
                         "per_ci95": decoding.per_bootstrap_ci95(refs, hyps, [u["speaker"] for u in utts])}
    return scores


def test_set_name(data_dir):
    """"core test" (TIMIT's 24 core speakers) or "full test" (every TEST speaker, `data.full_test`)."""
    return "full test" if writer.read_manifest(data_dir)["source"].get("full_test") else "core test"


def format_per(per, ci95=None):
    """A PER with its speaker-bootstrap interval when there is one: "22.4% (19.0–25.9)"."""
    return f"{per:.2%}" + (f" ({ci95[0]:.1%}–{ci95[1]:.1%})" if ci95 else "")


def _concat_logits(utterances):
    return np.concatenate([u["logits"] for u in utterances])


def frame_accuracy_ci95(correct):
    """Half-width of the 95% interval of a frame accuracy, each utterance one cluster of frames.

    Frames of one utterance are not independent: the variance is that of a ratio estimate over
    utterances, Σ (c_i - p n_i)² / (Σ n_i)² × m / (m - 1), for m utterances of n_i frames, c_i
    of them correct.

    Args:
        correct: one boolean array per utterance.
    """
    c = np.array([np.sum(x) for x in correct], np.float64)
    n = np.array([len(x) for x in correct], np.float64)
    m = len(n)
    if m < 2:
        return float("nan")
    p = c.sum() / n.sum()
    return 1.96 * float(np.sqrt(np.sum((c - p * n) ** 2) / n.sum() ** 2 * m / (m - 1)))


def _teacher_logits(transfer_dir, split):
    return {u["id"].decode(): u["logits"]
            for u in timit.load_utterances(transfer_dir, split, with_logits=True).as_numpy_iterator()}


def student_scores(model, data_dir, transfer_dir, context, transcripts_dir):
    """One student's scores against the labels and against the teacher of its transfer set.

    Args:
        model: a frame classifier (Keras model).
        data_dir: the converted folder (dev and core test, decoder statistics).
        transfer_dir: the teacher-labelled folder (its dev and test logits are the teacher's).
        context: the model's context (frames on each side).
        transcripts_dir: gets `{dev,test}.{ref,hyp}.txt`.

    Returns:
        A dict: `parameters`; `test_accuracy` (state frame accuracy on the test set, named by
        `test_set`) with `test_accuracy_ci95` (utterances as clusters), `test_phone_accuracy`,
        `dev_per` and `test_per` (decoder tuned on dev) with `test_per_ci95` (test speakers
        resampled); the teacher's `teacher_test_accuracy`; and the
        student's `val_l2_to_teacher` (dev), `test_l2_to_teacher` and `test_agreement`.
    """
    utts = _predict(model, data_dir, context)
    scores = _score(utts, decoding.PhoneHMM.from_manifest(data_dir), transcripts_dir)
    teacher = {split: _teacher_logits(transfer_dir, split) for split in SPLITS}
    mine = {split: _concat_logits(utts[split]) for split in SPLITS}
    theirs = {split: np.concatenate([teacher[split][u["id"]] for u in utts[split]]) for split in SPLITS}
    labels = np.concatenate([u["state"] for u in utts["test"]])
    return {
        "parameters": int(model.count_params()),
        "test_accuracy": scores["test"]["state_accuracy"],
        "test_accuracy_ci95": frame_accuracy_ci95([u["logits"].argmax(-1) == u["state"] for u in utts["test"]]),
        "test_phone_accuracy": scores["test"]["phone_accuracy"],
        "dev_per": scores["dev"]["per"],
        "test_per": scores["test"]["per"],
        "test_per_ci95": scores["test"]["per_ci95"],
        "test_set": test_set_name(data_dir),
        "lm_weight": scores["lm_weight"],
        "insertion_penalty": scores["insertion_penalty"],
        "teacher_test_accuracy": float(np.mean(theirs["test"].argmax(-1) == labels)),
        "val_l2_to_teacher": float(L2Logits()(theirs["dev"], mine["dev"])),
        "test_l2_to_teacher": float(L2Logits()(theirs["test"], mine["test"])),
        "test_agreement": float(np.mean(mine["test"].argmax(-1) == theirs["test"].argmax(-1))),
    }


def evaluate_run(run):
    """Evaluates every model of a finished TIMIT run and writes the report files; returns the report."""
    cfg = run.cfg
    context = cfg.data.context
    hmm = decoding.PhoneHMM.from_manifest(run.data_dir)

    def row(name, kind, params, units, utterances, history=None, checkpoint="last"):
        print(f"scoring {name}", flush=True)
        r = {"model": name, "kind": kind, "parameters": int(params), "hidden_units": int(units),
             **_score(utterances, hmm, run.path("transcripts", name))}
        if history and history.get("epoch"):
            r["epochs"] = len(history["epoch"])
            if checkpoint == "best" and history.get("val_loss"):
                r["best_epoch"] = int(history["epoch"][int(np.argmin(history["val_loss"]))])
        return r

    rows, members = [], []
    for i, path in enumerate(run.teacher_paths):
        model = keras.saving.load_model(path, compile=False)
        utts = _predict(model, run.data_dir, context)
        members.append(utts)
        rows.append(row(f"teacher_{i}", cfg.teacher.kind_of(i), model.count_params(), hidden_units(model), utts,
                        read_history(run.teacher_dir(i)), cfg.teacher_train.checkpoint))
    # The reference the mimic learned from: the members' mean logits, as the label job wrote them.
    reference = {split: [{**u, "logits": np.mean([m[split][j]["logits"] for m in members], axis=0)}
                         for j, u in enumerate(members[0][split])] for split in SPLITS}
    if len(members) > 1:
        rows.append(row("ensemble", "+".join(cfg.teacher.kind_of(i) for i in range(len(members))),
                        sum(r["parameters"] for r in rows), sum(r["hidden_units"] for r in rows), reference))

    for role in ("mimic", "control"):
        model = keras.saving.load_model(run.path(role, "model.keras"), compile=False)
        utts = _predict(model, run.data_dir, context)
        r = row(role, "shallow", model.count_params(), hidden_units(model), utts, read_history(run.path(role)),
                getattr(cfg, f"{role}_train").checkpoint)
        ours, theirs = _concat_logits(utts["test"]), _concat_logits(reference["test"])
        r["teacher_agreement"] = float(np.mean(ours.argmax(-1) == theirs.argmax(-1)))
        r["test_l2_to_teacher"] = float(L2Logits()(theirs, ours))
        rows.append(r)

    data = writer.read_manifest(run.data_dir)["splits"]
    report = {
        "name": cfg.name,
        "dataset": "timit",
        "test_set": test_set_name(run.data_dir),
        "splits": {s: {"utterances": data[s]["count"], "frames": data[s]["frames"]} for s in SPLITS},
        "transfer_frames": run.task.transfer_examples(run),  # training frames + any copies / extra speech used
        "checkpoint": checkpoint_protocol(cfg),
        "models": rows,
        "objectives": objectives(cfg),
        "histories": run_histories(run),
    }
    return write_report(run, report, markdown_table(report))


def markdown_table(report):
    """The report's models as a Markdown table shaped like the paper's Table 1."""
    splits, test_set = report["splits"], report.get("test_set", "core test")
    lines = [
        f"### {report['name']}: dev {splits['dev']['utterances']} utterances / {splits['dev']['frames']} frames, "
        f"{test_set} {splits['test']['utterances']} / {splits['test']['frames']}, "
        f"transfer set {report['transfer_frames']} frames",
        "",
        "| model | kind | parameters | hidden units | epochs | frame acc. (state) | frame acc. (phone) "
        f"| PER dev | PER {test_set} (95% interval) | agreement with teacher |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["models"]:
        agreement = f"{r['teacher_agreement']:.2%}" if "teacher_agreement" in r else "—"
        epochs = str(r.get("epochs", "—")) + (f" (best {r['best_epoch']})" if "best_epoch" in r else "")
        test = r["test"]
        lines.append(
            f"| {r['model']} | {r['kind']} | {r['parameters']:,} | {r['hidden_units']:,} | {epochs} | "
            f"{test['state_accuracy']:.2%} | {test['phone_accuracy']:.2%} | {r['dev']['per']:.2%} | "
            f"{format_per(test['per'], test.get('per_ci95'))} | {agreement} |"
        )
    lines += ["", f"Frame accuracies on the {test_set} set; PER with 39 folded phones, decoder tuned on dev per model, "
              "95% interval from resampling test speakers; "
              "(best N): the weights kept are those of epoch N, the lowest dev loss."]
    return "\n".join(lines) + "\n"
