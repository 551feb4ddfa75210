"""CIFAR-10 scoring: a classifier's test accuracy, its losses, and its agreement with the teacher.

Every CIFAR-10 number of the reports and sweeps is computed here: `ImageScorer` gives a run
report's columns for each model role (`mimic_keras.eval.report`), `student_scores` one sweep
row (`experiments/mimic_sweep.py`), and `correct_on_test` the per-image correctness that
`experiments/paired_ci.py` pairs.
"""

import keras
import numpy as np

from mimic_keras import losses as losses_lib
from mimic_keras.data import cifar10
from mimic_keras.eval import outcomes
from mimic_keras.eval.stats import accuracy_ci95, agreement

PREDICT_BATCH = 512


def load_arrays(data_dir, split, num_classes=None):
    """One split of a converted or teacher-labelled folder as numpy arrays.

    Args:
        data_dir: the folder.
        split: `train`, `validation`, `test` or `unlabelled`.
        num_classes: pass it for teacher-labelled folders: the arrays then include `logits`.

    Returns:
        A dict of arrays `image`, `label`, `id` (and `logits`), in file order.
    """
    batches = list(cifar10.load_split(data_dir, split, num_classes=num_classes).batch(1024))
    return {key: np.concatenate([b[key].numpy() for b in batches]) for key in batches[0]}


def predict_logits(model, images):
    """A classifier's float32 logits of `images`."""
    return np.asarray(model.predict(images, batch_size=PREDICT_BATCH, verbose=0), np.float32)


def accuracy_columns(logits, labels, ids=None):
    """`test_accuracy` of argmax predictions and its 95% interval's half-width `test_accuracy_ci95`.

    With the examples' `ids`, also `test_correct`: which ones it got right (`outcomes.pack_correct`,
    for paired intervals from the stored JSON).
    """
    correct = logits.argmax(-1) == labels
    columns = {"test_accuracy": float(np.mean(correct)), "test_accuracy_ci95": accuracy_ci95(correct)}
    if ids is not None:
        columns["test_correct"] = outcomes.pack_correct(ids, correct)
    return columns


def cross_entropy(logits, labels):
    """Mean cross-entropy of logits against integer labels."""
    return float(keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits))


def correct_on_test(model, data_dir):
    """Image ids of the test split of `data_dir`, and whether `model` classifies each correctly."""
    test = load_arrays(data_dir, "test")
    return test["id"], predict_logits(model, test["image"]).argmax(-1) == test["label"]


def student_scores(model, data_dir, transfer_dir, num_classes):
    """One student's scores against the labels and against the teacher of its transfer set.

    Args:
        model: an image classifier (Keras model).
        data_dir: the converted folder (its test split).
        transfer_dir: the teacher-labelled folder (its validation and test logits are the teacher's).
        num_classes: classes of the logits.

    Returns:
        A dict: `parameters`, `test_accuracy` and `test_accuracy_ci95`, `test_correct` (which
        test images it got right, `outcomes.pack_correct`: paired intervals from stored JSON),
        the teacher's `teacher_test_accuracy`, and the student's `val_l2_to_teacher` and
        `test_agreement`.
    """
    test = load_arrays(data_dir, "test")
    val = load_arrays(transfer_dir, "validation", num_classes)
    teacher = load_arrays(transfer_dir, "test", num_classes)
    order = {i: k for k, i in enumerate(teacher["id"])}
    teacher_test = teacher["logits"][[order[i] for i in test["id"]]]
    test_logits = predict_logits(model, test["image"])
    return {
        "parameters": int(model.count_params()),
        **accuracy_columns(test_logits, test["label"], test["id"]),
        "teacher_test_accuracy": float(np.mean(teacher_test.argmax(-1) == test["label"])),
        "val_l2_to_teacher": float(losses_lib.L2Logits()(val["logits"], predict_logits(model, val["image"]))),
        "test_agreement": agreement(test_logits, teacher_test),
    }


