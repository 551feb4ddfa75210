"""Fine-tune copies of a run's teacher on its training set plus extra labelled inputs, against a control.

`mimic_keras.grow --finetune-teacher E` asks whether inputs synthesised where teacher and mimic
disagree, labelled with their sources' classes, make the teacher better: `compare` fine-tunes
one copy of teacher_0 on the training set plus those inputs (spread through each epoch) and one
on the training set alone (the control for the extra epochs), saves both in their own run
folders and scores them and the original on the test split (`Task.student_scores`). The run's
own teacher is only read.
"""

import dataclasses
import os

import numpy as np


def learning_rate_of(train_cfg, learning_rate=None):
    """A fine-tune's learning rate: `learning_rate`, else a tenth of the stage's (`train_cfg.learning_rate`)."""
    return learning_rate or train_cfg.learning_rate / 10


def compare(task, layout, inputs, labels, out, epochs, learning_rate=None, seed=0):
    """Fine-tunes copies of teacher_0 with and without extra `inputs` (with their `labels`); scores all three.

    Both copies train for `epochs` at `learning_rate` (default: a tenth of
    `teacher_train.learning_rate`) with the teacher stage's other settings and the same seed,
    so they differ only in the extra inputs; an input labelled -1 is left out.

    Returns:
        {"epochs", "learning_rate", "examples", "original", "control", "grown"}: the last three
        are `task.student_scores` rows (test accuracy and its interval, agreement with the
        run's teacher logits, ...) of teacher_0, the copy fine-tuned on its training set alone
        and the copy fine-tuned on it plus the grown inputs; models in `out/teacher_0_<name>/`.
    """
    import keras

    from mimic_keras.teachers_io import load_teacher

    cfg = task.cfg.teacher_train
    learning_rate = learning_rate_of(cfg, learning_rate)
    train_cfg = dataclasses.replace(cfg, epochs=epochs, learning_rate=learning_rate, seed=seed, save_epochs=())
    path = task.teacher_paths(layout)[0]
    labelled = np.asarray(labels) >= 0  # sources without a class (mixup, unlabelled) teach nothing here
    rows = {"original": task.student_scores(load_teacher(path), layout, "teacher_0")}
    for name, extra in (("control", None), ("grown", (inputs[labelled], np.asarray(labels)[labelled]))):
        keras.utils.set_random_seed(seed)
        model = load_teacher(path)
        if not model.trainable_weights:
            raise ValueError(f"{path}: teacher_0 has no trainable weights (a SavedModel?): it cannot be fine-tuned")
        run_dir = os.path.join(out, f"teacher_0_{name}")
        _fit(task, layout, model, train_cfg, extra, run_dir)
        rows[name] = task.student_scores(model, layout, f"teacher_0_{name}")
        print(f"teacher_0 fine-tuned {epochs} epochs ({name}): test accuracy "
              f"{rows[name]['test_accuracy']:.2%} (original {rows['original']['test_accuracy']:.2%})", flush=True)
    return {"epochs": epochs, "learning_rate": learning_rate, "examples": int(labelled.sum()),
            **rows}


def _fit(task, layout, model, train_cfg, extra, run_dir):
    """Trains `model` on the task's labelled training set, the `extra` (inputs, labels) spread through each epoch."""
    import keras
    import tensorflow as tf

    from mimic_keras import losses, training

    train, val, count = task.label_datasets(layout, train_cfg)
    if extra is not None and len(extra[0]):
        share = len(extra[0]) / (count + len(extra[0]))
        grown = tf.data.Dataset.from_tensor_slices(extra).shuffle(len(extra[0]), seed=train_cfg.seed).repeat()
        train = tf.data.Dataset.sample_from_datasets(
            [train.unbatch(), grown], weights=[1 - share, share], seed=train_cfg.seed, stop_on_empty_dataset=True,
        ).batch(train_cfg.batch_size)
        count += len(extra[0])
    model.compile(optimizer=training.make_optimizer(train_cfg, training.steps_for(count, train_cfg.batch_size)),
                  loss=losses.label_loss(train_cfg.label_smoothing),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return training.fit_run(model, train, val, train_cfg, run_dir, f"fine-tune {os.path.basename(run_dir)}")
