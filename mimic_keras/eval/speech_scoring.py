"""TIMIT scoring, in the shape of the paper's Table 1: frame accuracies and phone error rates.

Every TIMIT number of the reports and sweeps is computed here: `SpeechScorer` gives a run
report's columns for each model role (`mimic_keras.eval.report`), `student_scores` one sweep
row (`experiments/mimic_sweep.py`). Each model's decoder (LM weight and insertion penalty,
`mimic_keras.eval.hmm`) is tuned once, on dev, and then used on both splits. The 39-class
reference and hypothesis transcripts go to `<transcripts>/<model>/{dev,test}.{ref,hyp}.txt`
(`<utt-id> ph ph ...`), for sclite.
"""

import os

import numpy as np

from mimic_keras.data import timit, writer
from mimic_keras.eval import outcomes, stats
from mimic_keras.eval.hmm import PhoneHMM, decode_utterances, tune_decoder
from mimic_keras.eval.per import error_counts, error_rate, write_scored
from mimic_keras.eval.utterances import frame_accuracies, predict_utterances
from mimic_keras.losses import L2Logits
from mimic_keras.models.summary import hidden_units

SPLITS = ("dev", "test")


def predict_splits(model, data_dir, context):
    """`predict_utterances` of dev and test, by split."""
    return {split: predict_utterances(model, data_dir, split, context) for split in SPLITS}


def score_utterances(utterances, hmm, transcripts_dir):
    """Tunes the decoder on dev, then scores dev and test with it; writes the transcripts.

    Args:
        utterances: `predict_splits` of one model.
        hmm: the `PhoneHMM` of the converted folder.
        transcripts_dir: gets `{dev,test}.{ref,hyp}.txt`.

    Returns:
        A dict: `lm_weight`, `insertion_penalty`, and per split the frame accuracies, the error
        counts, `per` and `per_ci95` (test speakers resampled), and `speaker_totals` (each
        speaker's errors and phones, `outcomes.speaker_record`: paired intervals from stored JSON).
    """
    (lm_weight, penalty, _), _ = tune_decoder(utterances["dev"], hmm)
    scores = {"lm_weight": lm_weight, "insertion_penalty": penalty}
    for split in SPLITS:
        utts = utterances[split]
        refs, hyps = decode_utterances(utts, hmm, lm_weight, penalty)
        counts = error_counts(refs, hyps)
        write_scored(transcripts_dir, split, [u["id"] for u in utts], refs, hyps)
        totals, speakers = stats.speaker_totals([u["speaker"] for u in utts], refs, hyps)
        scores[split] = {**frame_accuracies(utts), **counts, "per": error_rate(counts),
                         "per_ci95": stats.per_ci95_from_totals(totals),
                         "speaker_totals": outcomes.totals_record(totals, speakers)}
    return scores


def test_set_name(data_dir):
    """"core test" (TIMIT's 24 core speakers) or "full test" (every TEST speaker, `data.full_test`)."""
    return "full test" if writer.read_manifest(data_dir)["source"].get("full_test") else "core test"


def format_per(per, ci95=None):
    """A PER with its speaker-bootstrap interval when there is one: "22.4% (19.0–25.9)"."""
    return f"{per:.2%}" + (f" ({ci95[0]:.1%}–{ci95[1]:.1%})" if ci95 else "")


def concat_logits(utterances):
    """The frames' logits of `predict_utterances` output, utterance after utterance."""
    return np.concatenate([u["logits"] for u in utterances])


def teacher_logits(transfer_dir, split):
    """{utterance id: the teacher's logits `[T, C]`} of one split of a teacher-labelled folder."""
    return {u["id"].decode(): u["logits"]
            for u in timit.load_utterances(transfer_dir, split, with_logits=True).as_numpy_iterator()}


