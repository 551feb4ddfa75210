"""What the training stages do, for any dataset: build inside the strategy's scope, compile, fit, save.

Dataset specifics live in a `Task` (`mimic_keras/tasks/cifar10.py`, ...), chosen by
`cfg.data.dataset`. Each function here takes a `mimic_keras.stages.Run`.
"""

import dataclasses

import keras

from mimic_keras import losses, training
from mimic_keras.data import writer
from mimic_keras.diagnostics import hidden_stats_callbacks
from mimic_keras.distiller import Distiller
from mimic_keras.distribute import distribute_options
from mimic_keras.tasks.base import Task
from mimic_keras.tasks.cifar10 import Cifar10Task
from mimic_keras.tasks.timit import TimitTask

TASKS = {"cifar10": Cifar10Task, "timit": TimitTask}


def register_task(name, cls):
    """Adds a dataset: `cls` is a `Task` subclass."""
    TASKS[name] = cls


def get_task(name):
    if name not in TASKS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(TASKS))}")
    return TASKS[name]()


def _compile_kwargs(run):
    return {"jit_compile": run.cfg.jit_compile, "steps_per_execution": run.cfg.steps_per_execution}


def _summary(model):
    model.summary(print_fn=lambda line, **_: print(line), line_length=100)


def _shard_by_files(dataset, folder, splits):
    """The training input's explicit auto-shard policy, from how many files it reads."""
    manifest = writer.read_manifest(folder)
    files = sum(len(manifest["splits"][s]["shards"]) for s in splits if s in manifest["splits"])
    return distribute_options(dataset, num_files=files) if files else dataset


def _train_on_labels(run, model_fn, train_cfg, run_dir, stage):
    strategy = run.strategy  # first: a multi-worker strategy must exist before any TF op
    keras.utils.set_random_seed(train_cfg.seed)
    train, val, count = run.task.label_datasets(run, train_cfg)
    train = _shard_by_files(train, run.data_dir, ("train",))
    with strategy.scope():
        model = model_fn()
        model.compile(
            optimizer=training.make_optimizer(train_cfg, training.steps_for(count, train_cfg.batch_size)),
            loss=losses.label_loss(train_cfg.label_smoothing),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            **_compile_kwargs(run),
        )
    _summary(model)
    return training.fit_run(
        model, train, val, train_cfg, run_dir, stage, log_callbacks=hidden_stats_callbacks(model, val)
    )


def train_teacher(run, index):
    """Trains teacher `index` on the labels (seed offset by the index, for an ensemble)."""
    cfg = run.cfg
    train_cfg = dataclasses.replace(cfg.teacher_train, seed=cfg.teacher_train.seed + index)
    return _train_on_labels(
        run, lambda: run.task.build_teacher(cfg, index), train_cfg, run.teacher_dir(index), f"teacher {index}"
    )


def train_control(run):
    """The control: the mimic's exact architecture, trained on the labels."""
    return _train_on_labels(
        run, lambda: run.task.build_student(run.cfg, "control"), run.cfg.control_train, run.path("control"),
        "control",
    )


def check_transfer_set(run):
    """Refuses cached logits that do not fit the student or come from other teachers."""
    from mimic_keras.teachers_io import model_fingerprint

    manifest = writer.read_manifest(run.transfer_dir)
    if manifest["num_classes"] != run.cfg.num_classes:
        raise ValueError(
            f"{run.transfer_dir} holds {manifest['num_classes']} logits per example but the mimic "
            f"outputs {run.cfg.num_classes}"
        )
    expected = sorted(model_fingerprint(p) for p in run.teacher_paths)
    if sorted(manifest["teacher"]["sha256"]) != expected:
        raise ValueError(
            f"{run.transfer_dir} was labelled by other teachers than {run.teacher_paths}; "
            "rerun the label stage (--force)"
        )
    return manifest


def transfer_datasets(run, train_cfg):
    """(train, validation, count) of the cached-logit transfer set, after checking it."""
    check_transfer_set(run)
    train, val, count = run.task.transfer_datasets(run, train_cfg)
    return _shard_by_files(train, run.transfer_dir, ("train", "unlabelled")), val, count


def train_mimic(run):
    """Trains the shallow mimic on the cached teacher logits with the `Distiller`."""
    cfg = run.cfg
    train_cfg = cfg.mimic_train
    strategy = run.strategy  # first: a multi-worker strategy must exist before any TF op
    keras.utils.set_random_seed(train_cfg.seed)
    train, val, count = transfer_datasets(run, train_cfg)
    with strategy.scope():
        student = run.task.build_student(cfg, "mimic")
        distiller = Distiller(
            student, loss=cfg.distill.loss, alpha=cfg.distill.alpha, temperature=cfg.distill.temperature
        )
        distiller.compile(
            optimizer=training.make_optimizer(train_cfg, training.steps_for(count, train_cfg.batch_size)),
            **_compile_kwargs(run),
        )
    _summary(student)
    return training.fit_run(
        distiller, train, val, train_cfg, run.path("mimic"), "mimic", save_model=student,
        log_callbacks=hidden_stats_callbacks(student, val),
    )


def export_models(run):
    """Exports the mimic (and the teachers when `export_teacher`) for TF Serving."""
    cfg = run.cfg
    models = {"mimic": run.path("mimic", "model.keras")}
    if cfg.export_teacher:
        models.update({f"teacher_{i}": p for i, p in enumerate(run.teacher_paths)})
    exported = {}
    for role, path in models.items():
        model = keras.saving.load_model(path, compile=False)
        exported[role] = run.task.export(run, model, f"{cfg.name}-{role}")
        print(f"exported {role} to {exported[role]}")
    writer.write_json_atomic(run.path("export.json"), exported)
    return exported


__all__ = ["Task", "get_task", "register_task", "train_teacher", "train_control", "train_mimic",
           "transfer_datasets", "check_transfer_set", "export_models"]
