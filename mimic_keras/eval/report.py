"""A run's report: each model role scored by its dataset's scorer; `report.json`, `report.md`, figures.

One loop (`evaluate`) loads each model of a run, teachers first, then their ensemble (mean
logits, when there are several), the mimic and the control, and asks the dataset's scorer
(`ImageScorer` for CIFAR-10, `SpeechScorer` for TIMIT) for that model's columns. The report
keys are the same for every dataset: `name`, the scorer's dataset keys, `transfer_examples`
(what the mimic trained on, per epoch), `checkpoint`, `models`, `objectives` and `histories`
(every model's training history, so the figures can be redrawn from `report.json` alone).
"""

import json
import os

import numpy as np

from mimic_keras.checkpoints import BEST
from mimic_keras.data import writer
from mimic_keras.eval import figures
from mimic_keras.layout import STUDENTS
from mimic_keras.teachers_io import load_teacher
from mimic_keras.training import read_history



def _row(name, columns, history, checkpoint):
    row = {"model": name, **columns}
    if history and history.get("epoch"):
        row["epochs"] = len(history["epoch"])
        monitor, mode = BEST.get(checkpoint, (None, None))
        if history.get(monitor):
            pick = np.nanargmin if mode == "min" else np.nanargmax
            row["best_epoch"] = int(history["epoch"][int(pick(history[monitor]))])
        if (history.get("early_stop") or {}).get("stopped_epoch"):  # `patience`: it ran fewer than its epochs
            row["stopped_early"] = True
    return row


def evaluate(cfg, scorer, models, transfer_examples):
    """Scores every model role of a finished run; returns the report dict (nothing written).

    Args:
        cfg: the run's `ExperimentConfig`.
        scorer: the dataset's scorer (`Task.scorer`): `predict(model)`
            gives a model's outputs, `columns(name, model, outputs, teacher=index or None)` its
            row's columns, `ensemble(members)` the teachers' mean outputs and
            `ensemble_columns(teacher_rows, outputs)` their row, `teacher_columns(outputs,
            reference)` a student's columns against them, `summary()` the report's dataset keys.
        models: model name → its model (a `.keras` file or a SavedModel folder, in the run
            folder that holds its `history.json`), for `teacher_0` ... `teacher_<n-1>`,
            `mimic` and `control` (`Task.model_paths`).
        transfer_examples: examples per epoch of the mimic's transfer set.

    Returns:
        The report: `name`, the scorer's `summary()`, `transfer_examples`, `checkpoint`,
        `models` (one row per model), `objectives`, `histories`.
    """
    checkpoint = checkpoint_protocol(cfg)
    rows, members = [], []

    def score(name, teacher=None):
        print(f"scoring {name}", flush=True)
        model = load_teacher(models[name])
        outputs = scorer.predict(model)
        columns = scorer.columns(name, model, outputs, teacher=teacher)
        role = "teacher" if teacher is not None else name
        return outputs, _row(name, columns, read_history(os.path.dirname(models[name])), checkpoint[role])

    teachers = [name for name in models if name.startswith("teacher_")]
    for i, name in enumerate(teachers):
        outputs, row = score(name, teacher=i)
        members.append(outputs)
        rows.append(row)
    reference = scorer.ensemble(members)  # what the mimic learned from
    if len(members) > 1:
        print("scoring ensemble", flush=True)
        rows.append({"model": "ensemble", **scorer.ensemble_columns(rows, reference)})
    for name in STUDENTS:
        outputs, row = score(name)
        rows.append({**row, **scorer.teacher_columns(outputs, reference)})
    return {
        "name": cfg.name,
        **scorer.summary(),
        "transfer_examples": transfer_examples,
        "checkpoint": checkpoint,
        "models": rows,
        "objectives": objectives(cfg),
        "histories": run_histories(models),
    }


def checkpoint_protocol(cfg):
    """Which weights each model is evaluated with (`last` epoch, `best` validation loss, `best_accuracy`)."""
    return {"teacher": cfg.teacher_train.checkpoint, "mimic": cfg.mimic_train.checkpoint,
            "control": cfg.control_train.checkpoint}


def objectives(cfg):
    """What the mimic and the control minimise, in words (the titles of their learning curves)."""
    d = cfg.distill
    names = {"l2_logits": "L2 on teacher logits", "l2_centered": "L2 on teacher logits, centred per example",
             "l2_probs": f"L2 on teacher probabilities, T={d.temperature:g}",
             "kd": f"KD, T={d.temperature:g}", "soft_ce": f"CE on teacher probabilities, T={d.temperature:g}",
             "ce": "cross-entropy on transfer-set labels"}
    mimic = names.get(d.loss, d.loss)
    if d.loss != "ce" and d.alpha < 1.0:
        mimic = f"{d.alpha:g} × {mimic} + {1 - d.alpha:g} × label CE"
    if cfg.mimic_train.label_smoothing and (d.loss == "ce" or d.alpha < 1.0):  # what the Distiller's label loss uses
        mimic += f", label smoothing {cfg.mimic_train.label_smoothing:g}"
    control = "cross-entropy on transfer-set labels" if cfg.control_train.data == "transfer" else "cross-entropy on labels"
    if cfg.control_train.label_smoothing:
        control += f", label smoothing {cfg.control_train.label_smoothing:g}"
    return {"mimic": mimic, "control": control}


def run_histories(models):
    """Each model's `history.json` (beside its model), by model name; missing ones left out.

    Args:
        models: model name → its model path.
    """
    found = ((name, read_history(os.path.dirname(path))) for name, path in models.items())
    return {name: history for name, history in found if history}


def write_report(report, markdown, out_dir):
    """Writes `report.json`, `report.md` and the report's figures (`curves.png`, ...) into `out_dir`.

    Returns:
        `report`.
    """
    writer.write_json_atomic(os.path.join(out_dir, "report.json"), report)
    with open(os.path.join(out_dir, "report.md"), "w") as f:
        f.write(markdown)
    figures.plot_run(report, out_dir)
    return report


def redraw(cfg, models, out_dir):
    """Redraws the figures of a run from its `report.json` in `out_dir`; returns the paths written.

    A report written before evaluate stored the training histories gets them (and the
    objectives) from the models' history files first, and is rewritten with them.

    Raises:
        FileNotFoundError: `out_dir` has no `report.json`.
    """
    path = os.path.join(out_dir, "report.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: run the evaluate stage first")
    with open(path) as f:
        report = json.load(f)
    if "histories" not in report:
        report.update(objectives=objectives(cfg), histories=run_histories(models))
        writer.write_json_atomic(path, report)
        print(f"added the training histories to {path}", flush=True)
    return figures.plot_run(report, out_dir)


def evaluate_run(cfg, layout, scorer, transfer_examples, models):
    """Evaluates every model of a finished run and writes the report files into its workdir; returns the report.

    Args:
        cfg: the run's `ExperimentConfig`.
        layout: the run's `Layout`.
        scorer: the task's scorer (`Task.scorer`).
        transfer_examples: examples per epoch of the mimic's transfer set.
        models: model name → model path (`Task.model_paths`).
    """
    report = evaluate(cfg, scorer, models, transfer_examples)
    return write_report(report, scorer.markdown_table(report), layout.workdir)
