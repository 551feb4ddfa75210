"""What the training stages do, for any dataset: build inside the strategy's scope, compile, fit, save.

Dataset specifics come from the run's `Task` (`get_task(cfg)`); paths from its `Layout`. The
strategy is built once, first, by the CLI (`mimic_keras.distribute.setup`).
"""

import dataclasses
import json
import os

import keras

from mimic_keras import losses, training
from mimic_keras.data import writer
from mimic_keras.diagnostics import hidden_stats_callbacks
from mimic_keras.distiller import Distiller
from mimic_keras.distribute import distribute_options
from mimic_keras.tasks import get_task
from mimic_keras.teachers_io import load_teacher


def _compile_kwargs(cfg):
    # `jit_compile` is TensorFlow's XLA switch; on JAX a step is always compiled (unjitted JAX
    # runs op by op).
    jit = cfg.jit_compile or keras.backend.backend() == "jax"
    return {"jit_compile": jit, "steps_per_execution": cfg.steps_per_execution}


def _summary(model):
    model.summary(print_fn=lambda line, **_: print(line), line_length=100)


def _shard_by_files(dataset, folder, splits):
    """The training input's explicit auto-shard policy, from how many files it reads."""
    manifest = writer.read_manifest(folder)
    files = sum(len(manifest["splits"][s]["shards"]) for s in splits if s in manifest["splits"])
    return distribute_options(dataset, num_files=files) if files else dataset


def _train_on_labels(task, layout, strategy, model_fn, train_cfg, run_dir, stage, data=None):
    """Trains `model_fn()` by cross-entropy on labels: those of the training set, or of `data`.

    Args:
        data: (train, validation, count) batches of (inputs, labels, weights) and (inputs,
            labels), e.g. `transfer_labels`; None: the task's labelled training set.
    """
    keras.utils.set_random_seed(train_cfg.seed)
    if data is None:
        train, val, count = task.label_datasets(layout, train_cfg)
        train = _shard_by_files(train, layout.data, ("train",))
    else:
        train, val, count = data
    accuracy = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    with strategy.scope():
        model = model_fn()
        model.compile(
            optimizer=training.make_optimizer(train_cfg, training.steps_for(count, train_cfg.batch_size)),
            loss=losses.label_loss(train_cfg.label_smoothing),
            # Weighted, so that masked (unlabelled) examples do not count as class 0.
            **({"metrics": accuracy} if data is None else {"weighted_metrics": accuracy}),
            **_compile_kwargs(task.cfg),
        )
    _summary(model)
    return training.fit_run(
        model, train, val, train_cfg, run_dir, stage, log_callbacks=hidden_stats_callbacks(model, val)
    )


def _intent_path(layout, index):
    return os.path.join(layout.teacher_dir(index), "intent.json")


def _made_for(layout, index, intent):
    """True when teacher `index` was trained for this `intent` (an ensemble resumes member by member)."""
    try:
        with open(_intent_path(layout, index)) as f:
            return json.load(f).get("intent") == intent and os.path.exists(layout.model(f"teacher_{index}"))
    except (OSError, ValueError):
        return False


def train_teachers(cfg, layout, strategy, intent=None):
    """Trains each teacher on the labels (seed offset by its index), skipping those already made for `intent`."""
    task = get_task(cfg)
    if task.install_teachers(layout):
        return
    for index in range(cfg.teacher.num_teachers):
        if intent is not None and _made_for(layout, index, intent):
            print(f"teacher {index + 1}/{cfg.teacher.num_teachers} already trained for this config", flush=True)
            continue
        print(f"training teacher {index + 1}/{cfg.teacher.num_teachers}", flush=True)
        if os.path.exists(_intent_path(layout, index)):
            os.remove(_intent_path(layout, index))
        train_cfg = dataclasses.replace(cfg.teacher_train, seed=cfg.teacher_train.seed + index)
        _train_on_labels(task, layout, strategy, lambda: task.build_teacher(index), train_cfg,
                         layout.teacher_dir(index), f"teacher {index}")
        if intent is not None:
            writer.write_json_atomic(_intent_path(layout, index), {"intent": intent})


def train_control(cfg, layout, strategy):
    """The control: the mimic's architecture (with `control_train`'s regularisation), trained on labels.

    With `control_train.data=transfer` it trains on the labels of the mimic's transfer set
    (the same augmented views, batch after batch as the mimic sees them), else on the labelled
    training set.
    """
    train_cfg = cfg.control_train
    task = get_task(dataclasses.replace(cfg, mimic=train_cfg.architecture(cfg.mimic)))
    data = transfer_labels(task, layout, train_cfg) if train_cfg.data == "transfer" else None
    return _train_on_labels(task, layout, strategy, lambda: task.build_student("control"), train_cfg,
                            layout.run_dir("control"), "control", data=data)


