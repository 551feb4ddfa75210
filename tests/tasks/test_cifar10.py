import os

import keras
import numpy as np
import pytest

from mimic_keras import config as config_lib
from mimic_keras.config import TeacherConfig
from mimic_keras.distiller import Distiller
from mimic_keras.models.convnet import build_teacher
from mimic_keras.configs.cifar10 import Cifar10Data
from mimic_keras.layout import Layout
from mimic_keras.tasks import get_task
from pipelines import label_with_teacher
from tests.helpers import write_image_dir

N_TRAIN = 12
SMALL = [
    "teacher.num_teachers=1", "mimic.conv_filters=4", "mimic.bottleneck=8", "mimic.hidden=32",
    "mimic_train.batch_size=16",
]


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A workdir whose transfer set has 2 augmented views and 2 mixup images per training image."""
    workdir = tmp_path_factory.mktemp("task")
    write_image_dir(str(workdir / "data"), {"train": N_TRAIN, "validation": 4, "test": 4})
    keras.utils.set_random_seed(0)
    os.makedirs(workdir / "teacher" / "teacher_0")
    teacher_path = str(workdir / "teacher" / "teacher_0" / "model.keras")
    build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,))).save(teacher_path)
    label_with_teacher.label(
        str(workdir / "data"), [teacher_path], str(workdir / "transfer"), views=2, mixup=2,
        splits=["train", "validation"],
    )
    return str(workdir)


def _run(workdir, overrides):
    """(task, layout) of the labelled workdir with the overrides."""
    cfg = config_lib.apply_overrides(config_lib.get_preset("cifar10-quick"), [*SMALL, *overrides])
    return get_task(cfg), Layout(workdir)


def test_label_options_carry_the_mixup_options(labelled):
    task, layout = _run(labelled, ["data.mixup=3", "data.mixup_alpha=0.4"])
    options = task.label_options(layout)
    assert (options.mixup, options.mixup_alpha, options.views) == (3, 0.4, 1)
    assert options.splits == ("train", "validation", "test") and options.teacher == (layout.model("teacher_0"),)
    task, layout = _run(labelled, ["data.source=/somewhere/cifar.tar", "data.val_size=7"])
    options = task.prepare_options(layout)
    assert (options.source, options.val_size, options.out) == ("/somewhere/cifar.tar", 7, layout.data)


@pytest.mark.parametrize(
    "transfer_views, mixup, per_image",
    [("None", 2, 5), ("None", 0, 3), (0, 2, 3), (1, 1, 3), (0, 0, 1), (2, 1, 4)],
)
def test_transfer_views_and_mixup_select_records_and_count_them(labelled, transfer_views, mixup, per_image):
    task, layout = _run(labelled, [f"data.transfer_views={transfer_views}", f"data.mixup={mixup}"])
    train, _, count = task.transfer_datasets(layout, task.cfg.mimic_train)
    assert count == N_TRAIN * per_image  # the LR schedule's step count is built from it
    labels = np.concatenate([y["label"].numpy() for _, y in train])
    assert len(labels) == count
    assert (labels == -1).sum() == N_TRAIN * mixup


def test_selected_view_ids():
    from mimic_keras.tasks.cifar10 import _transfer_views

    split = {"count": 10 * 6, "views": 3, "mixup": 2}
    data = Cifar10Data(transfer_views=1, mixup=1)
    assert _transfer_views(data, split) == (1, (4, 4), 10 * 3)
    assert _transfer_views(Cifar10Data(mixup=2), split) == (None, None, 60)
    assert _transfer_views(Cifar10Data(), split) == (3, None, 10 * 4)
    assert _transfer_views(Cifar10Data(), {"count": 7}) == (None, None, 7)  # sets from before mixup


@pytest.mark.parametrize(
    "override, message", [("data.mixup=3", "2 mixup images"), ("data.transfer_views=3", "2 augmented")]
)
def test_more_than_the_transfer_set_holds_is_refused(labelled, override, message):
    task, layout = _run(labelled, [override])
    with pytest.raises(ValueError, match=message):
        task.transfer_datasets(layout, task.cfg.mimic_train)


def test_distiller_trains_on_mixup_records_whose_label_is_minus_one(labelled):
    task, layout = _run(labelled, ["data.mixup=2", "distill.alpha=0.5"])
    train, _, _ = task.transfer_datasets(layout, task.cfg.mimic_train)
    keras.utils.set_random_seed(0)
    student = task.build_student("mimic")
    distiller = Distiller(student, alpha=0.5)  # the label loss runs too, and must skip label -1
    distiller.compile(optimizer="adam", metrics=[keras.metrics.SparseCategoricalAccuracy(name="label_accuracy")])
    before = [w.numpy().copy() for w in student.trainable_weights]
    batch = train.take(1)
    history = distiller.fit(batch, epochs=1, verbose=0).history
    assert np.isfinite(history["loss"][0])
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, student.trainable_weights))

    x, y = next(iter(batch))
    labels = y["label"].numpy()
    assert (labels == -1).any() and (labels >= 0).any()
    result = distiller.evaluate(x, y, batch_size=len(labels), verbose=0, return_dict=True)
    predicted = np.argmax(student.predict(x, verbose=0), axis=-1)
    labelled_only = np.mean(predicted[labels >= 0] == labels[labels >= 0])
    assert result["label_accuracy"] == pytest.approx(labelled_only)
    assert result["accuracy"] == pytest.approx(labelled_only)
    assert np.isfinite(result["loss"])
