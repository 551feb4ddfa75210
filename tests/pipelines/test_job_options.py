"""The four data jobs as typed, in-process jobs: CLIs generated from `Options`, the same output
in process as from the command line, atomic output, and a fast failure offline."""

import dataclasses
import json
import os

import keras
import pytest

from mimic_keras import jobs
from mimic_keras.config import TeacherConfig
from mimic_keras.data import writer
from mimic_keras.data.manifest import Manifest
from mimic_keras.models.convnet import build_teacher
from pipelines import cifar10_tfds, cifar10_to_tfrecord, label_timit_with_teacher, label_with_teacher
from pipelines import timit_to_tfrecord
from tests import timit_fixtures
from tests.helpers import write_image_dir
from tests.pipelines.test_cifar10_to_tfrecord import make_binary

# The flags as the README, `mimic_keras/tasks/*` and the tests have always spelled them.
FLAGS = {
    cifar10_to_tfrecord: ["--out", "--source", "--format", "--unlabelled", "--limit", "--shards", "--val-size",
                          "--resize", "--force", "--follow-links", "--runner"],
    timit_to_tfrecord: ["--timit", "--out", "--dev-speakers", "--full-test", "--include-sa", "--perturb",
                        "--unlabelled", "--shards", "--limit", "--force", "--runner"],
    label_with_teacher: ["--data", "--teacher", "--out", "--views", "--mixup", "--mixup-alpha", "--splits",
                         "--batch-size", "--shards", "--force", "--runner"],
    label_timit_with_teacher: ["--data", "--teacher", "--out", "--context", "--splits", "--batch-frames", "--shards",
                               "--force", "--runner", "--batch-utterances"],
}
JOBS = list(FLAGS)


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.__name__.split(".")[-1])
def test_the_cli_is_generated_from_options(job, capsys):
    parser = jobs.build_parser(job.Options)
    actions = [a for a in parser._actions if a.dest != "help"]
    # A `rest` field (the Beam pipeline options) has no flag: it takes the arguments after `--`.
    assert [a.dest for a in actions] == [f.name for f in dataclasses.fields(job.Options) if not f.metadata.get("rest")]
    assert [a.option_strings[0] for a in actions] == FLAGS[job]
    with pytest.raises(SystemExit):
        job.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(job.Options):
        assert " ".join(field.metadata["help"].split()) in text


@pytest.mark.parametrize("job", JOBS, ids=lambda j: j.__name__.split(".")[-1])
def test_options_survive_the_command_line(job):
    required = {f.name: ("x.keras",) if f.name == "teacher" else "x" for f in dataclasses.fields(job.Options)
                if f.default is dataclasses.MISSING}
    for options in (job.Options(**required), job.Options(**required, force=True, shards=3)):
        assert jobs.parse_options(job.Options, jobs.to_argv(options)) == options


def _without_time(manifest):
    return {k: v for k, v in manifest.to_dict().items() if k != "seconds"}


def _shards(folder):
    return {s: [x.sha256 for x in v.shards] for s, v in Manifest.read(folder).splits.items()}


def test_cifar10_in_process_equals_cli(tmp_path):
    src, _ = make_binary(tmp_path / "src")
    cli, here = str(tmp_path / "cli"), str(tmp_path / "here")
    assert cifar10_to_tfrecord.main(["--source", src, "--out", cli, "--val-size", "10", "--limit", "12",
                                     "--shards", "2"]) == 0
    manifest = cifar10_to_tfrecord.run(
        cifar10_to_tfrecord.Options(source=src, out=here, val_size=10, limit=12, shards=2), verbose=False
    )
    assert isinstance(manifest, Manifest) and _shards(cli) == _shards(here)
    assert manifest.options == json.loads(json.dumps(dataclasses.asdict(cifar10_to_tfrecord.Options(
        source=os.path.abspath(src), out=os.path.abspath(here), val_size=10, limit=12, shards=2))))
    assert Manifest.read(cli).options == {**manifest.options, "out": os.path.abspath(cli)}
    assert manifest.fingerprint == Manifest.read(cli).fingerprint and manifest.source.path == os.path.abspath(src)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return timit_fixtures.make_corpus(str(tmp_path_factory.mktemp("timit") / "TIMIT"))


def test_timit_in_process_equals_cli(corpus, tmp_path):
    cli, here = str(tmp_path / "cli"), str(tmp_path / "here")
    assert timit_to_tfrecord.main(["--timit", corpus, "--out", cli, "--limit", "2", "--perturb", "1.1,0.9"]) == 0
    manifest = timit_to_tfrecord.run(
        timit_to_tfrecord.Options(timit=corpus, out=here, limit=2, perturb=(0.9, 1.1)), log=lambda *_: None
    )
    assert _shards(cli) == _shards(here) and manifest.fingerprint == Manifest.read(cli).fingerprint
    assert manifest.options["perturb"] == [0.9, 1.1] and manifest.options["timit"] == os.path.abspath(corpus)
    assert manifest.source.root == os.path.abspath(corpus) and manifest.source.get("perturb") == [0.9, 1.1]
    assert _without_time(Manifest.read(cli)) == {**_without_time(manifest), "options": {**manifest.options, "out": cli}}


