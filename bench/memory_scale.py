"""Peak memory of mimic training vs transfer-set size: streaming from TFRecords, not loading.

    python bench/memory_scale.py [--sizes 100000 1200000] [--dir /tmp/mimic-memory] [--hidden 128]

For each size, writes a synthetic TIMIT-like teacher-labelled transfer set (utterance
`SequenceExample`s with 123 features, a state and 183 teacher logits per frame, the format of
`mimic_keras.data.records`, in 16 shards), then, in a fresh process per size, trains an MLP
mimic with the `Distiller` for one epoch over every frame through
`mimic_keras.data.timit.frame_pipeline` (±7-frame context windows, 1845 inputs, built
lazily; bounded shuffle buffer). Reports the peak resident set size (`ru_maxrss`) and the RSS
sampled through the epoch. Windows of 1.2M frames would take 8.9 GB if loaded; streaming
keeps only the shuffle buffer's ~16k.

Utterances are drawn from 64 distinct random ones (cycled), so writing 1.2M frames takes
seconds; memory does not depend on the values.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

TRAIN_SHARDS = 16


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_transfer_set(out_dir, frames, seed=0):
    """A labelled TIMIT-like folder with `frames` training frames (and a small dev split)."""
    import tensorflow as tf  # noqa: F401  (records needs it)

    from mimic_keras.data import records, writer
    from mimic_keras.timit_layout import FEATURE_DIM, NUM_PHONES, NUM_STATES

    if writer.is_complete(out_dir, fingerprint=f"synthetic-{frames}-{seed}"):
        return writer.read_manifest(out_dir)
    rng = np.random.default_rng(seed)
    pool = []
    for i in range(64):
        t = int(rng.integers(200, 400))
        pool.append((t, records.timit_example(
            rng.normal(size=(t, FEATURE_DIM)).astype(np.float32), rng.integers(0, NUM_STATES, t), f"S{i:03d}_SX{i}", f"S{i:03d}",
            rng.integers(0, NUM_PHONES, 20), logits=rng.normal(size=(t, NUM_STATES)).astype(np.float32),
        )))

    def utterances(total):
        written, i = 0, 0
        while written < total:
            t, record = pool[i % len(pool)]
            if written + t > total:  # the last utterance: exactly `total` frames in all
                t = total - written
                ex = tf.train.SequenceExample.FromString(record)
                for name in ("features", "state", "logits"):
                    del ex.feature_lists.feature_list[name].feature[t:]
                record = ex.SerializeToString()
            yield record
            written, i = written + t, i + 1
        counts.append(i)

    counts = []
    manifest = {"dataset": "timit", "fingerprint": f"synthetic-{frames}-{seed}", "num_classes": NUM_STATES,
                "normalization": {"mean": [0.0] * FEATURE_DIM, "std": [1.0] * FEATURE_DIM}, "splits": {}}
    for split, n in (("train", frames), ("dev", 4096)):
        shards = writer.write_shards(out_dir, split, utterances(n), TRAIN_SHARDS if split == "train" else 1)
        manifest["splits"][split] = {"count": counts[-1], "frames": n, "shards": shards}
    writer.write_manifest(out_dir, manifest)
    return manifest


def train(data_dir, hidden, batch_size, epochs=1):
    """Runs in its own process: `epochs` epochs of the Distiller over every frame; returns measurements."""
    import keras
    import tensorflow as tf

    from mimic_keras.config import MimicConfig
    from mimic_keras.data import timit
    from mimic_keras.distiller import Distiller
    from mimic_keras.models.mimics import build_mimic

    keras.utils.set_random_seed(0)
    train_ds = timit.frame_pipeline(data_dir, "train", batch_size, training=True, target="distill", seed=0)
    student = build_mimic(MimicConfig(conv_filters=0, bottleneck=0, hidden=hidden), timit.NUM_STATES,
                          input_shape=(timit.INPUT_DIM,))
    distiller = Distiller(student)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-4))
    steps = int(train_ds.cardinality())
    trace = [(0.0, rss_mb())]  # (fraction of all the steps, RSS MB)

    class Sample(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % max(1, steps // 10) == 0:
                trace.append(((self.epoch * steps + batch + 1) / steps, rss_mb()))

    start = time.perf_counter()
    distiller.fit(train_ds, epochs=epochs, verbose=0, callbacks=[Sample()])
    seconds = time.perf_counter() - start
    frames = timit.num_frames(data_dir, "train")
    return {
        "frames": frames, "epochs": epochs, "steps": steps, "seconds": round(seconds, 1),
        "frames_per_s": round(frames * epochs / seconds),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_trace_mb": [(round(f, 2), round(r)) for f, r in trace], "tf": tf.__version__,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_200_000], help="training frames")
    parser.add_argument("--dir", default="/tmp/mimic-memory", help="where the synthetic sets are written")
    parser.add_argument("--hidden", type=int, default=128, help="hidden units of the MLP mimic")
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the largest set; smaller sets run "
                        "proportionally more, so every size trains on the same number of frames")
    parser.add_argument("--train", help=argparse.SUPPRESS)  # internal: the per-size child process
    args = parser.parse_args(argv)
    if args.train:
        print(json.dumps(train(args.train, args.hidden, args.batch_size, args.epochs)))
        return

    results = []
    for frames in args.sizes:
        folder = os.path.join(args.dir, f"frames-{frames}")
        start = time.perf_counter()
        manifest = write_transfer_set(folder, frames)
        size_gb = sum(os.path.getsize(os.path.join(folder, s["file"])) for s in manifest["splits"]["train"]["shards"]) / 1e9
        print(f"{frames:,} frames: {manifest['splits']['train']['count']:,} utterances, {size_gb:.2f} GB of "
              f"records ({time.perf_counter() - start:.0f} s to write or find)", flush=True)
        epochs = args.epochs * max(1, round(max(args.sizes) / frames))
        out = subprocess.run([sys.executable, __file__, "--train", folder, "--hidden", str(args.hidden),
                              "--batch-size", str(args.batch_size), "--epochs", str(epochs)], capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        result["records_gb"] = round(size_gb, 2)
        results.append(result)
        print(json.dumps(result), flush=True)

    print(f"\nMLP mimic 1845-{args.hidden}-183, batch {args.batch_size}, the same number of training frames for "
          f"every size, a fresh process per size; {os.cpu_count()} CPUs visible")
    print(f"{'set (frames)':>12} {'records':>9} {'epochs':>6} {'steps':>6} {'time':>6} {'frames/s':>9} "
          f"{'RSS before':>10} {'peak RSS':>9}   RSS at each tenth of training (MB)")
    for r in results:
        trace = r["rss_trace_mb"]
        tenths = [m for _, m in trace[1:]][r["epochs"] - 1::r["epochs"]]  # samples are every tenth of an epoch
        print(f"{r['frames']:>12,} {r['records_gb']:>7.2f}GB {r['epochs']:>6} {r['steps'] * r['epochs']:>6} "
              f"{r['seconds']:>5.0f}s {r['frames_per_s']:>9,} {trace[0][1]:>8.0f}MB {r['peak_rss_mb']:>7.0f}MB   "
              f"{' '.join(str(m) for m in tenths[:10])}")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(f"size x{b['frames'] / a['frames']:.1f} -> peak RSS x{b['peak_rss_mb'] / a['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
