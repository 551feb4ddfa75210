"""Image conversion on Apache Beam (DirectRunner, one worker and two processes) writes the folder the
in-process job writes, byte for byte; a bad image or a failing worker leaves nothing that counts
as done. Skipped where apache-beam is not installed; `.ci/run`'s Beam lane runs them."""

import os
import shutil
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.data import cifar10, records, writer
from mimic_keras.data.manifest import Manifest
from pipelines import cifar10_to_tfrecord, images_to_tfrecord
from pipelines.cifar10_sources import SourceError

beam = pytest.importorskip("apache_beam")
pytestmark = pytest.mark.beam

TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")


def _tree(root, n_train=60, n_test=20, size=32):
    """A class-per-folder JPEG tree (what `/work/shared/data/cifar10-jpeg.tar` holds), seeded."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for i in range(n):
            label = (i * 7 + len(split)) % 10
            folder = os.path.join(root, split, cifar10.CLASSES[label])
            os.makedirs(folder, exist_ok=True)
            image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            with open(os.path.join(folder, f"{i:04d}.jpg"), "wb") as f:
                f.write(tf.io.encode_jpeg(image).numpy())
    return root


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """(plain tar of a JPEG tree, folder of unlabelled PNGs, in-process output folder)."""
    root = tmp_path_factory.mktemp("beam_images")
    tree = _tree(str(root / "tree"))
    tar = str(root / "tree.tar")
    with tarfile.open(tar, "w") as archive:
        for name in ("train", "test"):
            archive.add(os.path.join(tree, name), arcname=name)
    extra = root / "extra"
    extra.mkdir()
    for i, image in enumerate(np.random.default_rng(1).integers(0, 256, (7, 32, 32, 3), dtype=np.uint8)):
        (extra / f"{i}.png").write_bytes(tf.io.encode_png(image).numpy())
    local = str(root / "local")
    cifar10_to_tfrecord.run(_options(tar, str(extra), local), verbose=False)
    return tar, str(extra), local


def _options(src, extra, out, **kwargs):
    # 3 shards: records move between shards; val_size 8 carves a validation split.
    return cifar10_to_tfrecord.Options(source=src, unlabelled=extra, out=out, val_size=8, shards=3, **kwargs)


def _by_id(folder):
    out = {}
    for name, split in Manifest.read(folder).splits.items():
        for s in tf.data.TFRecordDataset(writer.split_files(folder, name)):
            ex = tf.io.parse_single_example(s, records.IMAGE_FEATURES)
            out[ex["id"].numpy()] = (name, ex["image"].numpy(), int(ex["label"]))
    return out


def _same_folder(ours, theirs):
    a, b = Manifest.read(ours), Manifest.read(theirs)
    assert a.fingerprint == b.fingerprint
    for name, split in b.splits.items():
        got = a.splits[name]
        assert got.count == split.count and got.extra == split.extra  # class counts, encodings
        assert [s.to_dict() for s in got.shards] == [s.to_dict() for s in split.shards]  # names, counts, sha256
    assert a.splits.keys() == b.splits.keys()
    assert _by_id(ours) == _by_id(theirs)
    assert sorted(os.listdir(ours)) == sorted(os.listdir(theirs))


@pytest.mark.parametrize("beam_args", [(), TWO_WORKERS], ids=["one_worker", "two_processes"])
def test_beam_converts_exactly_what_the_in_process_job_converts(source, tmp_path, beam_args):
    tar, extra, local = source
    out = str(tmp_path / "beam")
    manifest = cifar10_to_tfrecord.run(_options(tar, extra, out, runner="beam", beam_args=beam_args), verbose=False)
    assert manifest.options["runner"] == "beam" and manifest.splits["unlabelled"].count == 7
    assert manifest.extra["image_encoding"] == "mixed"  # the tree's JPEGs and the extra PNGs, kept as they are
    _same_folder(out, local)
    # The in-process job takes the Beam folder as its own finished conversion: a no-op.
    written = Manifest.read(out).to_dict()
    assert cifar10_to_tfrecord.run(_options(tar, extra, out), verbose=False).to_dict() == written


def test_images_job_on_beam_writes_the_same_shards(source, tmp_path):
    tar, extra, _ = source
    options = dict(source=tar, image_size=16, channels=1, val_fraction=0.2)
    local = images_to_tfrecord.run(images_to_tfrecord.Options(out=str(tmp_path / "local"), **options), verbose=False)
    out = str(tmp_path / "beam")
    images_to_tfrecord.run(images_to_tfrecord.Options(out=out, runner="beam", **options), verbose=False)
    assert local.splits["train"].count > 0 and Manifest.read(out).extra["image_shape"] == [16, 16, 1]
    _same_folder(out, str(tmp_path / "local"))


def _tree_copy(source, tmp_path):
    tar, _, _ = source
    folder = str(tmp_path / "src")
    with tarfile.open(tar) as archive:
        archive.extractall(folder, filter="data")
    return folder


def _nothing_left(out):
    parent, name = os.path.split(out)
    assert not os.path.exists(out)
    assert not [n for n in os.listdir(parent) if n.startswith(f".{name}.")]  # no build folder


@pytest.mark.parametrize("breakage", ["truncated", "duplicate"])
def test_a_bad_image_fails_as_in_process_and_leaves_nothing(source, tmp_path, breakage):
    src = _tree_copy(source, tmp_path)
    dog = os.path.join(src, "train", "dog")
    first, second = sorted(os.listdir(dog))[:2]
    if breakage == "truncated":
        with open(os.path.join(dog, second), "r+b") as f:
            f.truncate(40)
    else:  # a training image also in test: refused, naming both copies
        shutil.copy(os.path.join(dog, first), os.path.join(src, "test", "cat", "9999.jpg"))
    with pytest.raises(SourceError) as in_process:
        cifar10_to_tfrecord.run(_options(src, None, str(tmp_path / "local")), verbose=False)
    out = str(tmp_path / "beam")
    with pytest.raises(SourceError) as on_beam:
        cifar10_to_tfrecord.run(_options(src, None, out, runner="beam", beam_args=TWO_WORKERS), verbose=False)
    assert str(on_beam.value) == str(in_process.value)
    _nothing_left(out)


def test_a_failing_worker_leaves_the_previous_output_and_a_rerun_works(source, tmp_path, monkeypatch):
    tar, extra, local = source
    out = str(tmp_path / "beam")
    shutil.copytree(local, out)  # an earlier finished output, which must survive the failure
    before = {name: writer.sha256_file(os.path.join(out, name)) for name in os.listdir(out)}
    encode = cifar10_to_tfrecord.encode

    def crash_on_one(example, resize=False):
        if example.id.endswith("0013.jpg"):
            raise RuntimeError("worker lost")
        return encode(example, resize)

    monkeypatch.setattr(cifar10_to_tfrecord, "encode", crash_on_one)  # the in-process DirectRunner sees it
    with pytest.raises(Exception, match="worker lost"):
        cifar10_to_tfrecord.run(_options(tar, extra, out, runner="beam", force=True), verbose=False)
    assert {name: writer.sha256_file(os.path.join(out, name)) for name in os.listdir(out)} == before
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".beam.")]
    monkeypatch.undo()
    shutil.rmtree(out)
    cifar10_to_tfrecord.run(_options(tar, extra, out, runner="beam"), verbose=False)
    _same_folder(out, local)


def test_beam_options_without_the_beam_runner_are_refused(source, tmp_path):
    tar, _, _ = source
    with pytest.raises(ValueError, match="without --runner beam"):
        cifar10_to_tfrecord.run(_options(tar, None, str(tmp_path / "o"), beam_args=("--direct_num_workers=2",)))


def test_fit_prepares_on_beam_what_it_prepares_in_process(source, tmp_path):
    from mimic_keras import fit
    from mimic_keras.layout import Layout

    tar, _, _ = source
    folders = {}
    for runner in ("local", "beam"):
        workdir = str(tmp_path / runner)
        argv = ["prepare", "--preset", "cifar10-quick", "--workdir", workdir, f"data.source={tar}",
                "data.val_size=8", f"data.runner={runner}"]
        if runner == "beam":
            argv.append("data.beam_options='--direct_num_workers=2 --direct_running_mode=multi_processing'")
        assert fit.main(argv) == 0
        folders[runner] = Layout(workdir).data
    assert Manifest.read(folders["beam"]).options["beam_args"] == ["--direct_num_workers=2",
                                                                    "--direct_running_mode=multi_processing"]
    _same_folder(folders["beam"], folders["local"])


def _ram_shards(folder):
    """{shard file: sha256} of a folder on TensorFlow's in-memory file system, read through tf.io.gfile."""
    import hashlib

    out = {}
    for split in Manifest.read(folder).splits.values():
        for shard in split.shards:
            with tf.io.gfile.GFile(f"{folder}/{shard.file}", "rb") as f:
                assert hashlib.sha256(f.read()).hexdigest() == shard.sha256
            out[shard.file] = shard.sha256
    return out


