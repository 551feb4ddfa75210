"""Labelling on Apache Beam (DirectRunner, one worker and two processes) gives the folder the
in-process job gives: same shards, records, order and manifest; logits to float tolerance.
Skipped where apache-beam is not installed (the default lane); `.ci/run`'s Beam lane runs them."""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.data import records, writer
from mimic_keras.data.manifest import Manifest
from pipelines import label_with_teacher
from tests.helpers import save_tiny_teachers, write_image_dir

beam = pytest.importorskip("apache_beam")
pytestmark = pytest.mark.beam

TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam_label")
    data = str(root / "data")
    write_image_dir(data, {"train": 40, "validation": 6, "unlabelled": 5})  # train: 2 source shards
    paths = save_tiny_teachers(root)
    local = str(root / "local")
    label_with_teacher.run(_options(data, paths, local))
    return root, data, paths, local


def _options(data, paths, out, **kwargs):
    # views=2 and 3 output shards: records move between shards and get augmented views.
    return label_with_teacher.Options(data=data, teacher=tuple(paths), out=out, views=2, shards=3, batch_size=16,
                                      **kwargs)


def _shard_records(folder, num_classes=10):
    """{shard file: [parsed record, ...]} in file order."""
    spec = records.logits_features(num_classes)
    out = {}
    for split in Manifest.read(folder).splits.values():
        for shard in split.shards:
            ds = tf.data.TFRecordDataset(os.path.join(folder, shard.file))
            out[shard.file] = [{k: v.numpy() for k, v in tf.io.parse_single_example(s, spec).items()} for s in ds]
    return out


@pytest.mark.parametrize("beam_args", [(), TWO_WORKERS], ids=["one_worker", "two_processes"])
def test_beam_labels_exactly_what_the_in_process_job_labels(setup, beam_args):
    root, data, paths, local = setup
    out = str(root / f"beam_{len(beam_args)}")
    manifest = label_with_teacher.run(_options(data, paths, out, runner="beam", beam_args=beam_args))
    expected = Manifest.read(local)
    # The manifest: the same fingerprint, teachers, splits, shard names and counts.
    assert manifest.fingerprint == expected.fingerprint and manifest.teacher == expected.teacher
    assert manifest.options["runner"] == "beam" and list(manifest.options["beam_args"]) == list(beam_args)
    for name, split in expected.splits.items():
        got = manifest.splits[name]
        assert (got.count, got.views, got.mixup) == (split.count, split.views, split.mixup)
        assert [(s.file, s.count) for s in got.shards] == [(s.file, s.count) for s in split.shards]
        for shard in got.shards:
            assert shard.sha256 == writer.sha256_file(os.path.join(out, shard.file))
    assert manifest.splits["train"].count == 40 * 3
    # Every record in the same shard and position: images, ids, labels, views equal; logits close.
    ours, theirs = _shard_records(out), _shard_records(local)
    assert ours.keys() == theirs.keys()
    for shard in theirs:
        assert len(ours[shard]) == len(theirs[shard])
        for a, b in zip(ours[shard], theirs[shard]):
            assert (a["id"], a["view"], a["label"], a["image"]) == (b["id"], b["view"], b["label"], b["image"])
            np.testing.assert_allclose(a["logits"], b["logits"], rtol=1e-5, atol=1e-5)
    # Nothing hidden left behind, and the in-process job takes the folder as its own finished output.
    assert sorted(os.listdir(out)) == sorted([*theirs, "manifest.json"])
    assert writer.is_complete(out, expected.fingerprint)
    assert label_with_teacher.run(_options(data, paths, out)).to_dict() == manifest.to_dict()  # a no-op


def test_a_failing_worker_leaves_no_output_that_counts_as_done(setup):
    root, data, paths, local = setup
    broken = str(root / "broken_data")
    shutil.copytree(data, broken)
    shard = os.path.join(broken, Manifest.read(broken).splits["train"].shards[1].file)
    with open(shard, "r+b") as f:  # a truncated source shard: the worker reading it fails mid-way
        f.truncate(os.path.getsize(shard) // 2)
    out = str(root / "beam_failed")
    shutil.copytree(local, out)  # an earlier finished output, which must survive the failure
    before = {name: writer.sha256_file(os.path.join(out, name)) for name in os.listdir(out)}
    with pytest.raises(Exception, match="(?i)corrupt|truncat|data ?loss|length"):
        label_with_teacher.run(_options(broken, paths, out, runner="beam", beam_args=TWO_WORKERS, force=True))
    assert {name: writer.sha256_file(os.path.join(out, name)) for name in os.listdir(out)} == before
    assert not [n for n in os.listdir(root) if n.startswith(".beam_failed.")]  # no build folder left


def test_an_output_url_is_labelled_through_gfile(setup):
    # TensorFlow's `ram://` file system stands in for `gs://` (no bucket here).
    root, data, paths, local = setup
    out = "ram://beam-tests/labelled"
    manifest = label_with_teacher.run(_options(data, paths, out, runner="beam"))
    expected = Manifest.read(local)
    assert Manifest.read(out).fingerprint == expected.fingerprint == manifest.fingerprint
    for name, split in expected.splits.items():
        assert [(s.file, s.count) for s in Manifest.read(out).splits[name].shards] == [
            (s.file, s.count) for s in split.shards]
    files = sorted(s.file for split in expected.splits.values() for s in split.shards)
    assert sorted(tf.io.gfile.listdir(out)) == sorted([*files, "manifest.json"])
    ids = [tf.io.parse_single_example(s, records.logits_features(10))["id"].numpy()
           for s in tf.data.TFRecordDataset(f"{out}/{files[0]}")]
    assert ids == [r["id"] for r in _shard_records(local)[files[0]]]
    assert label_with_teacher.run(_options(data, paths, out, runner="beam")).to_dict() == Manifest.read(out).to_dict()
