"""TIMIT input pipelines over the records written by `pipelines/timit_to_tfrecord.py`.

Records hold unnormalised `[T, 123]` features per utterance. The frame pipeline normalises
them with the training split's mean and standard deviation (from the manifest), replicates the
first and last frame `context` times at the utterance edges, and cuts the `[2c+1, 123]`
context window of every frame inside the dataset, flattened time-major to `(2c+1) × 123`
values (1845 for c = 7: frame t-7's 123 values first). Windows exist only for the utterances
in flight and for the frames in the shuffle buffer, so peak memory is bounded by
`shuffle_buffer`, whatever the corpus size; the ~8 GB of windows of the full training set are
never materialised. A window is 7.4 kB; measured on the stand-in corpus, the process's resident
memory grows by about 15 kB per buffered frame (tf.data's per-element overhead): ~250 MB for
the default 16384 frames.

Several splits make one stream: a mimic's transfer set is `("train", "unlabelled")`, the
training frames and their speed-perturbed copies (`speeds` picks which copies). Each split's
utterances are shuffled, then interleaved in proportion to the splits' sizes (`proportional_order`)
before the frame shuffle, so every stretch of an epoch mixes them as the whole does.

Example:

    ds = timit.frame_pipeline("cache/timit", "train", 256, training=True)
    model.fit(ds, validation_data=timit.frame_pipeline("cache/timit", "dev", 1024))
"""

import numpy as np
import tensorflow as tf

from mimic_keras.data import records, writer
from mimic_keras.data.manifest import Manifest, follow
from mimic_keras.timit_layout import CONTEXT, FEATURE_DIM, INPUT_DIM, NUM_STATES  # noqa: F401  (re-exported)

AUTOTUNE = tf.data.AUTOTUNE

SPLITS = ("train", "dev", "test")
PERTURBED_SPLIT = "unlabelled"  # speed-perturbed copies of train (state -1), when converted with --perturb
# Another corpus's training speech (state -1), when converted with --unlabelled: its speakers
# dealt into equal parts, so that a transfer set can take a share of it.
EXTRA_SPLITS = tuple(f"extra_{i}" for i in range(4))


def extra_splits(data_dir, share=None):
    """The `extra_*` splits a folder has, or the first `share` of them (a multiple of 1/4).

    Raises:
        ValueError: a share that is not 0, 0.25, 0.5, 0.75 or 1.
    """
    present = [s for s in EXTRA_SPLITS if s in Manifest.read(data_dir).splits]
    if share is None:
        return present
    parts = float(share) * len(EXTRA_SPLITS)
    if not 0 <= share <= 1 or abs(parts - round(parts)) > 1e-9:
        raise ValueError(f"share {share!r} of the extra speech must be one of 0, 0.25, 0.5, 0.75, 1")
    return present[:round(parts)]


def manifest_entry(data_dir, key):
    """A top-level manifest entry, followed to the `source` folder of a teacher-labelled one."""
    value = follow(data_dir, lambda m: m.get(key))
    if value is None:
        raise KeyError(f"{data_dir}: manifest has no {key!r} entry and no source folder that has")
    return value


def normalization(data_dir):
    """The training split's feature mean and standard deviation, float32 `[123]` each."""
    stats = manifest_entry(data_dir, "normalization")
    return np.asarray(stats["mean"], np.float32), np.asarray(stats["std"], np.float32)


def load_utterances(data_dir, split, with_logits=False, normalize=False):
    """Reads one split's utterances in file order, one dict per utterance.

    Args:
        data_dir: folder with `manifest.json` and shards (converted, or teacher-labelled).
        split: `train`, `dev` or `test`.
        with_logits: records carry the teacher's per-frame `logits` (labelled folders).
        normalize: normalise `features` with the training statistics.

    Returns:
        A `tf.data.Dataset` of dicts: `id`, `speaker`, `phones` int32 `[P]`, `features`
        float32 `[T, 123]`, `state` int32 `[T]` (and `logits` float32 `[T, 183]`).
    """
    files = writer.split_files(data_dir, split)
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=AUTOTUNE if len(files) > 1 else None)
    ds = ds.map(lambda s: records.parse_timit_example(s, with_logits), num_parallel_calls=AUTOTUNE, deterministic=True)
    if normalize:
        mean, std = normalization(data_dir)
        ds = ds.map(lambda ex: {**ex, "features": (ex["features"] - mean) / std}, num_parallel_calls=AUTOTUNE, deterministic=True)
    return ds