def check_transfer_set(task, layout):
    """Refuses cached logits that do not fit the student or come from other teachers."""
    from mimic_keras.teachers_io import model_fingerprint

    manifest = writer.read_manifest(layout.transfer)
    if manifest["num_classes"] != task.cfg.num_classes:
        raise ValueError(
            f"{layout.transfer} holds {manifest['num_classes']} logits per example but the mimic "
            f"outputs {task.cfg.num_classes}"
        )
    paths = task.teacher_paths(layout)
    if sorted(manifest["teacher"]["sha256"]) != sorted(model_fingerprint(p) for p in paths):
        raise ValueError(f"{layout.transfer} was labelled by other teachers than {paths}; rerun the label stage")
    return manifest


def transfer_datasets(task, layout, train_cfg):
    """(train, validation, count) of the cached-logit transfer set, after checking it."""
    check_transfer_set(task, layout)
    train, val, count = task.transfer_datasets(layout, train_cfg)
    return _shard_by_files(train, layout.transfer, ("train", "unlabelled")), val, count


def compile_distiller(cfg, student, steps_per_epoch):
    """The mimic stage's `Distiller` around `student`, compiled as the stage trains it.

    Args:
        cfg: the run's `ExperimentConfig` (`distill`, `mimic_train`, compile options).
        student: the mimic to train.
        steps_per_epoch: for the learning-rate schedule.

    Returns:
        The compiled `Distiller` (`bench/train_speed.py` times this very object).
    """
    distiller = Distiller(student, loss=cfg.distill.loss, alpha=cfg.distill.alpha, temperature=cfg.distill.temperature,
                          label_smoothing=cfg.mimic_train.label_smoothing)  # of its label loss (alpha < 1, ce)
    distiller.compile(optimizer=training.make_optimizer(cfg.mimic_train, steps_per_epoch), **_compile_kwargs(cfg))
    return distiller


def transfer_labels(task, layout, train_cfg):
    """(train, validation, count) of the transfer set with its labels as targets, for training on labels.

    Training batches are (inputs, labels, weights): an unlabelled example (label -1: extra
    images, mixup, perturbed speech) weighs 0, as in the `Distiller`'s label loss, so the steps
    are the mimic's, batch for batch. Validation batches are (inputs, labels).
    """
    import tensorflow as tf

    def weighted(x, y):
        label = tf.reshape(y["label"], [-1])
        return x, tf.maximum(label, 0), tf.cast(label >= 0, tf.float32)

    train, val, count = transfer_datasets(task, layout, train_cfg)
    return (train.map(weighted, num_parallel_calls=tf.data.AUTOTUNE),
            val.map(lambda x, y: (x, y["label"]), num_parallel_calls=tf.data.AUTOTUNE), count)


def train_mimic(cfg, layout, strategy, student=None, run_dir=None, stage="mimic"):
    """Trains the shallow mimic on the cached teacher logits with the `Distiller`.

    By default a new mimic, built in `strategy`'s scope, into the mimic stage's folder. A given
    `student` (a trained or factorised mimic: `mimic_keras.factorize.finetune`) is trained on
    as it is, into `run_dir`, without the hidden-unit statistics a new mimic logs.

    Returns:
        The history dict of `training.fit_run`.
    """
    task = get_task(cfg)
    train_cfg = cfg.mimic_train
    keras.utils.set_random_seed(train_cfg.seed)
    train, val, count = transfer_datasets(task, layout, train_cfg)
    new = student is None
    with strategy.scope():
        if new:
            student = task.build_student("mimic")
        distiller = compile_distiller(cfg, student, training.steps_for(count, train_cfg.batch_size))
    if new:
        _summary(student)
    return training.fit_run(
        distiller, train, val, train_cfg, run_dir or layout.run_dir("mimic"), stage, save_model=student,
        log_callbacks=hidden_stats_callbacks(student, val) if new else (),
    )


def export_name(cfg, layout):
    """The served model's name: `export.name`, else the workdir's folder name."""
    return cfg.export.name or os.path.basename(os.path.normpath(os.path.abspath(layout.workdir)))


def export_models(cfg, layout):
    """Exports the mimic (and the teachers when `export.teacher`) for TF Serving and LiteRT.

    The mimic is served as `<name>`, teacher i as `<name>-teacher_<i>`. Writes export.json
    ({role: version folder}) and, with `export.tflite`, litert.json / litert.md: each LiteRT
    variant's test scores beside the Keras model's, its size, and whether it lost more than
    `litert.FLAG_POINTS` points (`mimic_keras.eval.litert_report`).
    """
    from mimic_keras.eval import litert_report

    task = get_task(cfg)
    name = export_name(cfg, layout)
    models = {"mimic": layout.model("mimic")}
    if cfg.export.teacher:
        models.update({f"teacher_{i}": p for i, p in enumerate(task.teacher_paths(layout))})
    exported, lite = {}, {}
    for role, path in models.items():
        model = load_teacher(path)  # a .keras file, or a teacher kept as a SavedModel
        exported[role] = task.export(layout, model, name if role == "mimic" else f"{name}-{role}", role=role)
        print(f"exported {role} to {exported[role]}")
        if cfg.export.tflite:
            lite[role] = litert_report.score(task, layout, model, exported[role], role)
    writer.write_json_atomic(layout.export_json, exported)
    if cfg.export.tflite:
        litert_report.write(layout, lite)
    return exported
