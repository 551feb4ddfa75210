"""Accuracy beside calibration: how finished runs' softmaxes state their uncertainty on one split.

    python experiments/frame_calibration.py WORKDIR[:STAGE] [WORKDIR[:STAGE] ...] [--split test] \
        [--json docs/experiments/<table>_calibration.json]

For each model (default stage `mimic`; `control`, `teacher_0`, ...) on the split's examples
(TIMIT: every frame of the split, CIFAR-10: every image): accuracy, the labels' mean negative
log-likelihood, the expected calibration error (15 bins), the mean top-class probability and
entropy, and the mean KL divergence from the teacher's softmax (the logits its transfer set
holds for that split) to the model's; the logit spread (RMS about each example's mean logit) of
the model and of the teacher, and the paper's L2 to the teacher's logits with the part of it
that is a per-example shift, which softmax ignores (`mimic_keras.eval.calibration`). A TIMIT decoder reads
every state's log posterior, so two students of the same frame accuracy can decode to
different PERs: this says how their posteriors differ. Runs must share a dataset and split.
"""

import argparse
import json
import os
import sys

import numpy as np

from mimic_keras import console

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mimic_sweep import _task  # noqa: E402
from paired_ci import _parse  # noqa: E402


def _timit(model, layout, cfg, split):
    from mimic_keras.eval.speech_scoring import concat_logits, teacher_logits
    from mimic_keras.eval.utterances import predict_utterances

    utts = predict_utterances(model, layout.data, split, cfg.data.context)
    teacher = teacher_logits(layout.transfer, split)
    return (concat_logits(utts), np.concatenate([u["state"] for u in utts]),
            np.concatenate([teacher[u["id"]] for u in utts]))


def _images(model, layout, cfg, split):
    from mimic_keras.eval.image_scoring import load_arrays, predict_logits

    data = load_arrays(layout.transfer, split, cfg.num_classes)  # images, labels and the teacher's logits
    return predict_logits(model, data["image"]), data["label"], data["logits"]


def calibration_row(workdir, stage="mimic", split="test", task=None):
    """{workdir, stage, split, examples, accuracy, nll, ece, confidence, entropy, kl_to_teacher} of one model.

    `task` is `mimic_sweep._task(workdir)` when the caller already has it.
    """
    import keras

    from mimic_keras.eval import calibration

    task, layout = task or _task(workdir)
    cfg = task.cfg
    model = keras.saving.load_model(layout.model(stage), compile=False)
    logits, labels, teacher = (_timit if cfg.data.dataset == "timit" else _images)(model, layout, cfg, split)
    return {"workdir": workdir, "stage": stage, "split": split, "examples": int(len(labels)),
            **calibration.summary(logits, labels, teacher)}


COLUMNS = (("accuracy", "accuracy", "{:.2%}"), ("nll", "NLL (nats)", "{:.3f}"), ("ece", "ECE", "{:.3f}"),
           ("confidence", "mean top prob.", "{:.3f}"), ("entropy", "entropy (nats)", "{:.3f}"),
           ("kl_to_teacher", "KL(teacher ‖ model)", "{:.3f}"), ("spread", "logit spread", "{:.2f}"),
           ("teacher_spread", "teacher's spread", "{:.2f}"), ("l2_to_teacher", "½‖s − z‖²", "{:,.1f}"),
           ("l2_shift_to_teacher", "of it: shift", "{:,.1f}"))


def markdown(rows):
    lines = ["| run | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]
    for row in rows:
        name = f"{os.path.basename(row['workdir'].rstrip('/'))}:{row['stage']}"
        lines.append(f"| {name} | " + " | ".join(fmt.format(row[key]) for key, _, fmt in COLUMNS) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", help="WORKDIR[:STAGE] ...")
    parser.add_argument("--split", default="test", help="the split scored (TIMIT: dev, test; CIFAR-10: validation, test)")
    parser.add_argument("--json", metavar="PATH", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    try:
        runs = [(workdir, stage, _task(workdir)) for workdir, stage in map(_parse, args.runs)]
        datasets = {task[0].cfg.data.dataset for _, _, task in runs}
        if len(datasets) != 1:  # before any model is loaded
            raise ValueError(f"runs of different datasets: {', '.join(sorted(datasets))}")
        rows = [calibration_row(workdir, stage, args.split, task) for workdir, stage, task in runs]
    except (OSError, ValueError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown(rows))
    if args.json:
        out = {"kind": "calibration", "command": console.command_line("experiments/frame_calibration.py",
                                                                       argv if argv is not None else sys.argv[1:]),
               "rows": rows}
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
