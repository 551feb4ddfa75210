import os

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.data import records, timit, writer


def _teacher_logits(states):
    """Deterministic fake teacher: logits that depend on the frame's state."""
    return np.eye(183, dtype=np.float32)[states] * 5.0 + np.asarray(states, np.float32)[:, None] / 100.0


@pytest.fixture(scope="module")
def labelled_dir(timit_records, tmp_path_factory):
    """A teacher-labelled copy, as a labelling job writes it (manifest points at its source)."""
    out = str(tmp_path_factory.mktemp("labelled"))
    manifest = {"dataset": "timit", "source": {"path": timit_records}, "splits": {}}
    for split in ("train", "dev", "test"):
        recs = []
        for serialized in tf.data.TFRecordDataset(writer.split_files(timit_records, split)):
            states = records.parse_timit_example(serialized)["state"].numpy()
            recs.append(records.timit_logits_example(serialized.numpy(), _teacher_logits(states)))
        manifest["splits"][split] = {"count": len(recs), "shards": writer.write_shards(out, split, recs, 2)}
    writer.write_manifest(out, manifest)
    return out


def test_context_windows_replicate_edge_frames():
    feats = tf.constant([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0], [4.0, 40.0]])
    win = timit.context_windows(feats, context=2).numpy()
    assert win.shape == (4, 10)
    assert win[0].tolist() == [1, 10, 1, 10, 1, 10, 2, 20, 3, 30]
    assert win[1].tolist() == [1, 10, 1, 10, 2, 20, 3, 30, 4, 40]
    assert win[3].tolist() == [2, 20, 3, 30, 4, 40, 4, 40, 4, 40]
    one = timit.context_windows(feats[:1], context=7).numpy()
    assert one.shape == (1, 30) and np.all(one == np.tile([1.0, 10.0], 15))


def test_constants():
    assert timit.NUM_STATES == 183 and timit.INPUT_DIM == 1845 == 15 * 123


