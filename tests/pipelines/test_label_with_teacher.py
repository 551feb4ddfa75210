import os

import keras
import numpy as np
import pytest

from mimic_keras.config import TeacherConfig
from mimic_keras.data import cifar10, writer
from mimic_keras.export import export_image_classifier
from mimic_keras.models.teachers import build_teacher
from mimic_keras.teachers_io import model_fingerprint
from pipelines import label_with_teacher
from tests.helpers import write_image_dir


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("label")
    data = str(root / "data")
    write_image_dir(data, {"train": 12, "validation": 4, "test": 4, "unlabelled": 5})
    paths = []
    for i in range(2):
        keras.utils.set_random_seed(i)
        teacher = build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,)), name=f"teacher_{i}")
        paths.append(str(root / f"teacher_{i}.keras"))
        teacher.save(paths[-1])
    return root, data, paths


def _read(out, split, n=10):
    ex = list(cifar10.load_split(out, split, num_classes=n).batch(1000))[0]
    return {k: v.numpy() for k, v in ex.items()}


def test_logits_are_the_ensemble_mean(setup):
    root, data, paths = setup
    out = str(root / "ensemble")
    manifest = label_with_teacher.label(data, paths, out, views=2)
    assert manifest["teacher"]["sha256"] == [model_fingerprint(p) for p in paths]
    assert manifest["splits"]["train"]["count"] == 12 * 3
    assert manifest["splits"]["unlabelled"]["count"] == 5 and manifest["splits"]["test"]["count"] == 4
    teachers = [keras.saving.load_model(p) for p in paths]
    for split in ("train", "unlabelled", "validation"):
        ex = _read(out, split)
        expected = np.mean([t.predict(ex["image"], verbose=0) for t in teachers], axis=0)
        np.testing.assert_allclose(ex["logits"], expected, atol=1e-4)
    assert (_read(out, "unlabelled")["label"] == -1).all()


def test_views_are_augmented_deterministic_and_keep_originals(setup):
    root, data, paths = setup
    a, b = str(root / "views_a"), str(root / "views_b")
    label_with_teacher.label(data, paths[:1], a, views=2, splits=["train"])
    label_with_teacher.label(data, paths[:1], b, views=2, splits=["train"])
    ex_a, ex_b = _read(a, "train"), _read(b, "train")
    np.testing.assert_array_equal(ex_a["image"], ex_b["image"])  # reruns are identical
    original = _read(data, "train", n=None)
    by_view = {v: ex_a["image"][ex_a["view"] == v] for v in (0, 1, 2)}
    ids0 = ex_a["id"][ex_a["view"] == 0]
    order = {i: k for k, i in enumerate(original["id"])}
    np.testing.assert_array_equal(by_view[0], original["image"][[order[i] for i in ids0]])
    assert not np.array_equal(by_view[1], by_view[0]) and not np.array_equal(by_view[1], by_view[2])
    assert sorted(ex_a["id"][ex_a["view"] == 1]) == sorted(ids0)


def test_rerun_is_a_no_op_and_teacher_change_relabels(setup, capsys):
    root, data, paths = setup
    out = str(root / "rerun")
    label_with_teacher.label(data, paths[:1], out, splits=["test"])
    shard = writer.split_files(out, "test")[0]
    mtime = os.path.getmtime(shard)
    label_with_teacher.label(data, paths[:1], out, splits=["test"])
    assert "nothing to do" in capsys.readouterr().out
    assert os.path.getmtime(shard) == mtime
    manifest = label_with_teacher.label(data, paths[1:], out, splits=["test"])
    assert manifest["teacher"]["sha256"] == [model_fingerprint(paths[1])]


def test_savedmodel_teacher(setup, tmp_path):
    _, data, paths = setup
    model = keras.saving.load_model(paths[0])
    saved = export_image_classifier(model, str(tmp_path), "teacher")
    out = str(tmp_path / "out")
    label_with_teacher.label(data, [saved], out, splits=["validation"])
    ex = _read(out, "validation")
    np.testing.assert_allclose(ex["logits"], model.predict(ex["image"], verbose=0), atol=1e-4)


def test_bad_inputs(setup, tmp_path):
    _, data, paths = setup
    with pytest.raises(ValueError, match="no split"):
        label_with_teacher.label(data, paths, str(tmp_path / "x"), splits=["nope"])
    wrong = build_teacher(TeacherConfig(conv_filters=(8,), dense_units=(16,)), num_classes=4)
    wrong.save(str(tmp_path / "wrong.keras"))
    with pytest.raises(ValueError, match="4 logits"):
        label_with_teacher.label(data, [str(tmp_path / "wrong.keras")], str(tmp_path / "y"))
    with pytest.raises(FileNotFoundError):
        label_with_teacher.label(data, [str(tmp_path / "missing.keras")], str(tmp_path / "z"))
    assert label_with_teacher.main(["--data", data, "--teacher", str(tmp_path / "missing.keras"), "--out", str(tmp_path / "z")]) == 2
