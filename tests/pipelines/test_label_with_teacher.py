import os
import sys

import keras
import numpy as np
import pytest

from mimic_keras.config import TeacherConfig
from mimic_keras.data import cifar10, writer
from mimic_keras.data.manifest import Manifest
from mimic_keras.export import export_image_classifier
from mimic_keras.models.convnet import build_teacher
from mimic_keras.teachers_io import TeacherSet, model_fingerprint
from pipelines import label_with_teacher, labelling
from tests.helpers import save_tiny_teachers, write_image_dir


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("label")
    data = str(root / "data")
    write_image_dir(data, {"train": 12, "validation": 4, "test": 4, "unlabelled": 5})
    paths = save_tiny_teachers(root)
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


def test_bad_inputs(setup, tmp_path, monkeypatch):
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
    # Refused before Beam is imported, so these hold where apache-beam is not installed too.
    with pytest.raises(ValueError, match="mixup is not supported with --runner beam"):
        label_with_teacher.label(data, paths, str(tmp_path / "b"), mixup=1, runner="beam")
    with pytest.raises(ValueError, match="without --runner beam"):
        label_with_teacher.label(data, paths, str(tmp_path / "b"), beam_args=("--direct_num_workers=2",))
    with monkeypatch.context() as m:  # as where apache-beam is not installed
        m.setitem(sys.modules, "apache_beam", None)
        with pytest.raises(ValueError, match="needs apache-beam"):
            label_with_teacher.label(data, paths, str(tmp_path / "b"), runner="beam")
    assert not os.path.exists(tmp_path / "b") and not [n for n in os.listdir(tmp_path) if n.startswith(".b.")]


def _originals(data):
    """The source's training images and labels by id, and the ids in file order (the mixup
    partners' indices)."""
    ex = _read(data, "train", n=None)
    return dict(zip(ex["id"], ex["image"])), dict(zip(ex["id"], ex["label"])), list(ex["id"])


def _fit_convex(mixed, a, b):
    """λ minimising ‖mixed − (λa + (1−λ)b)‖², and the largest pixel error it leaves."""
    a, b, mixed = (np.asarray(v, np.float64).ravel() for v in (a, b, mixed))
    d = a - b
    lam = float(np.dot(mixed - b, d) / np.dot(d, d))
    return lam, float(np.abs(mixed - (lam * a + (1 - lam) * b)).max())


def test_mixup_images_mix_two_training_images_and_are_labelled_by_the_teacher(setup):
    root, data, paths = setup
    out = str(root / "mixup")
    manifest = label_with_teacher.label(data, paths[:1], out, views=1, mixup=2, splits=["train"])
    entry = manifest["splits"]["train"]
    assert (entry["count"], entry["views"], entry["mixup"]) == (12 * 4, 1, 2)
    ex = _read(out, "train")
    np.testing.assert_array_equal(ex["view"], np.tile([0, 1, 2, 3], 12))  # each image's records together
    originals, labels, order = _originals(data)
    is_mixup = ex["view"] >= 2
    assert (ex["label"][is_mixup] == -1).all()
    np.testing.assert_array_equal(ex["label"][~is_mixup], [labels[i] for i in ex["id"][~is_mixup]])
    teacher = keras.saving.load_model(paths[0])
    np.testing.assert_allclose(ex["logits"], teacher.predict(ex["image"], verbose=0), atol=1e-4)

    partners, lambdas = label_with_teacher.mixup_draws(12, 2, 1.0)
    fitted = []
    for image, example_id, view in zip(ex["image"][is_mixup], ex["id"][is_mixup], ex["view"][is_mixup]):
        x_i = originals[example_id]
        # Found without the draws: some other training image and one λ for every pixel.
        fits = [_fit_convex(image, x_i, originals[j]) for j in order if j != example_id]
        lam, error = min(fits, key=lambda f: f[1])
        assert error <= 0.6 and 0.0 <= lam <= 1.0  # rounding to uint8 leaves at most 0.5
        fitted.append(lam)
        # And they are the recorded draws.
        i, m = order.index(example_id), view - 2
        j = partners[i, m]
        assert j != i
        expected = np.round(lambdas[i, m] * x_i.astype(np.float32) + (1 - lambdas[i, m]) * originals[order[j]])
        np.testing.assert_allclose(image, expected, atol=1)
    assert np.std(fitted) > 0.1  # λ varies (uniform for alpha=1)


def test_mixup_reruns_are_identical_and_options_change_the_fingerprint(setup):
    root, data, paths = setup
    a, b = str(root / "mixup_a"), str(root / "mixup_b")
    first = label_with_teacher.label(data, paths[:1], a, views=1, mixup=2, splits=["train"])
    label_with_teacher.label(data, paths[:1], b, views=1, mixup=2, splits=["train"])
    for shard_a, shard_b in zip(writer.split_files(a, "train"), writer.split_files(b, "train")):
        with open(shard_a, "rb") as fa, open(shard_b, "rb") as fb:
            assert fa.read() == fb.read()

    one = label_with_teacher.label(data, paths[:1], a, views=1, mixup=1, splits=["train"])
    assert one["fingerprint"] != first["fingerprint"] and one["splits"]["train"]["count"] == 12 * 3
    ex_one, ex_two = _read(a, "train"), _read(b, "train")
    np.testing.assert_array_equal(ex_one["image"][ex_one["view"] == 2], ex_two["image"][ex_two["view"] == 2])

    other_alpha = label_with_teacher.label(data, paths[:1], a, views=1, mixup=1, mixup_alpha=0.2, splits=["train"])
    assert other_alpha["fingerprint"] != one["fingerprint"]
    assert not np.array_equal(_read(a, "train")["image"], ex_one["image"])

    none = label_with_teacher.label(data, paths[:1], a, views=1, splits=["train"])
    # Without mixup the fingerprint is the one from before mixup existed: old transfer sets hold.
    source, teacher = Manifest.read(data), TeacherSet(paths[:1])
    assert none["fingerprint"] == labelling.fingerprint(source, teacher, {"views": 1, "splits": ["train"]})
    assert none["options"]["mixup"] == 0 and none["options"]["splits"] == ["train"]
    assert none["splits"]["train"]["mixup"] == 0 and none["splits"]["train"]["count"] == 12 * 2


def test_mixup_draws():
    partners, lambdas = label_with_teacher.mixup_draws(50, 3, 1.0)
    assert partners.shape == lambdas.shape == (50, 3)
    assert (partners != np.arange(50)[:, None]).all() and ((partners >= 0) & (partners < 50)).all()
    assert ((lambdas >= 0) & (lambdas <= 1)).all()
    again, _ = label_with_teacher.mixup_draws(50, 2, 1.0)
    np.testing.assert_array_equal(again, partners[:, :2])  # the first M do not depend on the total
    _, peaked = label_with_teacher.mixup_draws(1000, 1, 10.0)
    _, spread = label_with_teacher.mixup_draws(1000, 1, 0.2)
    assert np.abs(peaked - 0.5).mean() < 0.15 < np.abs(spread - 0.5).mean()
    with pytest.raises(ValueError, match="mixup_alpha"):
        label_with_teacher.mixup_draws(10, 1, 0.0)


def test_bad_mixup_options(setup, tmp_path):
    _, data, paths = setup
    args = ["--data", data, "--teacher", paths[0], "--out", str(tmp_path / "x")]
    assert label_with_teacher.main([*args, "--mixup", "-1"]) == 2
    assert label_with_teacher.main([*args, "--mixup", "1", "--mixup-alpha", "0"]) == 2
    assert not os.path.exists(tmp_path / "x" / "manifest.json")
