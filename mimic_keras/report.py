"""Evaluation of a run and its report: `report.json`, a Markdown table and learning curves.

For each model: parameters, test accuracy, validation loss (each model's own objective:
cross-entropy for label-trained nets, the distillation loss for the mimic) and, for the mimic
and control, agreement with the teacher's (or ensemble's) predictions on the test set.
`report.json` also holds every model's training history (`histories`) and the students'
objectives, so its figures (`mimic_keras.plots`) can be redrawn from it alone.
"""

import json
import os

import keras
import numpy as np

from mimic_keras import losses as losses_lib
from mimic_keras import plots
from mimic_keras.data import cifar10, writer
from mimic_keras.training import read_history


def _arrays(data_dir, split, num_classes=None):
    images, labels, logits = [], [], []
    for ex in cifar10.load_split(data_dir, split, num_classes=num_classes).batch(1024):
        images.append(ex["image"].numpy())
        labels.append(ex["label"].numpy())
        if num_classes:
            logits.append(ex["logits"].numpy())
    return np.concatenate(images), np.concatenate(labels), (np.concatenate(logits) if logits else None)


def _ce(logits, labels):
    return float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits))


def evaluate_run(run):
    """Evaluates every model of a finished run and writes the report files; returns the report."""
    cfg = run.cfg
    n = cfg.num_classes
    test_x, test_y, _ = _arrays(run.data_dir, "test")
    val_x, val_y, val_z = _arrays(run.transfer_dir, "validation", num_classes=n)
    batch = 512

    def predict(model, x):
        return np.asarray(model.predict(x, batch_size=batch, verbose=0), np.float32)

    rows, teacher_test, teacher_val = [], [], []
    for i, path in enumerate(run.teacher_paths):
        model = keras.saving.load_model(path, compile=False)
        test_logits, val_logits = predict(model, test_x), predict(model, val_x)
        teacher_test.append(test_logits)
        teacher_val.append(val_logits)
        rows.append(_row(f"teacher_{i}", model.count_params(), test_logits, test_y, _ce(val_logits, val_y),
                         history=read_history(run.teacher_dir(i))))
    reference = np.mean(teacher_test, axis=0)
    if len(teacher_test) > 1:
        params = sum(r["parameters"] for r in rows)
        rows.append(_row("ensemble", params, reference, test_y, _ce(np.mean(teacher_val, axis=0), val_y)))

    distill_loss = losses_lib.get_distillation_loss(cfg.distill.loss, cfg.distill.temperature)
    for role in ("mimic", "control"):
        model = keras.saving.load_model(run.path(role, "model.keras"), compile=False)
        test_logits, val_logits = predict(model, test_x), predict(model, val_x)
        if role == "mimic" and distill_loss is not None:
            val_loss = float(distill_loss(val_z, val_logits))
        else:
            val_loss = _ce(val_logits, val_y)
        row = _row(role, model.count_params(), test_logits, test_y, val_loss, history=read_history(run.path(role)))
        row["teacher_agreement"] = float(np.mean(test_logits.argmax(-1) == reference.argmax(-1)))
        row["val_l2_to_teacher"] = float(losses_lib.L2Logits()(val_z, val_logits))
        rows.append(row)

    report = {
        "name": cfg.name,
        "test_examples": int(len(test_y)),
        "transfer_examples": run.task.transfer_examples(run),  # what the mimic trained on
        "checkpoint": checkpoint_protocol(cfg),
        "models": rows,
        "objectives": objectives(cfg),
        "histories": run_histories(run),
    }
    return write_report(run, report, markdown_table(report))


def checkpoint_protocol(cfg):
    """Which weights each model is evaluated with (`last` epoch or `best` validation loss)."""
    return {"teacher": cfg.teacher_train.checkpoint, "mimic": cfg.mimic_train.checkpoint,
            "control": cfg.control_train.checkpoint}


