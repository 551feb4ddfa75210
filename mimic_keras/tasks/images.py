"""Your own images as a `Task`: a class-per-folder tree, your trained teacher(s) or a `keras.applications` one.

The data and transfer sets are image TFRecords like CIFAR-10's, of the size and channels the
conversion chose (recorded in the manifest, read back here), so the input pipelines, labelling,
scoring and export are CIFAR-10's. What differs: the classes come from the folder names, the
teachers may be given (`teacher.path`: wrapped to take uint8 images and give logits, saved as
the teacher stage's `model.keras`) and the student's front end takes the data's image shape.
"""

import os
import shutil

import keras
import numpy as np

from mimic_keras.data import cifar10
from mimic_keras.data.manifest import Manifest
from mimic_keras.models.adapters import CastTo, ProbabilitiesToLogits
from mimic_keras.models.convnet import build_teacher as build_convnet
from mimic_keras.models.mimics import build_mimic
from mimic_keras.tasks.base import runner_options
from mimic_keras.tasks.cifar10 import Cifar10Task
from mimic_keras.teachers_io import load_teacher

# keras.applications architectures that scale their own pixels (they take [0, 255] floats).
_SELF_SCALING = ("MobileNetV3", "EfficientNet", "ConvNeXt", "RegNet")
MIN_APPLICATION_SIZE = 32  # keras.applications refuse smaller inputs
BATCH_NORM_MOMENTUM = 0.9
SAVED_MODEL = "saved_model"  # a teacher run folder's model when it was given as a SavedModel


class TeacherError(ValueError):
    """A given teacher that does not fit the images: the message is one line naming it."""


def checked_teacher(path, num_classes):
    """The trained teacher at `path`, loaded and checked to map images to `num_classes` outputs.

    Raises:
        TeacherError: one line: it does not load, does not take images (height, width, 1 or 3
            channels) or has another number of outputs.
    """
    try:
        teacher = load_teacher(path)
    except (OSError, ValueError) as e:
        raise TeacherError(f"teacher {path}: cannot load it ({str(e).splitlines()[0]})") from None
    taken, outputs = tuple(_input(teacher).shape[1:]), tuple(_output(teacher).shape[1:])
    if len(taken) != 3 or taken[-1] not in (1, 3):
        raise TeacherError(f"teacher {path} takes inputs of shape {taken}, not images (height, width, 1 or 3)")
    if outputs != (num_classes,):
        raise TeacherError(f"teacher {path} has {outputs[-1] if outputs else 0} outputs but the run has "
                           f"num_classes={num_classes}")
    return teacher


