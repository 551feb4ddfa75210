"""The clusters dataset as a `Task`: MLP teachers and MLP mimics on feature vectors."""

import keras
import numpy as np

from mimic_keras.data.manifest import Manifest
from mimic_keras.eval.image_scoring import ImageScorer
from mimic_keras.models.layers import logits_layer
from mimic_keras.models.mimics import build_mimic
from mimic_keras.tasks.base import Task
from tests.clusters import convert, label, records


class ClustersScorer(ImageScorer):
    """The classifier columns of the run report, read from cluster records instead of images."""

    inputs = "features"
    noun = "vectors"
    load = staticmethod(records.load_arrays)


class ClustersTask(Task):
    name = "clusters"

    def __init__(self, cfg):
        super().__init__(cfg)
        self.dim = None  # the vectors' size: from the converted data's manifest, once a stage reads it

    def prepare_options(self, layout):
        data = self.cfg.data
        return convert.Options(out=layout.data, source=data.source, val_fraction=data.val_fraction,
                               limit=data.limit, force=True)

    def label_options(self, layout):
        return label.Options(data=layout.data, teacher=tuple(self.teacher_paths(layout)), out=layout.transfer,
                             splits=("train", *self.cfg.data.label_splits), force=True)

    def _feature_dim(self, layout):
        return Manifest.read(layout.data).get("feature_dim")

    def label_datasets(self, layout, train_cfg):
        self.dim = self._feature_dim(layout)
        train = records.batches(records.load_split(layout.data, "train"), train_cfg.batch_size, training=True,
                                seed=train_cfg.seed)
        val = records.batches(records.load_split(layout.data, "validation"), train_cfg.batch_size)
        return train, val, Manifest.read(layout.data).splits["train"].count

    def transfer_datasets(self, layout, train_cfg):
        self.dim = self._feature_dim(layout)
        n = self.cfg.num_classes
        train = records.batches(records.load_split(layout.transfer, "train", n), train_cfg.batch_size,
                                target="distill", training=True, seed=train_cfg.seed)
        val = records.batches(records.load_split(layout.transfer, "validation", n), train_cfg.batch_size,
                              target="distill")
        return train, val, self.transfer_examples(layout)

    def transfer_examples(self, layout):
        return Manifest.read(layout.transfer).splits["train"].count

    def build_teacher(self, index):
        inputs = keras.Input((self.dim,), name="features")
        x = inputs
        for i, units in enumerate(self.cfg.teacher.dense_units):
            x = keras.layers.Dense(units, activation="relu", name=f"fc{i + 1}")(x)
        return keras.Model(inputs, logits_layer(self.cfg.num_classes)(x), name=f"teacher_{index}")

    def build_student(self, name):
        return build_mimic(self.cfg.mimic, self.cfg.num_classes, input_shape=(self.dim,), name=name)

    def scorer(self, layout):
        return ClustersScorer(self.cfg, layout.data, layout.transfer)

    def export(self, layout, model, name, role="mimic"):
        from mimic_keras.export import export_classifier

        tflite = self.cfg.export.tflite
        return export_classifier(model, self.cfg.export.dir, name, class_names=self.class_names(layout),
                                 tflite=tflite, representative=self.representative(layout) if tflite else None,
                                 input_name="features")

    def representative(self, layout, count=100):
        return records.load_arrays(layout.transfer, "train")["features"][:count]

    def deployed_scores(self, layout, predict, role="mimic"):
        test = records.load_arrays(layout.data, "test")
        return {"test_accuracy": float(np.mean(np.argmax(predict(test["features"]), -1) == test["label"]))}

    def class_names(self, layout):
        return Manifest.read(layout.data).get("classes")
