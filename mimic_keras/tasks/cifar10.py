"""CIFAR-10 as a `Task`: image TFRecords, convnet teachers, conv + bottleneck mimics."""

import os

from mimic_keras.data import cifar10, writer
from mimic_keras.data.manifest import MANIFEST, Manifest
from mimic_keras.distribute import distribute_options
from mimic_keras.models.mimics import build_mimic
from mimic_keras.models.convnet import build_teacher
from mimic_keras.tasks.base import Task, runner_options


REPRESENTATIVE = 300  # transfer-set inputs the int8 LiteRT variant is calibrated on


class Cifar10Task(Task):
    name = "cifar10"
    input_range = (0.0, 255.0)  # uint8 pixels: the models scale them themselves
    input_step = 1.0
    eval_splits = ("validation", "test")

    def prepare_options(self, layout):
        from pipelines import cifar10_to_tfrecord

        data = self.cfg.data
        return cifar10_to_tfrecord.Options(out=layout.data, source=data.source, val_size=data.val_size,
                                           limit=data.limit, unlabelled=data.unlabelled, force=True,
                                           **runner_options(data))

    def label_options(self, layout):
        from pipelines import label_with_teacher

        data = self.cfg.data
        splits = ["train", *data.label_splits]
        if "unlabelled" in writer.read_manifest(layout.data)["splits"]:
            splits.append("unlabelled")
        return label_with_teacher.Options(
            data=layout.data, teacher=tuple(self.teacher_paths(layout)), out=layout.transfer, views=data.views,
            mixup=data.mixup, mixup_alpha=data.mixup_alpha, splits=tuple(splits), force=True,
            **runner_options(data),
        )

    def label_datasets(self, layout, train_cfg):
        train = cifar10.input_pipeline(
            cifar10.load_split(layout.data, "train"), train_cfg.batch_size, training=True,
            augmentation=train_cfg.augment, seed=train_cfg.seed,
        )
        val = cifar10.input_pipeline(cifar10.load_split(layout.data, "validation"), train_cfg.batch_size)
        return distribute_options(train), distribute_options(val), cifar10.num_examples(layout.data, "train")

    def transfer_datasets(self, layout, train_cfg):
        manifest = writer.read_manifest(layout.transfer)
        n = self.cfg.num_classes
        max_view, mixup_views, _ = _transfer_views(self.cfg.data, manifest["splits"]["train"])
        ds = cifar10.load_split(layout.transfer, "train", num_classes=n, max_view=max_view, mixup_views=mixup_views)
        if "unlabelled" in manifest["splits"]:
            ds = ds.concatenate(cifar10.load_split(layout.transfer, "unlabelled", num_classes=n))
        count = self.transfer_examples(layout)
        if self.cfg.data.extra_transfer:
            extra = self._extra_transfer(layout)
            ds = _spread(ds, cifar10.load_split(extra, "train", num_classes=n),
                         writer.read_manifest(extra)["splits"]["train"]["count"], count, train_cfg.seed)
        train = cifar10.input_pipeline(
            ds, train_cfg.batch_size, training=True, target="distill", seed=train_cfg.seed,
            shuffle_buffer=min(count, 50_000),
        )
        val = cifar10.input_pipeline(
            cifar10.load_split(layout.transfer, "validation", num_classes=n), train_cfg.batch_size,
            target="distill",
        )
        return distribute_options(train), distribute_options(val), count

    def transfer_examples(self, layout):
        """Examples per epoch of the mimic's transfer set (the views and mixup images it keeps)."""
        splits = writer.read_manifest(layout.transfer)["splits"]
        count = _transfer_views(self.cfg.data, splits["train"])[2]
        count += splits["unlabelled"]["count"] if "unlabelled" in splits else 0
        if self.cfg.data.extra_transfer:
            count += writer.read_manifest(self._extra_transfer(layout))["splits"]["train"]["count"]
        return count

    def mimic_sources(self, layout):
        """The manifest of `data.extra_transfer` (it lists its shards' sha256s), when set."""
        extra = self.cfg.data.extra_transfer
        return [os.path.join(os.path.abspath(extra), MANIFEST)] if extra else []

    def _extra_transfer(self, layout):
        """`data.extra_transfer`, checked: a `train` split labelled by the teachers of the run's transfer set."""
        extra = self.cfg.data.extra_transfer
        manifest, ours = Manifest.read(extra), Manifest.read(layout.transfer)
        if "train" not in manifest.splits or manifest.num_classes != self.cfg.num_classes:
            raise ValueError(f"data.extra_transfer={extra}: needs a train split of {self.cfg.num_classes} logits "
                             f"per example (has {sorted(manifest.splits)}, {manifest.num_classes} logits)")
        if manifest.teacher is None or sorted(manifest.teacher.sha256) != sorted(ours.teacher.sha256):
            raise ValueError(f"data.extra_transfer={extra} was labelled by other teachers than {layout.transfer}")
        return extra

    def grow_source(self, layout):
        """The transfer set's training records, the image under `inputs`."""
        ds = cifar10.load_split(layout.transfer, "train", num_classes=self.cfg.num_classes)
        return ds.map(lambda ex: {"inputs": ex["image"], **{k: v for k, v in ex.items() if k != "image"}})

    def grow_record(self, inputs, label, example_id, logits, view):
        """A labelled image record, the image as PNG (lossless: the quantised pixels are kept)."""
        import numpy as np
        import tensorflow as tf

        from mimic_keras.data import records

        png = tf.io.encode_png(np.asarray(inputs, np.uint8)).numpy()
        return records.image_example(png, int(label), example_id, logits=logits, view=int(view))

    def build_teacher(self, index):
        return build_teacher(self.cfg.teacher, self.cfg.num_classes, name=f"teacher_{index}")

    def build_student(self, name):
        return build_mimic(self.cfg.mimic, self.cfg.num_classes, name=name)

    def scorer(self, layout):
        from mimic_keras.eval.image_scoring import ImageScorer

        return ImageScorer(self.cfg, layout.data, layout.transfer)

    def student_scores(self, model, layout, stage="mimic"):
        from mimic_keras.eval import image_scoring

        return image_scoring.student_scores(model, layout.data, layout.transfer, self.cfg.num_classes)

    def export(self, layout, model, name, role="mimic"):
        from mimic_keras.export import export_image_classifier

        tflite = self.cfg.export.tflite
        representative = self.representative(layout) if "int8" in tflite else None
        return export_image_classifier(model, self.cfg.export.dir, name, class_names=self.class_names(layout),
                                       tflite=tflite, representative=representative)

    def class_names(self, layout):
        """The class names in logit order (they travel in the export)."""
        return cifar10.CLASSES

    def split_batches(self, layout, split, batch_size):
        """Batches of (uint8 images, int labels) of `split` of the converted data, in file order."""
        return cifar10.input_pipeline(cifar10.load_split(layout.data, split), batch_size)

    def reported_classes(self, layout):
        """The class names (`class_names`)."""
        return list(self.class_names(layout))

    def representative(self, layout, count=REPRESENTATIVE):
        """The first `count` transfer-set images (uint8): calibration and benchmark inputs."""
        import numpy as np

        return np.stack([ex["image"] for ex in cifar10.load_split(layout.transfer, "train").take(count)
                         .as_numpy_iterator()])

    def deployed_scores(self, layout, predict, role="mimic"):
        """`test_accuracy` of a logits function (a Keras model's or a LiteRT file's) on the test split."""
        import numpy as np

        from mimic_keras.eval.image_scoring import load_arrays

        test = load_arrays(layout.data, "test")
        logits = np.concatenate([predict(test["image"][i : i + 256]) for i in range(0, len(test["image"]), 256)])
        return {"test_accuracy": float(np.mean(logits.argmax(-1) == test["label"]))}




def _spread(ds, extra, extra_count, count, seed):
    """`ds` and `extra` (`extra_count` of `count` examples) drawn at random in proportion, each example once:
    the extra examples spread through the epoch, where appended they would fill only its last shuffle buffer."""
    import tensorflow as tf

    share = extra_count / count
    return tf.data.Dataset.sample_from_datasets([ds, extra], weights=[1 - share, share], seed=seed)


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