class ImageScorer:
    """A CIFAR-10 run report's columns for each model role (`mimic_keras.eval.report.evaluate`).

    Each model's validation loss is its own objective: cross-entropy for label-trained nets,
    the distillation loss for the mimic.

    A dataset whose records hold other inputs than images (feature vectors, ...) subclasses it
    and sets `load` (a folder's split as arrays `label`, `logits` and the model's inputs) and
    `inputs` (the key of those inputs).

    Args:
        cfg: the run's `ExperimentConfig`.
        data_dir: the converted folder (its test split).
        transfer_dir: the teacher-labelled folder (its validation split, with the teacher's logits).
    """

    inputs = "image"  # the key of the model's inputs in what `load` returns
    noun = "images"  # what the report's title calls the test examples
    load = staticmethod(load_arrays)

    def __init__(self, cfg, data_dir, transfer_dir):
        self.cfg = cfg
        self.test = self.load(data_dir, "test")
        self.val = self.load(transfer_dir, "validation", num_classes=cfg.num_classes)
        self.distill_loss = losses_lib.get_distillation_loss(cfg.distill.loss, cfg.distill.temperature)

    def summary(self):
        """The report's dataset keys: `test_examples`."""
        return {"test_examples": int(len(self.test["label"]))}

    def predict(self, model):
        """A model's test and validation logits."""
        return {"test": predict_logits(model, self.test[self.inputs]),
                "validation": predict_logits(model, self.val[self.inputs])}

    def ensemble(self, members):
        """The members' mean logits (what the ensemble labelled the transfer set with)."""
        return {split: np.mean([m[split] for m in members], axis=0) for split in members[0]}

    def _columns(self, parameters, outputs, val_loss=None):
        if val_loss is None:
            val_loss = cross_entropy(outputs["validation"], self.val["label"])
        # `test_correct` where the records carry ids: paired intervals from the stored report.
        return {"parameters": int(parameters),
                **accuracy_columns(outputs["test"], self.test["label"], self.test.get("id")),
                "val_loss": float(val_loss)}

    def columns(self, name, model, outputs, teacher=None):
        """`parameters`, `test_accuracy` (± `test_accuracy_ci95`) and `val_loss` of one model."""
        val_loss = None
        if name == "mimic" and self.distill_loss is not None:
            val_loss = self.distill_loss(self.val["logits"], outputs["validation"])
        return self._columns(model.count_params(), outputs, val_loss)

    def ensemble_columns(self, teacher_rows, outputs):
        """The ensemble's columns: its members' parameters, summed."""
        return self._columns(sum(r["parameters"] for r in teacher_rows), outputs)

    def teacher_columns(self, outputs, reference):
        """A student's `teacher_agreement` (test) and `val_l2_to_teacher` (the transfer set's logits)."""
        return {"teacher_agreement": agreement(outputs["test"], reference["test"]),
                "val_l2_to_teacher": float(losses_lib.L2Logits()(self.val["logits"], outputs["validation"]))}

    @classmethod
    def markdown_table(cls, report):
        """The report's models as a Markdown table."""
        lines = [
            f"### {report['name']}: test set of {report['test_examples']} {cls.noun}, "
            f"transfer set of {report['transfer_examples']}",
            "",
            "| model | parameters | epochs | test accuracy (± 95% CI) | validation loss | agreement with teacher |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in report["models"]:
            agreement_text = f"{r['teacher_agreement']:.2%}" if "teacher_agreement" in r else "—"
            epochs = f"{r.get('epochs', '—')}" + (" (stopped early)" if r.get("stopped_early") else "")
            lines.append(
                f"| {r['model']} | {r['parameters']:,} | {epochs} | "
                f"{r['test_accuracy']:.2%} ± {r['test_accuracy_ci95']:.2%} | {r['val_loss']:.4f} | {agreement_text} |"
            )
        return "\n".join(lines) + "\n"
