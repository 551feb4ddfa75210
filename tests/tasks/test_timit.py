"""TimitTask: the options of its data jobs, and the transfer set with speed-perturbed copies."""

import dataclasses
import os

import keras
import numpy as np
import pytest

from mimic_keras import config as config_lib
from mimic_keras import timit_layout
from mimic_keras.data import timit, writer
from mimic_keras.distiller import Distiller
from mimic_keras.layout import Layout
from mimic_keras.tasks.timit import TimitTask
from pipelines import label_timit_with_teacher


def _run(tmp_path, data, transfer=None, **data_options):
    """(task, layout): a run folder over converted (and labelled) folders, with other data options."""
    cfg = config_lib.get_preset("timit-quick")
    source = writer.read_manifest(data)["source"]["root"]
    cfg.data = dataclasses.replace(cfg.data, source=source, **data_options)
    layout = Layout(str(tmp_path / "run"))
    os.makedirs(layout.workdir)
    os.symlink(data, layout.data)
    if transfer:
        os.symlink(transfer, layout.transfer)
    return TimitTask(cfg), layout


def _datasets(run, train_cfg):
    task, layout = run
    return task.transfer_datasets(layout, train_cfg)


def test_job_options_carry_the_speeds(tmp_path, timit_perturbed_records, timit_records):
    task, layout = _run(tmp_path, timit_perturbed_records, perturb=(1.1, 0.9))
    assert task.prepare_options(layout).perturb == (1.1, 0.9)
    assert task.label_options(layout).splits == ("train", "dev", "test", "unlabelled")
    plain, plain_layout = _run(tmp_path / "plain", timit_records)
    assert plain.prepare_options(plain_layout).perturb == ()
    assert plain.label_options(plain_layout).splits == ("train", "dev", "test")
    assert plain.label_options(plain_layout).teacher == tuple(plain_layout.teacher_models(2))


def test_label_job_labels_the_copies(timit_perturbed_labelled):
    data, transfer, _ = timit_perturbed_labelled
    manifest = writer.read_manifest(transfer)
    assert manifest["splits"]["unlabelled"]["frames"] == writer.read_manifest(data)["splits"]["unlabelled"]["frames"]
    assert manifest["splits"]["unlabelled"]["factors"] == timit.perturbed_counts(data)
    utt = next(timit.load_utterances(transfer, "unlabelled", with_logits=True).as_numpy_iterator())
    assert utt["logits"].shape == (len(utt["state"]), timit.NUM_STATES) and np.all(utt["state"] == -1)
    assert np.abs(utt["logits"]).sum() > 0


@pytest.mark.parametrize("transfer_perturb,speeds", [(None, ("0.9", "1.1")), ((), ()), ((0.9,), ("0.9",)),
                                                     ((1.1, 0.9), ("0.9", "1.1"))])
