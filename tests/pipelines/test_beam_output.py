"""The driver's side of the Beam jobs (`pipelines/beam_output.py`): the runner checks and the
check of the workers' shard report. No Beam needed, so these run in every lane, except the
runner check that needs apache-beam, marked beam for the Beam lane."""

import json
import os
import sys

import pytest

from mimic_keras.data import writer
from pipelines import beam_output, cifar10_to_tfrecord, label_timit_with_teacher, timit_to_tfrecord


def _report(build, reports):
    with open(os.path.join(build, beam_output.REPORT), "w") as f:
        json.dump(reports, f)


def _shard(build, name, records):
    return writer.write_shard(build, name, records)


def test_collect_checks_every_shard_and_writes_the_empty_ones(tmp_path):
    build = str(tmp_path)
    names = writer.shard_names("train", 3)
    reports = [["train", _shard(build, names[0], [b"a", b"b"]), {"frames": 5}],
               ["train", _shard(build, names[2], [b"c"]), {"frames": 2}]]
    _report(build, reports)
    shards, tally = beam_output.collect(build, {"train": 3}, {"train": 3})["train"]
    assert [s["file"] for s in shards] == names and [s["count"] for s in shards] == [2, 0, 1]
    assert shards[1]["sha256"] == writer.sha256_file(os.path.join(build, names[1]))  # written empty
    assert tally == {"frames": 7}
    assert not os.path.exists(os.path.join(build, beam_output.REPORT))  # read once, removed


def test_collect_refuses_lost_or_unreported_shards(tmp_path):
    build = str(tmp_path)
    names = writer.shard_names("train", 2)
    reports = [["train", _shard(build, names[0], [b"a"]), {}]]
    _report(build, reports)
    with pytest.raises(ValueError, match="split 'train' has 1 records, expected 2"):
        beam_output.collect(build, {"train": 2}, {"train": 2})
    with pytest.raises(ValueError, match="without writing it"):  # no report at all: the pipeline did not finish
        beam_output.collect(build, {"train": 2})
    _shard(build, names[1], [b"b"])  # a shard on disk that no worker reported: not trusted
    _report(build, reports)
    with pytest.raises(ValueError, match="written but not reported"):
        beam_output.collect(build, {"train": 2})


def test_runner_checks(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="without --runner beam"):
        beam_output.check_runner("local", ("--direct_num_workers=2",), "out")
    with pytest.raises(ValueError, match="an output URL needs --runner beam"):
        beam_output.check_runner("local", (), "gs://bucket/out")
    monkeypatch.setitem(sys.modules, "apache_beam", None)  # as where apache-beam is not installed
    with pytest.raises(ValueError, match=r"needs apache-beam: pip install -r requirements-beam.txt"):
        beam_output.check_runner("beam", (), "out")


@pytest.mark.beam  # the Beam lane: the default one has no apache-beam
def test_runner_checks_with_beam():
    pytest.importorskip("apache_beam")
    beam_output.check_runner("beam", (), "gs://bucket/out")  # the workers write through tf.io.gfile
    with pytest.raises(ValueError, match="inputs from a path"):
        beam_output.check_runner("beam", (), "out", "gs://bucket/data")


@pytest.mark.parametrize("job, options", [
    (cifar10_to_tfrecord, {"source": "tfds"}),
    (timit_to_tfrecord, {"timit": "TIMIT"}),
    (label_timit_with_teacher, {"data": "data", "teacher": ("t.keras",)}),
])
def test_jobs_without_apache_beam_stop_with_one_line(job, options, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "apache_beam", None)
    argv = [*(a for k, v in options.items() for a in ([f"--{k}", *v] if isinstance(v, tuple) else [f"--{k}", v])),
            "--out", str(tmp_path / "out"), "--runner", "beam"]
    assert job.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs apache-beam" in err
    assert not os.path.exists(tmp_path / "out")
