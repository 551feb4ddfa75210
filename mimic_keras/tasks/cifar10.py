"""CIFAR-10 as a `Task`: image TFRecords, convnet teachers, conv + bottleneck mimics."""

import os
import sys

from mimic_keras.data import cifar10, writer
from mimic_keras.distribute import distribute_options
from mimic_keras.models.mimics import build_mimic
from mimic_keras.models.teachers import build_teacher
from mimic_keras.tasks.base import Task


class Cifar10Task(Task):
    name = "cifar10"

    def prepare_command(self, run):
        data = run.cfg.data
        cmd = [
            sys.executable, "-m", "pipelines.cifar10_to_tfrecord",
            "--source", data.source, "--out", run.data_dir, "--val-size", str(data.val_size),
        ]
        if data.limit:
            cmd += ["--limit", str(data.limit)]
        if data.unlabelled:
            cmd += ["--unlabelled", data.unlabelled]
        return cmd

    def is_prepared(self, run):
        if not super().is_prepared(run):
            return False
        data, manifest = run.cfg.data, writer.read_manifest(run.data_dir)
        source, options = manifest.get("source", {}), manifest.get("options", {})
        wanted_source = data.source if data.source == "tfds" else os.path.abspath(data.source)
        wanted_unlabelled = os.path.abspath(data.unlabelled) if data.unlabelled else None
        return (
            source.get("path") == wanted_source
            and source.get("unlabelled") == wanted_unlabelled
            and options.get("limit") == data.limit
            and options.get("val_size") == data.val_size
        )

    def label_command(self, run):
        data = run.cfg.data
        cmd = [sys.executable, "-m", "pipelines.label_with_teacher", "--data", run.data_dir,
               "--out", run.transfer_dir, "--views", str(data.views)]
        if data.mixup:
            cmd += ["--mixup", str(data.mixup), "--mixup-alpha", str(data.mixup_alpha)]
        for path in run.teacher_paths:
            cmd += ["--teacher", path]
        splits = ["train", *data.label_splits]
        if "unlabelled" in writer.read_manifest(run.data_dir)["splits"]:
            splits.append("unlabelled")
        return cmd + ["--splits", *splits]

    def label_datasets(self, run, train_cfg):
        train = cifar10.input_pipeline(
            cifar10.load_split(run.data_dir, "train"), train_cfg.batch_size, training=True,
            augmentation=train_cfg.augment, seed=train_cfg.seed,
        )
        val = cifar10.input_pipeline(cifar10.load_split(run.data_dir, "validation"), train_cfg.batch_size)
        return distribute_options(train), distribute_options(val), cifar10.num_examples(run.data_dir, "train")

    def transfer_datasets(self, run, train_cfg):
        manifest = writer.read_manifest(run.transfer_dir)
        n = run.cfg.num_classes
        if train_cfg.augment:
            raise ValueError(
                "mimic_train.augment must be false: on-the-fly augmentation would pair images with "
                "logits of other images; enlarge the transfer set with data.views instead"
            )
        max_view, mixup_views, _ = _transfer_views(run.cfg.data, manifest["splits"]["train"])
        ds = cifar10.load_split(run.transfer_dir, "train", num_classes=n, max_view=max_view, mixup_views=mixup_views)
        if "unlabelled" in manifest["splits"]:
            ds = ds.concatenate(cifar10.load_split(run.transfer_dir, "unlabelled", num_classes=n))
        count = self.transfer_examples(run)
        train = cifar10.input_pipeline(
            ds, train_cfg.batch_size, training=True, target="distill", seed=train_cfg.seed,
            shuffle_buffer=min(count, 50_000),
        )
        val = cifar10.input_pipeline(
            cifar10.load_split(run.transfer_dir, "validation", num_classes=n), train_cfg.batch_size,
            target="distill",
        )
        return distribute_options(train), distribute_options(val), count

    def transfer_examples(self, run):
        """Examples per epoch of the mimic's transfer set (the views and mixup images it keeps)."""
        splits = writer.read_manifest(run.transfer_dir)["splits"]
        count = _transfer_views(run.cfg.data, splits["train"])[2]
        return count + (splits["unlabelled"]["count"] if "unlabelled" in splits else 0)

    def build_teacher(self, cfg, index):
        return build_teacher(cfg.teacher, cfg.num_classes, name=f"teacher_{index}")

    def build_student(self, cfg, name):
        return build_mimic(cfg.mimic, cfg.num_classes, name=name)

    def evaluate(self, run):
        from mimic_keras.eval.report import evaluate_run

        return evaluate_run(run)

    def export(self, run, model, name):
        from mimic_keras.export import export_image_classifier

        return export_image_classifier(model, run.cfg.export_dir, name)


def _transfer_views(data, train_split):
    """(max_view, mixup_views, count) of the training split the mimic trains on.

    A transfer set of V augmented views and M mixup images per image has view ids 0 (the
    original), 1..V (augmented) and V+1..V+M (mixup). `data.transfer_views` keeps the first
    N augmented views (default: all V); `data.mixup` the first of the mixup images (0: none).
    `(None, None, count)` when every record is kept.
    """
    views, mixup = train_split.get("views", 0), train_split.get("mixup", 0)
    wanted_views = views if data.transfer_views is None else data.transfer_views
    if not 0 <= wanted_views <= views:
        raise ValueError(
            f"data.transfer_views={wanted_views}, but the transfer set has {views} augmented views per image"
        )
    if not 0 <= data.mixup <= mixup:
        raise ValueError(
            f"data.mixup={data.mixup}, but the transfer set has {mixup} mixup images per image; "
            "relabel it (the label stage with --force)"
        )
    per_image = train_split["count"] // (views + 1 + mixup)
    if (wanted_views, data.mixup) == (views, mixup):
        return None, None, train_split["count"]
    mixup_views = (views + 1, views + data.mixup) if data.mixup else None
    return wanted_views, mixup_views, per_image * (wanted_views + 1 + data.mixup)