def test_load_utterances(timit_records):
    utts = list(timit.load_utterances(timit_records, "train").as_numpy_iterator())
    assert len(utts) == timit.num_utterances(timit_records, "train") == 10
    assert sum(len(u["state"]) for u in utts) == timit.num_frames(timit_records, "train")
    u = utts[0]
    assert u["features"].shape == (len(u["state"]), 123) and u["features"].dtype == np.float32
    assert u["id"].decode().startswith(u["speaker"].decode() + "_")
    normed = np.concatenate([u["features"] for u in timit.load_utterances(timit_records, "train", normalize=True)
                             .as_numpy_iterator()])
    np.testing.assert_allclose(normed.mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(normed.std(0), 1.0, atol=1e-3)


def test_frame_pipeline_in_order(timit_records):
    mean, std = timit.normalization(timit_records)
    utts = list(timit.load_utterances(timit_records, "dev").as_numpy_iterator())
    batches = list(timit.frame_pipeline(timit_records, "dev", 32).as_numpy_iterator())
    frames = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert frames.shape == (timit.num_frames(timit_records, "dev"), 1845) and frames.dtype == np.float32
    assert labels.dtype == np.int32
    np.testing.assert_array_equal(labels, np.concatenate([u["state"] for u in utts]))
    # The centre of each window is the normalised frame; the first frame is its own left context.
    first = (utts[0]["features"] - mean) / std
    np.testing.assert_allclose(frames[:, 7 * 123:8 * 123], np.concatenate([(u["features"] - mean) / std for u in utts]),
                               atol=1e-5)
    np.testing.assert_allclose(frames[0].reshape(15, 123)[:8], np.tile(first[0], (8, 1)), atol=1e-5)
    np.testing.assert_allclose(frames[0].reshape(15, 123)[8], first[1], atol=1e-5)


def test_frame_pipeline_shuffles_frames_across_utterances(timit_records):
    ds = timit.frame_pipeline(timit_records, "train", 64, training=True, seed=3, shuffle_buffer=4096)
    first = [b[1] for b in ds.take(3).as_numpy_iterator()]
    again = [b[1] for b in timit.frame_pipeline(timit_records, "train", 64, training=True, seed=3,
                                                shuffle_buffer=4096).take(3).as_numpy_iterator()]
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)  # seeded: reproducible
    ordered = next(timit.frame_pipeline(timit_records, "train", 64).as_numpy_iterator())[1]
    assert not np.array_equal(first[0], ordered)
    # Frames of one batch come from many utterances: many distinct phones, not one run.
    assert len(np.unique(first[0] // 3)) > 5
    total = sum(len(b[1]) for b in timit.frame_pipeline(timit_records, "train", 64, training=True, seed=3))
    assert total == timit.num_frames(timit_records, "train")


def test_frame_pipeline_context_option(timit_records):
    x, _ = next(iter(timit.frame_pipeline(timit_records, "test", 8, context=2)))
    assert x.shape == (8, 5 * 123)


def test_distill_targets_from_labelled_records(labelled_dir, timit_records):
    assert timit.num_frames(labelled_dir, "test") == timit.num_frames(timit_records, "test")
    x, y = next(iter(timit.frame_pipeline(labelled_dir, "test", 16, target="distill")))
    assert x.shape == (16, 1845) and set(y) == {"logits", "label"}
    assert y["logits"].shape == (16, 183) and y["label"].dtype == tf.int32
    np.testing.assert_allclose(y["logits"].numpy(), _teacher_logits(y["label"].numpy()), atol=1e-6)
    ref_x, _ = next(iter(timit.frame_pipeline(timit_records, "test", 16)))
    np.testing.assert_allclose(x.numpy(), ref_x.numpy())  # normalisation followed to the source
    shuffled = timit.frame_pipeline(labelled_dir, "train", 32, training=True, target="distill", seed=0)
    for x, y in shuffled.take(2):
        np.testing.assert_allclose(y["logits"].numpy(), _teacher_logits(y["label"].numpy()), atol=1e-6)
    utt = next(iter(timit.load_utterances(labelled_dir, "dev", with_logits=True)))
    assert utt["logits"].shape == (utt["state"].shape[0], 183)


def test_logits_example_checks_the_frame_count(timit_records):
    serialized = next(iter(tf.data.TFRecordDataset(writer.split_files(timit_records, "test")))).numpy()
    with pytest.raises(ValueError, match="logits of shape"):
        records.timit_logits_example(serialized, np.zeros((3, 183)))


def test_bad_target(timit_records):
    with pytest.raises(ValueError, match="target"):
        timit.frame_pipeline(timit_records, "test", 8, target="probs")


def test_missing_statistics_are_an_error(tmp_path):
    writer.write_manifest(str(tmp_path), {"splits": {}})
    with pytest.raises(KeyError, match="normalization"):
        timit.normalization(str(tmp_path))
    assert not os.path.exists(os.path.join(str(tmp_path), "train.tfrecord-00000-of-00001"))


def test_frame_pipeline_knows_its_length(timit_records):
    frames = timit.num_frames(timit_records, "train")
    ds = timit.frame_pipeline(timit_records, "train", 64, training=True)
    assert int(ds.cardinality()) == -(-frames // 64) == len(list(ds))
    dropped = timit.frame_pipeline(timit_records, "train", 64, drop_remainder=True)
    assert int(dropped.cardinality()) == frames // 64 == len(list(dropped))


# --- speed-perturbed copies in one stream with the training frames -----------------------------

def _labels(ds):
    return np.concatenate([y for _, y in ds.as_numpy_iterator()])


@pytest.mark.parametrize("speeds", [None, (0.9,), (1.1, 0.9), ()])
def test_perturbed_copies_join_the_training_frames_counted_exactly(timit_perturbed_records, speeds):
    data = timit_perturbed_records
    factors = timit.perturbed_counts(data)
    chosen = sorted(factors) if speeds is None else [timit.speed_key(f) for f in speeds]
    expected = timit.num_frames(data, "train") + sum(factors[k]["frames"] for k in chosen)
    assert timit.num_frames(data, ("train", "unlabelled"), speeds) == expected
    ds = timit.frame_pipeline(data, ("train", "unlabelled"), 64, training=True, seed=1, speeds=speeds)
    labels = _labels(ds)
    assert len(labels) == expected and int(ds.cardinality()) == -(-expected // 64)
    assert np.sum(labels >= 0) == timit.num_frames(data, "train")
    assert np.sum(labels == -1) == sum(factors[k]["frames"] for k in chosen)


def test_speeds_pick_the_copies_by_their_factor(timit_perturbed_records):
    ids = [u["id"].decode() for u in timit.load_utterances(timit_perturbed_records, "unlabelled").as_numpy_iterator()]
    assert len(ids) == 20 and {i.rsplit("_sp", 1)[1] for i in ids} == {"0.9", "1.1"}
    frames = timit.frame_pipeline(timit_perturbed_records, "unlabelled", 1000, speeds=(1.1,))
    assert len(_labels(frames)) == timit.perturbed_counts(timit_perturbed_records)["1.1"]["frames"]
    with pytest.raises(ValueError, match="no copies at speed 1.2"):
        timit.frame_pipeline(timit_perturbed_records, "unlabelled", 8, speeds=(1.2,))
    assert timit.perturbed_counts(timit_perturbed_records, "train") == {}


def test_proportional_order_keeps_every_prefix_in_proportion():
    counts = [642, 1284, 7]
    order = timit.proportional_order(counts)
    assert np.bincount(order).tolist() == counts
    taken = np.cumsum(np.eye(3, dtype=int)[order], axis=0)
    ideal = np.arange(1, len(order) + 1)[:, None] * np.array(counts) / sum(counts)
    assert np.abs(taken - ideal).max() <= 1.0
    assert timit.proportional_order([2, 4]).tolist() == [1, 0, 1, 1, 0, 1]


def test_training_frames_and_copies_are_mixed_throughout_the_epoch(timit_perturbed_records):
    # Small buffers, so that the frame shuffle alone could not hide one split coming after the
    # other: the utterances themselves must be interleaved.
    data = timit_perturbed_records
    share = timit.num_frames(data, "train") / timit.num_frames(data, ("train", "unlabelled"))

    def labels(seed):
        return _labels(timit.frame_pipeline(data, ("train", "unlabelled"), 32, training=True, seed=seed,
                                            shuffle_buffer=32, utterance_buffer=2))

    for seed in range(4):
        epoch = labels(seed)
        first = epoch[:4 * 32]
        assert (first >= 0).any() and (first == -1).any(), seed
        for part in np.array_split(epoch, 4):  # each quarter of the epoch mixes them like the whole
            assert abs(np.mean(part >= 0) - share) < 0.1, seed
    np.testing.assert_array_equal(labels(0), labels(0))  # seeded: reproducible
    assert not np.array_equal(labels(0), labels(1))
    ordered = _labels(timit.frame_pipeline(data, ("train", "unlabelled"), 32))
    train = timit.num_frames(data, "train")
    assert np.all(ordered[:train] >= 0) and np.all(ordered[train:] == -1)