def transcript_files(transcripts_dir):
    """The files `student_scores` (and `score_utterances`) write in `transcripts_dir`."""
    from mimic_keras.eval.per import scored_paths

    return [path for split in SPLITS for path in scored_paths(transcripts_dir, split).values()]


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
        resampled) and `test_speaker_totals` (`outcomes.speaker_record`); the teacher's
        `teacher_test_accuracy`; and the student's `val_l2_to_teacher` (dev), `test_l2_to_teacher`
        and `test_agreement`.
    """
    utts = predict_splits(model, data_dir, context)
    scores = score_utterances(utts, PhoneHMM.from_manifest(data_dir), transcripts_dir)
    teacher = {split: teacher_logits(transfer_dir, split) for split in SPLITS}
    mine = {split: concat_logits(utts[split]) for split in SPLITS}
    theirs = {split: np.concatenate([teacher[split][u["id"]] for u in utts[split]]) for split in SPLITS}
    labels = np.concatenate([u["state"] for u in utts["test"]])
    return {
        "parameters": int(model.count_params()),
        "test_accuracy": scores["test"]["state_accuracy"],
        "test_accuracy_ci95": stats.frame_accuracy_ci95([u["logits"].argmax(-1) == u["state"] for u in utts["test"]]),
        "test_phone_accuracy": scores["test"]["phone_accuracy"],
        "dev_per": scores["dev"]["per"],
        "test_per": scores["test"]["per"],
        "test_per_ci95": scores["test"]["per_ci95"],
        "test_speaker_totals": scores["test"]["speaker_totals"],
        "test_set": test_set_name(data_dir),
        "lm_weight": scores["lm_weight"],
        "insertion_penalty": scores["insertion_penalty"],
        "teacher_test_accuracy": float(np.mean(theirs["test"].argmax(-1) == labels)),
        "val_l2_to_teacher": float(L2Logits()(theirs["dev"], mine["dev"])),
        "test_l2_to_teacher": float(L2Logits()(theirs["test"], mine["test"])),
        "test_agreement": stats.agreement(mine["test"], theirs["test"]),
    }


class SpeechScorer:
    """A TIMIT run report's columns for each model role (`mimic_keras.eval.report.evaluate`).

    Args:
        cfg: the run's `ExperimentConfig`.
        data_dir: the converted folder (dev and test, decoder statistics).
        transcripts_dir: gets each model's transcripts, `<model>/{dev,test}.{ref,hyp}.txt`.
    """

    def __init__(self, cfg, data_dir, transcripts_dir):
        self.cfg = cfg
        self.data_dir = data_dir
        self.transcripts_dir = transcripts_dir
        self.hmm = PhoneHMM.from_manifest(data_dir)

    def summary(self):
        """The report's dataset keys: `dataset`, `test_set`, and utterances and frames of each split."""
        data = writer.read_manifest(self.data_dir)["splits"]
        return {"dataset": "timit", "test_set": test_set_name(self.data_dir),
                "splits": {s: {"utterances": data[s]["count"], "frames": data[s]["frames"]} for s in SPLITS}}

    def predict(self, model):
        """A model's utterances of dev and test, with their logits."""
        return predict_splits(model, self.data_dir, self.cfg.data.context)

    def ensemble(self, members):
        """The members' mean logits per utterance (what the label job wrote for the mimic)."""
        return {split: [{**u, "logits": np.mean([m[split][j]["logits"] for m in members], axis=0)}
                        for j, u in enumerate(members[0][split])] for split in SPLITS}

    def _columns(self, name, kind, parameters, units, outputs):
        return {"kind": kind, "parameters": int(parameters), "hidden_units": int(units),
                **score_utterances(outputs, self.hmm, os.path.join(self.transcripts_dir, name))}

    def columns(self, name, model, outputs, teacher=None):
        """`kind`, `parameters`, `hidden_units`, the decoder settings, and `dev` and `test` scores."""
        kind = "shallow" if teacher is None else self.cfg.teacher.kind_of(teacher)
        return self._columns(name, kind, model.count_params(), hidden_units(model), outputs)

    def ensemble_columns(self, teacher_rows, outputs):
        """The ensemble's columns: its members' kinds joined, parameters and hidden units summed."""
        return self._columns("ensemble", "+".join(r["kind"] for r in teacher_rows),
                             sum(r["parameters"] for r in teacher_rows), sum(r["hidden_units"] for r in teacher_rows),
                             outputs)

    def teacher_columns(self, outputs, reference):
        """A student's `teacher_agreement` and `test_l2_to_teacher`, against the teachers' mean logits."""
        ours, theirs = concat_logits(outputs["test"]), concat_logits(reference["test"])
        return {"teacher_agreement": stats.agreement(ours, theirs), "test_l2_to_teacher": float(L2Logits()(theirs, ours))}

    @staticmethod
    def markdown_table(report):
        """The report's models as a Markdown table shaped like the paper's Table 1."""
        splits, test_set = report["splits"], report.get("test_set", "core test")
        transfer = report.get("transfer_examples", report.get("transfer_frames"))  # the older reports' key
        lines = [
            f"### {report['name']}: dev {splits['dev']['utterances']} utterances / {splits['dev']['frames']} frames, "
            f"{test_set} {splits['test']['utterances']} / {splits['test']['frames']}, "
            f"transfer set {transfer} frames",
            "",
            "| model | kind | parameters | hidden units | epochs | frame acc. (state) | frame acc. (phone) "
            f"| PER dev | PER {test_set} (95% interval) | agreement with teacher |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in report["models"]:
            agreement = f"{r['teacher_agreement']:.2%}" if "teacher_agreement" in r else "—"
            notes = [f"best {r['best_epoch']}"] if "best_epoch" in r else []
            notes += ["stopped early"] if r.get("stopped_early") else []
            epochs = str(r.get("epochs", "—")) + (f" ({', '.join(notes)})" if notes else "")
            test = r["test"]
            lines.append(
                f"| {r['model']} | {r['kind']} | {r['parameters']:,} | {r['hidden_units']:,} | {epochs} | "
                f"{test['state_accuracy']:.2%} | {test['phone_accuracy']:.2%} | {r['dev']['per']:.2%} | "
                f"{format_per(test['per'], test.get('per_ci95'))} | {agreement} |"
            )
        lines += ["", f"Frame accuracies on the {test_set} set; PER with 39 folded phones, decoder tuned on dev per "
                  "model, 95% interval from resampling test speakers; "
                  "(best N): the weights kept are those of epoch N, the lowest dev loss (or highest dev frame accuracy, "
                  "checkpoint=best_accuracy); stopped early: `patience` epochs passed without improvement."]
        return "\n".join(lines) + "\n"