def objectives(cfg):
    """What the mimic and the control minimise, in words (the titles of their learning curves)."""
    d = cfg.distill
    names = {"l2_logits": "L2 on teacher logits", "l2_probs": f"L2 on teacher probabilities, T={d.temperature:g}",
             "kd": f"KD, T={d.temperature:g}", "soft_ce": f"CE on teacher probabilities, T={d.temperature:g}",
             "ce": "cross-entropy on transfer-set labels"}
    mimic = names.get(d.loss, d.loss)
    if d.loss != "ce" and d.alpha < 1.0:
        mimic = f"{d.alpha:g} × {mimic} + {1 - d.alpha:g} × label CE"
    return {"mimic": mimic, "control": "cross-entropy on labels"}


def run_histories(run):
    """Each model's `history.json` of the run (teachers, mimic, control), by model name; missing ones left out."""
    dirs = {f"teacher_{i}": run.teacher_dir(i) for i in range(run.cfg.teacher.num_teachers)}
    dirs.update(mimic=run.path("mimic"), control=run.path("control"))
    return {name: h for name, h in ((name, read_history(d)) for name, d in dirs.items()) if h}


def write_report(run, report, markdown):
    """Writes `report.json`, `report.md` and the report's figures (`curves.png`, ...); returns `report`."""
    writer.write_json_atomic(run.path("report.json"), report)
    with open(run.path("report.md"), "w") as f:
        f.write(markdown)
    plots.plot_run(report, run.workdir)
    return report


def redraw_figures(run):
    """Redraws the figures of a run from its `report.json`; returns the paths written.

    A report written before evaluate stored the training histories gets them (and the
    objectives) from the run's history files first, and is rewritten with them.

    Raises:
        FileNotFoundError: the run has no `report.json`.
    """
    path = run.path("report.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} is missing: run the evaluate stage first")
    with open(path) as f:
        report = json.load(f)
    if "histories" not in report:
        report.update(objectives=objectives(run.cfg), histories=run_histories(run))
        writer.write_json_atomic(path, report)
        print(f"added the training histories to {path}", flush=True)
    return plots.plot_run(report, run.workdir)


def accuracy_ci95(correct):
    """Half-width of the 95% normal-approximation interval of an accuracy over `len(correct)` examples."""
    p = float(np.mean(correct))
    return 1.96 * float(np.sqrt(p * (1.0 - p) / len(correct)))


def paired_difference_ci95(correct_a, correct_b):
    """Accuracy of A minus accuracy of B on the same examples, and its 95% interval's half-width.

    Paired: the interval comes from the per-example differences (only the examples the two
    models disagree on vary), so it is much narrower than two separate intervals when the
    models are right on mostly the same examples.
    """
    d = np.asarray(correct_a, np.float64) - np.asarray(correct_b, np.float64)
    if d.shape[0] < 2:
        raise ValueError("need two or more paired examples")
    return float(d.mean()), 1.96 * float(d.std(ddof=1) / np.sqrt(d.shape[0]))


def _row(name, params, logits, labels, val_loss, history=None):
    correct = logits.argmax(-1) == labels
    row = {
        "model": name,
        "parameters": int(params),
        "test_accuracy": float(np.mean(correct)),
        "test_accuracy_ci95": accuracy_ci95(correct),
        "val_loss": float(val_loss),
    }
    if history and history.get("epoch"):
        row["epochs"] = len(history["epoch"])
    return row


def markdown_table(report):
    """The report's models as a Markdown table."""
    lines = [
        f"### {report['name']}: test set of {report['test_examples']} images, "
        f"transfer set of {report['transfer_examples']}",
        "",
        "| model | parameters | epochs | test accuracy (± 95% CI) | validation loss | agreement with teacher |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["models"]:
        agreement = f"{r['teacher_agreement']:.2%}" if "teacher_agreement" in r else "—"
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r.get('epochs', '—')} | {r['test_accuracy']:.2%} ± {r['test_accuracy_ci95']:.2%} | "
            f"{r['val_loss']:.4f} | {agreement} |"
        )
    return "\n".join(lines) + "\n"