def test_an_output_url_is_written_through_gfile_manifest_last(source, monkeypatch):
    # TensorFlow's `ram://` file system stands in for `gs://` (no bucket here); the in-process
    # DirectRunner's workers share it with the driver.
    tar, extra, local = source
    out = "ram://beam-tests/converted"
    encode = cifar10_to_tfrecord.encode

    def crash_on_one(example, resize=False):
        if example.id.endswith("0013.jpg"):
            raise RuntimeError("worker lost")
        return encode(example, resize)

    monkeypatch.setattr(cifar10_to_tfrecord, "encode", crash_on_one)
    with pytest.raises(Exception, match="worker lost"):
        cifar10_to_tfrecord.run(_options(tar, extra, out, runner="beam"), verbose=False)
    assert not tf.io.gfile.exists(f"{out}/manifest.json")  # what the failed run wrote is not done
    assert not writer.is_complete(out)
    monkeypatch.undo()
    manifest = cifar10_to_tfrecord.run(_options(tar, extra, out, runner="beam"), verbose=False)
    assert manifest.options["out"] == out
    expected = {s.file: s.sha256 for split in Manifest.read(local).splits.values() for s in split.shards}
    assert _ram_shards(out) == expected
    assert sorted(tf.io.gfile.listdir(out)) == sorted([*expected, "manifest.json"])
    again = cifar10_to_tfrecord.run(_options(tar, extra, out, runner="beam"), verbose=False)  # a no-op
    assert again.to_dict() == Manifest.read(out).to_dict()
    with pytest.raises(ValueError, match="an output URL needs --runner beam"):
        cifar10_to_tfrecord.run(_options(tar, extra, out), verbose=False)