def test_transfer_set_count_is_exact(tmp_path, timit_perturbed_labelled, transfer_perturb, speeds):
    data, transfer, _ = timit_perturbed_labelled
    task, layout = _run(tmp_path, data, transfer, perturb=(0.9, 1.1), transfer_perturb=transfer_perturb)
    train_cfg = dataclasses.replace(task.cfg.mimic_train, batch_size=64)
    factors = timit.perturbed_counts(data)
    expected = timit.num_frames(data, "train") + sum(factors[k]["frames"] for k in speeds)
    train, _, count = task.transfer_datasets(layout, train_cfg)
    labels = np.concatenate([y["label"] for _, y in train.as_numpy_iterator()])
    assert count == expected == len(labels) == task.transfer_examples(layout)
    assert np.sum(labels == -1) == sum(factors[k]["frames"] for k in speeds)
    assert int(train.cardinality()) == -(-expected // 64)


def test_transfer_set_refuses_speeds_it_does_not_have(tmp_path, timit_perturbed_labelled, timit_records):
    data, transfer, teacher = timit_perturbed_labelled
    train_cfg = dataclasses.replace(config_lib.get_preset("timit-quick").mimic_train, batch_size=64)
    task, layout = _run(tmp_path, data, transfer, perturb=(0.9, 1.1), transfer_perturb=(1.2,))
    with pytest.raises(ValueError, match="speed\\(s\\) 1.2.*0.9, 1.1"):
        task.transfer_datasets(layout, train_cfg)
    # Data converted with copies, transfer set labelled from a conversion without them: relabel.
    stale = str(tmp_path / "stale")
    label_timit_with_teacher.label(timit_records, [teacher], stale)
    task, layout = _run(tmp_path / "b", data, stale, perturb=(0.9, 1.1))
    with pytest.raises(ValueError, match="another conversion.*rerun the label stage"):
        task.transfer_datasets(layout, train_cfg)
    assert _datasets(_run(tmp_path / "c", data, stale, transfer_perturb=()), train_cfg)[2] == \
        timit.num_frames(data, "train")


@pytest.fixture(scope="module")
def extra_labelled(tmp_path_factory):
    """(data, transfer): the tiny corpus converted with another corpus's speech, labelled by a linear teacher."""
    from pipelines import timit_to_tfrecord
    from tests import timit_fixtures as fx

    root = tmp_path_factory.mktemp("timit_extra")
    corpus = fx.make_corpus(str(root / "TIMIT"))
    extra = fx.make_corpus(str(root / "EXTRA"), train=tuple(("DR1", f"MEXT{i}") for i in range(8)),
                           test=(("DR1", "MTST0"),), utterances=("SX300", "SI400"), seed=1)
    data = str(root / "data")
    timit_to_tfrecord.convert(corpus, data, unlabelled=extra, log=lambda *_: None)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((timit.INPUT_DIM,))
    teacher = str(root / "teacher.keras")
    keras.Model(inputs, keras.layers.Dense(timit.NUM_STATES)(inputs)).save(teacher)
    transfer = str(root / "transfer")
    label_timit_with_teacher.label(data, [teacher], transfer)
    return data, transfer


def test_extra_speech_job_options(tmp_path, extra_labelled):
    data, _ = extra_labelled
    extra = writer.read_manifest(data)["source"]["unlabelled"]
    task, layout = _run(tmp_path, data, unlabelled=extra, full_test=True)
    options = task.prepare_options(layout)
    assert options.unlabelled == extra and options.full_test
    assert task.label_options(layout).splits == ("train", "dev", "test", "extra_0", "extra_1", "extra_2", "extra_3")


@pytest.mark.parametrize("share,parts", [(None, 4), (1, 4), (0.5, 2), (0.25, 1), (0, 0)])
def test_transfer_set_takes_a_share_of_the_extra_speech(tmp_path, extra_labelled, share, parts):
    data, transfer = extra_labelled
    task, layout = _run(tmp_path, data, transfer, transfer_unlabelled=share)
    train_cfg = dataclasses.replace(task.cfg.mimic_train, batch_size=16)
    extra_frames = sum(timit.num_frames(data, f"extra_{i}") for i in range(parts))
    expected = timit.num_frames(data, "train") + extra_frames
    train, _, count = task.transfer_datasets(layout, train_cfg)
    labels = np.concatenate([y["label"] for _, y in train.as_numpy_iterator()])
    assert count == expected == len(labels) and np.sum(labels == -1) == extra_frames


def test_extra_speech_shares_are_checked(tmp_path, extra_labelled, timit_records):
    data, transfer = extra_labelled
    train_cfg = config_lib.get_preset("timit-quick").mimic_train
    with pytest.raises(ValueError, match="one of 0, 0.25, 0.5, 0.75, 1"):
        _datasets(_run(tmp_path, data, transfer, transfer_unlabelled=0.3), train_cfg)
    with pytest.raises(ValueError, match="has no extra speech.*data.unlabelled"):
        _datasets(_run(tmp_path / "a", timit_records, transfer_unlabelled=0.5), train_cfg)


def test_distiller_trains_on_frames_without_labels(tmp_path, timit_perturbed_labelled):
    data, transfer, _ = timit_perturbed_labelled
    task, layout = _run(tmp_path, data, transfer, perturb=(0.9, 1.1))
    train_cfg = dataclasses.replace(task.cfg.mimic_train, batch_size=128)
    train, val, _ = task.transfer_datasets(layout, train_cfg)
    keras.utils.set_random_seed(0)
    student = keras.Sequential([keras.Input((timit.INPUT_DIM,)), keras.layers.Dense(8, activation="relu"),
                                keras.layers.Dense(timit.NUM_STATES)])
    distiller = Distiller(student, alpha=0.5)  # the label term too: -1 frames must be masked out of it
    distiller.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = distiller.fit(train, validation_data=val, epochs=1, verbose=0).history
    assert all(np.isfinite(v[-1]) for v in history.values())
    assert 0.0 <= history["accuracy"][-1] <= 1.0 and 0.0 <= history["agreement"][-1] <= 1.0


def test_stages_prepare_label_and_train_on_the_copies(tmp_path):
    """`fit` end to end on a tiny corpus: prepare writes the copies, label labels them, the mimic trains on them."""
    from mimic_keras import fit
    from tests import timit_fixtures as fx

    corpus = fx.make_corpus(str(tmp_path / "TIMIT"))
    workdir = str(tmp_path / "run")
    tiny = ["--timit", corpus, "--workdir", workdir, "teacher.kind=dnn", "teacher.num_teachers=1",
            "teacher.dense_units=(16,)", "mimic.bottleneck=8", "mimic.hidden=16", "teacher_train.epochs=1",
            "mimic_train.epochs=1", "teacher_train.batch_size=64", "mimic_train.batch_size=64"]
    assert fit.main(["prepare", "--preset", "timit-quick", *tiny]) == 0
    assert "unlabelled" not in writer.read_manifest(os.path.join(workdir, "data"))["splits"]
    tiny += ["data.perturb=(0.9,1.1)", "data.transfer_perturb=(1.1,)"]
    for stage in ("prepare", "teacher", "label", "mimic"):  # prepare again: the speeds changed
        assert fit.main([stage, "--preset", "timit-quick", *tiny]) == 0
    data = writer.read_manifest(os.path.join(workdir, "data"))
    assert sorted(data["splits"]["unlabelled"]["factors"]) == ["0.9", "1.1"]
    transfer = writer.read_manifest(os.path.join(workdir, "transfer"))
    assert transfer["splits"]["unlabelled"]["frames"] == data["splits"]["unlabelled"]["frames"]
    assert transfer["options"]["splits"] == ["train", "dev", "test", "unlabelled"]
    assert os.path.exists(os.path.join(workdir, "mimic", "model.keras"))


def test_split_batches_give_each_frame_of_a_split_once_with_its_state(tmp_path, timit_records):
    task, layout = _run(tmp_path, timit_records)
    assert task.eval_splits == ("dev", "test")
    for split in task.eval_splits:
        batches = list(task.split_batches(layout, split, 16))
        states = np.concatenate([np.asarray(y) for _, y in batches])
        assert all(x.shape[1:] == (timit_layout.input_dim(task.cfg.data.context),) for x, _ in batches)
        assert len(states) == timit.num_frames(timit_records, split)
        expected = np.concatenate([u["state"] for u in timit.load_utterances(timit_records, split).as_numpy_iterator()])
        np.testing.assert_array_equal(states, expected)  # file order


def test_states_are_reported_under_their_phone():
    names = TimitTask(config_lib.get_preset("timit-quick")).reported_classes(None)
    assert len(names) == timit.NUM_STATES and names[:4] == ["iy", "iy", "iy", "ih"] and names[-1] == "h#"
