"""What the training stages do: build inside the strategy's scope, compile, fit, save.

Each function takes a `mimic_keras.stages.Run` (config + workdir + strategy).
"""

import dataclasses

import keras

from mimic_keras import training
from mimic_keras.data import cifar10, writer
from mimic_keras.distiller import Distiller
from mimic_keras.distribute import distribute_options
from mimic_keras.models.mimics import build_mimic
from mimic_keras.models.teachers import build_teacher


def _compile_kwargs(run):
    return {"jit_compile": run.cfg.jit_compile, "steps_per_execution": run.cfg.steps_per_execution}


def _label_datasets(run, train_cfg):
    """(train, validation) batches of (images, labels) from the converted data."""
    data_dir = run.data_dir
    train = cifar10.input_pipeline(
        cifar10.load_split(data_dir, "train"), train_cfg.batch_size, training=True,
        augmentation=train_cfg.augment, seed=train_cfg.seed,
    )
    val = cifar10.input_pipeline(cifar10.load_split(data_dir, "validation"), train_cfg.batch_size)
    return distribute_options(train), distribute_options(val), cifar10.num_examples(data_dir, "train")


def _train_on_labels(run, model_fn, train_cfg, run_dir, stage):
    keras.utils.set_random_seed(train_cfg.seed)
    train, val, count = _label_datasets(run, train_cfg)
    with run.strategy.scope():
        model = model_fn()
        model.compile(
            optimizer=training.make_optimizer(train_cfg, training.steps_for(count, train_cfg.batch_size)),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            **_compile_kwargs(run),
        )
    model.summary(print_fn=lambda line, **_: print(line), line_length=100)
    return training.fit_run(model, train, val, train_cfg, run_dir, stage)


def train_teacher(run, index):
    """Trains teacher `index` on the labels (seed offset by the index, for an ensemble)."""
    cfg = run.cfg
    train_cfg = dataclasses.replace(cfg.teacher_train, seed=cfg.teacher_train.seed + index)
    return _train_on_labels(
        run, lambda: build_teacher(cfg.teacher, cfg.num_classes, name=f"teacher_{index}"),
        train_cfg, run.teacher_dir(index), f"teacher {index}",
    )


def train_control(run):
    """The control: the mimic's exact architecture, trained on the labels."""
    cfg = run.cfg
    return _train_on_labels(
        run, lambda: build_mimic(cfg.mimic, cfg.num_classes, name="control"),
        cfg.control_train, run.path("control"), "control",
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
    """(train, validation) batches of (images, {"logits", "label"}) from the labelled transfer set."""
    manifest = check_transfer_set(run)
    n = run.cfg.num_classes
    train_splits = [s for s in ("train", "unlabelled") if s in manifest["splits"]]
    ds = cifar10.load_split(run.transfer_dir, train_splits[0], num_classes=n)
    for split in train_splits[1:]:
        ds = ds.concatenate(cifar10.load_split(run.transfer_dir, split, num_classes=n))
    if train_cfg.augment:
        raise ValueError(
            "mimic_train.augment must be false: on-the-fly augmentation would pair images with "
            "logits of other images; enlarge the transfer set with data.views instead"
        )
    count = sum(manifest["splits"][s]["count"] for s in train_splits)
    train = cifar10.input_pipeline(
        ds, train_cfg.batch_size, training=True, target="distill", seed=train_cfg.seed,
        shuffle_buffer=min(count, 50_000),
    )
    val = cifar10.input_pipeline(
        cifar10.load_split(run.transfer_dir, "validation", num_classes=n), train_cfg.batch_size, target="distill"
    )
    return distribute_options(train), distribute_options(val), count


def train_mimic(run):
    """Trains the shallow mimic on the cached teacher logits with the `Distiller`."""
    cfg = run.cfg
    train_cfg = cfg.mimic_train
    keras.utils.set_random_seed(train_cfg.seed)
    train, val, count = transfer_datasets(run, train_cfg)
    with run.strategy.scope():
        student = build_mimic(cfg.mimic, cfg.num_classes, name="mimic")
        distiller = Distiller(
            student, loss=cfg.distill.loss, alpha=cfg.distill.alpha, temperature=cfg.distill.temperature
        )
        distiller.compile(
            optimizer=training.make_optimizer(train_cfg, training.steps_for(count, train_cfg.batch_size)),
            **_compile_kwargs(run),
        )
    student.summary(print_fn=lambda line, **_: print(line), line_length=100)
    return training.fit_run(distiller, train, val, train_cfg, run.path("mimic"), "mimic", save_model=student)


def export_models(run):
    """Exports the mimic (and the teachers when `export_teacher`) for TF Serving."""
    from mimic_keras.export import export_image_classifier

    cfg = run.cfg
    exported = {}
    models = {"mimic": run.path("mimic", "model.keras")}
    if cfg.export_teacher:
        models.update({f"teacher_{i}": p for i, p in enumerate(run.teacher_paths)})
    for role, path in models.items():
        model = keras.saving.load_model(path, compile=False)
        exported[role] = export_image_classifier(model, cfg.export_dir, f"{cfg.name}-{role}")
        print(f"exported {role} to {exported[role]}")
    writer.write_json_atomic(run.path("export.json"), exported)
    return exported

