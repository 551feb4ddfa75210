"""TIMIT conversion on Apache Beam (DirectRunner, one worker and two processes) writes the folder
the in-process job writes: the same shards byte for byte (speed-perturbed copies and extra speech
included), the same counts and decoder statistics, the normalisation to float tolerance; a bad
file is the same one-line error and leaves nothing. Skipped where apache-beam is not installed."""

import os

import numpy as np
import pytest

from mimic_keras.data.manifest import Manifest
from pipelines import timit_to_tfrecord
from pipelines.timit_corpus import CorpusError
from tests import timit_fixtures as fx

beam = pytest.importorskip("apache_beam")
pytestmark = pytest.mark.beam

TWO_WORKERS = ("--direct_num_workers=2", "--direct_running_mode=multi_processing")
EXTRA_SPEAKERS = tuple(("DR1", f"MEXT{i}") for i in range(4))


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """(corpus, extra-speech corpus, the in-process conversion of both with speed copies)."""
    root = tmp_path_factory.mktemp("beam_timit")
    corpus = fx.make_corpus(str(root / "TIMIT"))
    extra = fx.make_corpus(str(root / "EXTRA"), train=EXTRA_SPEAKERS, test=(("DR1", "MTST0"),), utterances=("SX300", "SI400"), seed=3)
    local = str(root / "local")
    timit_to_tfrecord.run(_options(corpus, extra, local), log=lambda *_: None)
    return corpus, extra, local


def _options(corpus, extra, out, **kwargs):
    return timit_to_tfrecord.Options(timit=corpus, out=out, perturb=(0.9, 1.1), unlabelled=extra, shards=2, **kwargs)


@pytest.mark.parametrize("beam_args", [(), TWO_WORKERS], ids=["one_worker", "two_processes"])
def test_beam_converts_exactly_what_the_in_process_job_converts(corpora, tmp_path, beam_args):
    corpus, extra, local = corpora
    out = str(tmp_path / "beam")
    ours = timit_to_tfrecord.run(_options(corpus, extra, out, runner="beam", beam_args=beam_args),
                                 log=lambda *_: None)
    ours = Manifest.read(out).to_dict()
    theirs = Manifest.read(local).to_dict()
    assert {"train", "dev", "test", "unlabelled", "extra_0"} <= set(theirs["splits"])
    assert ours["splits"] == theirs["splits"]  # counts, frames, speakers, factors, shard names and sha256
    assert ours["fingerprint"] == theirs["fingerprint"] and ours["source"] == theirs["source"]
    norm, expected = ours.pop("normalization"), theirs.pop("normalization")
    np.testing.assert_allclose(norm["mean"], expected["mean"], rtol=1e-9)
    np.testing.assert_allclose(norm["std"], expected["std"], rtol=1e-9)
    assert norm["frames"] == expected["frames"]
    assert ours["train_stats"] == theirs["train_stats"]  # integer counts: exact
    for key in ("seconds", "options"):
        ours.pop(key), theirs.pop(key)
    assert ours == theirs
    assert sorted(os.listdir(out)) == sorted(os.listdir(local))


def test_a_bad_file_fails_as_in_process_and_leaves_nothing(corpora, tmp_path):
    _, extra, _ = corpora
    corpus = fx.make_corpus(str(tmp_path / "TIMIT"))
    audio, _ = fx.utterance_files(corpus, fx.TRAIN_SPEAKERS[2][1])
    with open(audio, "r+b") as f:
        f.truncate(1500)  # a cut SPHERE file: fewer samples than its header says
    with pytest.raises(CorpusError) as in_process:
        timit_to_tfrecord.run(_options(corpus, extra, str(tmp_path / "local")), log=lambda *_: None)
    out = str(tmp_path / "beam")
    with pytest.raises(CorpusError) as on_beam:
        timit_to_tfrecord.run(_options(corpus, extra, out, runner="beam", beam_args=TWO_WORKERS), log=lambda *_: None)
    assert str(on_beam.value) == str(in_process.value)
    assert not os.path.exists(out) and not [n for n in os.listdir(tmp_path) if n.startswith(".beam.")]
