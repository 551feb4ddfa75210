"""TIMIT labelling on Apache Beam (DirectRunner, one worker and two processes) gives the folder the
in-process job gives: same shards, utterances in the same order, frames, manifest; logits to
float tolerance. Skipped where apache-beam is not installed; `.ci/run`'s Beam lane runs them."""

import os

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.data import records, writer
from mimic_keras.data.manifest import Manifest
from pipelines import label_timit_with_teacher

beam = pytest.importorskip("apache_beam")
pytestmark = pytest.mark.beam

TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")


def _utterances(folder):
    """{shard file: [(id, speed, states, logits), ...]} in file order."""
    out = {}
    for split in Manifest.read(folder).splits.values():
        for shard in split.shards:
            parsed = [records.parse_timit_example(s, with_logits=True)
                      for s in tf.data.TFRecordDataset(os.path.join(folder, shard.file))]
            out[shard.file] = [(ex["id"].numpy(), float(ex["speed"]), ex["state"].numpy().tolist(),
                                ex["logits"].numpy()) for ex in parsed]
    return out


@pytest.mark.parametrize("beam_args", [(), TWO_WORKERS], ids=["one_worker", "two_processes"])
def test_beam_labels_exactly_what_the_in_process_job_labels(timit_perturbed_labelled, tmp_path, beam_args):
    data, local, teacher = timit_perturbed_labelled  # labelled in process with shards=2
    out = str(tmp_path / "beam")
    manifest = label_timit_with_teacher.run(label_timit_with_teacher.Options(
        data=data, teacher=(teacher,), out=out, shards=2, runner="beam", beam_args=beam_args, batch_utterances=3))
    expected = Manifest.read(local)
    assert manifest.fingerprint == expected.fingerprint and manifest.teacher == expected.teacher
    assert manifest.options["runner"] == "beam"
    assert set(manifest.splits) == set(expected.splits) and "unlabelled" in manifest.splits
    for name, split in expected.splits.items():
        got = manifest.splits[name]
        assert (got.count, got.frames, got.factors) == (split.count, split.frames, split.factors)
        assert [(s.file, s.count) for s in got.shards] == [(s.file, s.count) for s in split.shards]
        writer.split_files(out, name)  # counts and sha256 of every shard checked against the manifest
    ours, theirs = _utterances(out), _utterances(local)
    assert ours.keys() == theirs.keys()
    for shard in theirs:
        assert [u[:3] for u in ours[shard]] == [u[:3] for u in theirs[shard]]  # same utterances, same order
        for a, b in zip(ours[shard], theirs[shard]):
            np.testing.assert_allclose(a[3], b[3], rtol=1e-5, atol=1e-5)
    assert sorted(os.listdir(out)) == sorted([*theirs, "manifest.json"])
    # The in-process job takes the Beam folder as its own finished output: a no-op.
    again = label_timit_with_teacher.run(label_timit_with_teacher.Options(data=data, teacher=(teacher,), out=out,
                                                                          shards=2))
    assert again.to_dict() == manifest.to_dict()


def test_beam_options_without_the_beam_runner_are_refused(timit_records, tmp_path):
    with pytest.raises(ValueError, match="without --runner beam"):
        label_timit_with_teacher.run(label_timit_with_teacher.Options(
            data=timit_records, teacher=("t.keras",), out=str(tmp_path / "o"), beam_args=("--direct_num_workers=2",)))