@pytest.fixture(scope="module")
def image_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("label")
    data = str(root / "data")
    write_image_dir(data, {"train": 6, "validation": 4})
    keras.utils.set_random_seed(0)
    teacher = str(root / "teacher.keras")
    build_teacher(TeacherConfig(conv_filters=(4,), dense_units=(8,))).save(teacher)
    return data, teacher


def test_labelling_in_process_equals_cli(image_data, tmp_path):
    data, teacher = image_data
    cli, here = str(tmp_path / "cli"), str(tmp_path / "here")
    assert label_with_teacher.main(["--data", data, "--teacher", teacher, "--out", cli, "--views", "1",
                                    "--splits", "train"]) == 0
    options = label_with_teacher.Options(data=data, teacher=(teacher,), out=here, views=1, splits=("train",))
    manifest = label_with_teacher.run(options)
    assert _shards(cli) == _shards(here) and manifest.fingerprint == Manifest.read(cli).fingerprint
    assert manifest.options == json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(
        options, data=os.path.abspath(data), out=os.path.abspath(here)))))
    assert manifest.teacher.paths == [os.path.abspath(teacher)] and manifest.splits["train"].views == 1


def _failing_after(generator_fn, n):
    def wrapped(*args, **kwargs):
        for i, item in enumerate(generator_fn(*args, **kwargs)):
            if i == n:
                raise KeyboardInterrupt("killed mid-write")
            yield item

    return wrapped


def _no_leftovers(parent):
    return not [n for n in os.listdir(parent) if ".tmp-" in n or ".old-" in n]


def test_a_conversion_stopped_mid_write_leaves_the_old_output(tmp_path, monkeypatch):
    src, _ = make_binary(tmp_path / "src")
    out = str(tmp_path / "out")
    before = cifar10_to_tfrecord.convert(src, out, val_size=10, limit=8, verbose=False)
    monkeypatch.setattr(cifar10_to_tfrecord.writer, "write_shards",
                        lambda d, s, recs, n, real=writer.write_shards: real(d, s, _failing_after(iter, 3)(recs), n))
    with pytest.raises(KeyboardInterrupt):
        cifar10_to_tfrecord.convert(src, out, val_size=10, limit=9, verbose=False, force=True)
    assert writer.read_manifest(out) == before and _no_leftovers(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        cifar10_to_tfrecord.convert(src, str(tmp_path / "new"), val_size=10, verbose=False)
    assert not os.path.exists(tmp_path / "new") and _no_leftovers(tmp_path)


def test_timit_and_labelling_stopped_mid_write_leave_nothing_complete(corpus, image_data, tmp_path, monkeypatch):
    monkeypatch.setattr(timit_to_tfrecord, "utterance_records",
                        _failing_after(timit_to_tfrecord.utterance_records, 1))
    with pytest.raises(KeyboardInterrupt):
        timit_to_tfrecord.convert(corpus, str(tmp_path / "timit"), log=lambda *_: None)
    labelled_records = _failing_after(label_with_teacher._labelled_records, 2)
    monkeypatch.setattr(label_with_teacher, "_labelled_records", labelled_records)
    data, teacher = image_data
    with pytest.raises(KeyboardInterrupt):
        label_with_teacher.label(data, [teacher], str(tmp_path / "labelled"))
    for out in ("timit", "labelled"):
        assert not writer.is_complete(str(tmp_path / out)) and not os.path.exists(tmp_path / out)
    assert _no_leftovers(tmp_path)


def test_tfds_offline_fails_fast_naming_the_override(tmp_path, monkeypatch, capsys):
    pytest.importorskip("tensorflow_datasets")
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))  # nothing prepared: a download is needed
    monkeypatch.setattr(cifar10_tfds, "DOWNLOAD_HOST", ("cifar.invalid", 443))  # never resolves (RFC 6761)
    # Fast means: one bounded connection attempt, and TFDS's own download (which retries for
    # minutes) never started. Checked by behaviour, not by the clock: importing TFDS alone can
    # take tens of seconds on a loaded machine.
    import tensorflow_datasets as tfds

    attempts = []
    reachable = cifar10_tfds.reachable
    monkeypatch.setattr(cifar10_tfds, "reachable", lambda *a, **k: attempts.append(1) or reachable(*a, **k))

    def no_download(*_, **__):
        raise AssertionError("TFDS's retrying download started")

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", no_download)
    assert cifar10_to_tfrecord.main(["--source", "tfds", "--out", str(tmp_path / "out")]) == 2
    assert attempts == [1]
    err = capsys.readouterr().err.splitlines()[-1]
    assert err.startswith("error: data.source=tfds needs the network")
    assert "pass data.source=PATH" in err and not os.path.exists(tmp_path / "out")