def speed_key(factor):
    """A speed factor as manifests spell it: 0.9 -> "0.9"."""
    return f"{float(factor):g}"


def perturbed_counts(data_dir, split=PERTURBED_SPLIT):
    """Per speed factor, the utterances and frames of a split of perturbed copies.

    Returns:
        `{"0.9": {"count": utterances, "frames": frames, ...}, ...}`; `{}` when the folder
        (or the converted folder it was labelled from) has no such split.
    """
    if split not in Manifest.read(data_dir).splits:
        return {}
    return follow(data_dir, lambda m: m.splits[split].factors if split in m.splits else None) or {}


def _selected_counts(data_dir, split, speeds):
    """(utterances, frames) of a split, or of its copies at `speeds` (None: all of them)."""
    factors = perturbed_counts(data_dir, split)
    if speeds is None or not factors:
        return num_utterances(data_dir, split), num_frames(data_dir, split)
    missing = [speed_key(f) for f in speeds if speed_key(f) not in factors]
    if missing:
        raise ValueError(f"{data_dir}: split {split!r} has no copies at speed {', '.join(missing)}; "
                         f"it has {', '.join(sorted(factors)) or 'none'}")
    chosen = [factors[speed_key(f)] for f in dict.fromkeys(speeds)]
    return sum(c["count"] for c in chosen), sum(c["frames"] for c in chosen)


def context_windows(features, context=CONTEXT):
    """Stacks each frame with its ±`context` neighbours, edge frames replicated.

    Args:
        features: float `[T, D]`.
        context: frames on each side.

    Returns:
        float `[T, (2 context + 1) × D]`, time-major (frame t - context first).

    Example:
        >>> context_windows(tf.reshape(tf.range(3.0), [3, 1]), context=1).numpy().tolist()
        [[0.0, 0.0, 1.0], [0.0, 1.0, 2.0], [1.0, 2.0, 2.0]]
    """
    features = tf.convert_to_tensor(features)
    dim = features.shape[-1]
    padded = tf.concat(
        [tf.repeat(features[:1], context, axis=0), features, tf.repeat(features[-1:], context, axis=0)], axis=0
    )
    windows = tf.signal.frame(padded, 2 * context + 1, 1, axis=0)  # [T, 2c+1, D]
    return tf.reshape(windows, [-1, (2 * context + 1) * dim])


def _utterance_records(data_dir, split, training, seed, utterance_buffer, speeds):
    """One split's serialized utterances: files and utterances shuffled when training."""
    files = writer.split_files(data_dir, split)
    deterministic = not training or seed is not None
    ds = tf.data.Dataset.from_tensor_slices(files)
    if training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        tf.data.TFRecordDataset, cycle_length=min(len(files), 4), num_parallel_calls=AUTOTUNE, deterministic=deterministic
    )
    if speeds is not None and perturbed_counts(data_dir, split):
        wanted = tf.constant(sorted(float(f) for f in speeds), tf.float32)
        ds = ds.filter(lambda s: tf.reduce_any(tf.abs(records.parse_timit_speed(s) - wanted) < 1e-5))
    if training:
        ds = ds.shuffle(utterance_buffer, seed=seed, reshuffle_each_iteration=True)
    return ds


def proportional_order(counts):
    """Which source each element comes from, so that every prefix takes each source in proportion.

    Source i's j-th element is placed at (j + 1/2) / counts[i] of the way through: after any
    number of elements, each source has given its share of them, to within one.

    Args:
        counts: elements per source.

    Returns:
        int64 array of `sum(counts)` source indices.

    Example:
        >>> proportional_order([2, 4]).tolist()
        [1, 0, 1, 1, 0, 1]
    """
    position = np.concatenate([(np.arange(n) + 0.5) / n for n in counts])
    source = np.concatenate([np.full(n, i, np.int64) for i, n in enumerate(counts)])
    return source[np.lexsort((source, position))]