class ImagesTask(Cifar10Task):
    name = "images"

    def __init__(self, cfg):
        super().__init__(cfg)
        self._image_shape = None

    def image_shape(self, layout=None):
        """The (H, W, C) of the run's images: from the converted data's manifest."""
        if layout is not None:
            self._image_shape = cifar10.image_shape_of(layout.data)
        if self._image_shape is None:
            raise ValueError("the image shape is known once the data is converted (call with the layout)")
        return self._image_shape

    def prepare_options(self, layout):
        from pipelines import images_to_tfrecord

        data, size, channels = self.cfg.data, self.cfg.data.image_size, self.cfg.data.channels
        teachers = [checked_teacher(p, self.cfg.num_classes) for p in self.cfg.teacher.path]
        if teachers:  # default to what the (first) teacher takes
            height, _, teacher_channels = _input(teachers[0]).shape[1:]
            size, channels = size or height, channels or teacher_channels
        return images_to_tfrecord.Options(
            out=layout.data, source=data.source, image_size=size, channels=channels, val_fraction=data.val_fraction,
            test_fraction=data.test_fraction, unlabelled=data.unlabelled, limit=data.limit,
            num_classes=self.cfg.num_classes, force=True, **runner_options(data),
        )

    def label_datasets(self, layout, train_cfg):
        self.image_shape(layout)
        return super().label_datasets(layout, train_cfg)

    def transfer_datasets(self, layout, train_cfg):
        self.image_shape(layout)
        return super().transfer_datasets(layout, train_cfg)

    def install_teachers(self, layout):
        """Wraps each `teacher.path` model to take the data's uint8 images and give logits, as `model.keras`.

        Every teacher is checked before anything is written. Returns False when the run trains
        its teachers (no `teacher.path`).
        """
        paths = self.cfg.teacher.path
        if not paths:
            return False
        shape = self.image_shape(layout)
        sample = next(iter(cifar10.load_split(layout.data, "train").batch(64)))["image"].numpy()
        wrapped = [self._wrap(path, index, shape, sample) for index, path in enumerate(paths)]
        for model, target in zip(wrapped, self.teacher_paths(layout)):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if target.endswith(".keras"):
                model.save(target)
            else:  # a Keras file cannot hold a SavedModel safely: the wrapper is a SavedModel too
                shutil.rmtree(target, ignore_errors=True)
                model.export(target, verbose=False)
        return True

    def teacher_paths(self, layout):
        """`model.keras` of each teacher, or `saved_model/` for a teacher given as a SavedModel."""
        paths = layout.teacher_models(self.cfg.teacher.num_teachers)
        return [os.path.join(os.path.dirname(p), SAVED_MODEL) if i < len(self.cfg.teacher.path)
                and os.path.isdir(self.cfg.teacher.path[i]) else p for i, p in enumerate(paths)]

    def _wrap(self, path, index, shape, sample):
        teacher = checked_teacher(path, self.cfg.num_classes)
        taken = tuple(_input(teacher).shape[1:])
        if taken[-1] != shape[-1]:
            raise TeacherError(f"teacher {path} takes {taken[-1]}-channel images but the data has {shape[-1]} "
                               f"(set data.channels={taken[-1]})")
        inputs = keras.Input(shape=shape, dtype="uint8", name="images")
        x = CastTo(str(_input(teacher).dtype), name="cast")(inputs)
        if None not in taken[:2] and taken[:2] != shape[:2]:
            x = keras.layers.Resizing(*taken[:2], name="resize")(x)
        x = teacher(x)
        probe = np.asarray(teacher(_fit(sample, taken).astype(_input(teacher).dtype)), np.float64)
        if probe.min() >= 0 and np.allclose(probe.sum(axis=-1), 1.0, atol=1e-3):
            print(f"teacher {path} outputs probabilities (each row sums to 1): its logits are recovered as log(p)",
                  flush=True)
            x = ProbabilitiesToLogits(name="logits_from_probabilities")(x)
        return keras.Model(inputs, x, name=f"teacher_{index}")

    def build_teacher(self, index):
        shape, n, kind = self.image_shape(), self.cfg.num_classes, self.cfg.teacher.kind_of(index)
        if kind == "convnet":
            return build_convnet(self.cfg.teacher, n, image_shape=shape, name=f"teacher_{index}")
        inputs = keras.Input(shape=shape, dtype="uint8", name="images")
        x = CastTo("float32", name="cast")(inputs)
        if not kind.startswith(_SELF_SCALING):
            x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(x)
        size = tuple(max(s, MIN_APPLICATION_SIZE) for s in shape[:2])
        if size != shape[:2]:
            x = keras.layers.Resizing(*size, name="resize")(x)
        kwargs = {"dropout_rate": self.cfg.teacher.dropout} if kind.startswith("MobileNetV3") else {}
        backbone = getattr(keras.applications, kind)(
            weights=None, input_shape=(*size, shape[-1]), classes=n, classifier_activation=None, **kwargs
        )
        for layer in backbone.layers:
            # Some (MobileNetV3: 0.999) average their batch statistics over thousands of steps;
            # a teacher trained here for a few epochs would be evaluated with stale ones.
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = min(layer.momentum, BATCH_NORM_MOMENTUM)
        return keras.Model(inputs, backbone(x), name=f"teacher_{index}")

    def build_student(self, name):
        return build_mimic(self.cfg.mimic, self.cfg.num_classes, input_shape=self.image_shape(), name=name)

    def class_names(self, layout):
        """The class folders' names, in the order the conversion recorded (logit order)."""
        return list(Manifest.read(layout.data).get("classes"))


def _input(model):
    return model.inputs[0]  # `model.input` of a Sequential loaded from a file may not be set


def _output(model):
    return model.outputs[0]


def _fit(images, shape):
    """`images` (uint8 [B, H, W, C]) resized to what a teacher of input `shape` takes, for probing it."""
    import tensorflow as tf

    if None in shape[:2] or tuple(images.shape[1:3]) == tuple(shape[:2]):
        return images
    return tf.image.resize(images, shape[:2]).numpy()