def frame_pipeline(
    data_dir,
    split,
    batch_size,
    training=False,
    context=CONTEXT,
    target="label",
    shuffle_buffer=16_384,
    seed=None,
    drop_remainder=False,
    utterance_buffer=64,
    speeds=None,
):
    """Batches of `(frames, targets)` for `fit` / `evaluate`: one example per frame.

    Args:
        data_dir: a converted folder (`target="label"`) or a teacher-labelled one (`"distill"`).
        split: `train`, `dev`, `test` or `unlabelled`, or a sequence of them read as one: their
            utterances interleaved in proportion to their counts (`proportional_order`; in
            file order, one split after the other, when not training).
        batch_size: the global batch size (per replica × replicas).
        training: shuffle utterances, then frames across utterances.
        context: frames on each side; inputs have `(2 context + 1) × 123` values.
        target: `"label"` yields int32 state ids `[B]`; `"distill"` yields
            `{"logits": [B, 183], "label": [B]}` for the `Distiller`.
        shuffle_buffer: frames in the frame shuffle buffer, the bound on the pipeline's
            memory (~15 kB per frame for c = 7, measured).
        seed: shuffle seed: with it, the order is reproducible.
        drop_remainder: drop a last partial batch.
        utterance_buffer: utterances (compact, unwindowed) in each split's utterance shuffle
            buffer.
        speeds: of a split of speed-perturbed copies, keep those at these factors (None: all);
            splits without copies are read whole.

    Returns:
        A batched, prefetched `tf.data.Dataset` of float32 `[B, 1845]` normalised frames
        and targets.
    """
    if target not in ("label", "distill"):
        raise ValueError(f"target must be 'label' or 'distill', got {target!r}")
    mean, std = normalization(data_dir)
    splits = [split] if isinstance(split, str) else list(split)
    deterministic = not training or seed is not None
    sizes = [_selected_counts(data_dir, s, speeds) for s in splits]
    parts = [_utterance_records(data_dir, s, training, seed, utterance_buffer, speeds) for s in splits]
    ds = parts[0]
    if len(parts) > 1 and training:
        # A split that runs short of its manifest's count ends the epoch early, and the
        # cardinality assertion below then fails: no silent short epochs.
        order = tf.data.Dataset.from_tensor_slices(proportional_order([utts for utts, _ in sizes]))
        ds = tf.data.Dataset.choose_from_datasets(parts, order)
    else:
        for part in parts[1:]:
            ds = ds.concatenate(part)

    with_logits = target == "distill"

    def to_frames(serialized):
        ex = records.parse_timit_example(serialized, with_logits)
        frames = context_windows((ex["features"] - mean) / std, context)
        if not with_logits:
            return frames, ex["state"]
        return frames, {"logits": ex["logits"], "label": ex["state"]}

    ds = ds.map(to_frames, num_parallel_calls=AUTOTUNE, deterministic=deterministic).unbatch()
    if training:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    # unbatch() hides the length; the manifest knows it (Keras then shows whole epochs), and a
    # folder whose records disagree with its manifest fails here instead of training short.
    frames = sum(n for _, n in sizes)
    batches = frames // batch_size if drop_remainder else -(-frames // batch_size)
    return ds.apply(tf.data.experimental.assert_cardinality(batches)).prefetch(AUTOTUNE)


def num_frames(data_dir, split, speeds=None):
    """Frames in a split (examples per epoch of `frame_pipeline`), from the manifest.

    Args:
        data_dir: a converted or teacher-labelled folder.
        split: a split name, or a sequence of them (their sum).
        speeds: of a split of speed-perturbed copies, count those at these factors (None: all).
    """
    if not isinstance(split, str):
        return sum(num_frames(data_dir, s, speeds) for s in split)
    if speeds is not None and perturbed_counts(data_dir, split):
        return _selected_counts(data_dir, split, speeds)[1]
    if split not in Manifest.read(data_dir).splits:
        raise KeyError(f"{data_dir}: no split {split!r}")
    frames = follow(data_dir, lambda m: m.splits[split].frames if split in m.splits else None)
    if frames is None:
        raise KeyError(f"{data_dir}: manifest has no frame count for split {split!r}")
    return frames


def num_utterances(data_dir, split):
    """Utterances in a split, from the manifest."""
    return Manifest.read(data_dir).splits[split].count
