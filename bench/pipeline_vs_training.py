"""Input pipeline rate vs training consumption rate, for the CIFAR-10 and TIMIT mimics.

    python bench/pipeline_vs_training.py [--cifar-examples 10000] [--timit-frames 100000] [--rounds 3]

For each mimic, in one run, examples/s over one epoch of the transfer set:

    pipeline   the training input alone: the cached-logit transfer set read from TFRecords
               (`cifar10.load_split` + `input_pipeline`, or `timit.frame_pipeline`), iterated
    training   `Distiller.fit` on one batch from that pipeline, cached in memory and repeated:
               what the model consumes when input is free
    end-to-end `Distiller.fit` on the real pipeline

pipeline / training > 1 means the input could keep up with training; end-to-end / training
says how close training on the pipeline gets (on a CPU, both share the same cores). Each
pass is one epoch with a fresh iterator, as in `fit` (shuffle buffers refill every epoch);
the three alternate, `--rounds` times; the best rate of each is kept, with the median CPU
time (all threads) per 1000 examples, the steadier measure on a shared machine. The transfer sets are synthetic (random images and logits in the project's record
formats), written to `--dir` first.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mimic_keras import timit_layout  # noqa: E402
from mimic_keras.config import MimicConfig, get_preset  # noqa: E402
from mimic_keras.data import cifar10, records, timit, writer  # noqa: E402
from mimic_keras.distiller import Distiller  # noqa: E402
from mimic_keras.models.mimics import build_mimic  # noqa: E402


def write_cifar_transfer_set(out_dir, n, seed=0, shards=4):
    """Random PNG images with random logits, as `pipelines/label_with_teacher.py` writes them."""
    if writer.is_complete(out_dir, fingerprint=f"synthetic-{n}-{seed}"):
        return
    rng = np.random.default_rng(seed)

    def examples():
        for i in range(n):
            image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
            yield records.image_example(tf.io.encode_png(image).numpy(), int(rng.integers(0, 10)), f"train/{i}",
                                        logits=rng.normal(size=10), view=0)

    splits = {"train": {"count": n, "shards": writer.write_shards(out_dir, "train", examples(), shards)}}
    writer.write_manifest(out_dir, {"fingerprint": f"synthetic-{n}-{seed}", "num_classes": 10, "splits": splits})


def measure(name, make_pipeline, student, batch_size, rounds):
    """One pass = one epoch with a fresh iterator, as `fit` makes one per epoch; passes alternate."""
    distiller = Distiller(student)
    distiller.compile(optimizer=keras.optimizers.Adam(1e-4))
    sizes = [int(tf.shape(x)[0]) for x, _ in make_pipeline()]  # also warms up: pages files in, traces
    steps, examples = len(sizes), sum(sizes)
    one_batch = make_pipeline().take(1).cache().repeat()
    distiller.fit(one_batch, steps_per_epoch=3, epochs=1, verbose=0)  # trace
    results, cpu_ms = {}, {}

    def timed(key, fn, count):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        results.setdefault(key, []).append(count / (time.perf_counter() - start))
        cpu_ms.setdefault(key, []).append((time.process_time() - cpu) * 1e6 / count)

    for _ in range(rounds):
        timed("pipeline", lambda: sum(1 for _ in make_pipeline()), examples)
        timed("training", lambda: distiller.fit(one_batch, steps_per_epoch=steps, epochs=1, verbose=0),
              steps * batch_size)
        timed("end-to-end", lambda: distiller.fit(make_pipeline(), epochs=1, verbose=0), examples)
    best = {k: max(v) for k, v in results.items()}
    print(f"{name}: {student.count_params():,} params, batch {batch_size}, one epoch of {steps} steps per pass, "
          f"{rounds} passes each")
    print(f"  {'':<28} {'best examples/s':>15}   {'median CPU ms/1k':>16}   passes (examples/s)")
    for key, label in (("pipeline", "input pipeline alone"), ("training", "training on a cached batch"),
                       ("end-to-end", "training on the pipeline")):
        print(f"  {label:<28} {best[key]:>15,.0f}   {np.median(cpu_ms[key]):>16,.0f}   "
              f"{', '.join(f'{r:,.0f}' for r in results[key])}")
    print(f"  pipeline / training = {best['pipeline'] / best['training']:.2f}; "
          f"end-to-end / training = {best['end-to-end'] / best['training']:.2f}; "
          f"input's share of the CPU time per example: "
          f"{np.median(cpu_ms['pipeline']) / np.median(cpu_ms['end-to-end']):.0%}")
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default="/tmp/mimic-pipeline-bench")
    parser.add_argument("--cifar-examples", type=int, default=10_000)
    parser.add_argument("--timit-frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs visible; TF {tf.__version__}; devices: "
          f"{', '.join(d.name for d in tf.config.list_logical_devices())}")

    cifar_dir = os.path.join(args.dir, "cifar10")
    write_cifar_transfer_set(cifar_dir, args.cifar_examples)
    cpu = get_preset("cifar10-cpu")
    batch = cpu.mimic_train.batch_size
    measure(
        f"CIFAR-10 mimic (cifar10-cpu preset: conv {cpu.mimic.conv_filters}, k {cpu.mimic.bottleneck}, "
        f"H {cpu.mimic.hidden})",
        lambda: cifar10.input_pipeline(cifar10.load_split(cifar_dir, "train", num_classes=10), batch, training=True,
                                       target="distill", seed=0),
        build_mimic(cpu.mimic), batch, args.rounds,
    )

    from memory_scale import write_transfer_set

    timit_dir = os.path.join(args.dir, "timit")
    write_transfer_set(timit_dir, args.timit_frames)
    for k, h, batch in ((128, 2048, 256), (250, 8000, 256)):
        measure(
            f"TIMIT MLP mimic (1845 -> k {k} -> H {h} -> 183)",
            lambda batch=batch: timit.frame_pipeline(timit_dir, "train", batch, training=True, target="distill",
                                                     seed=0),
            build_mimic(MimicConfig(conv_filters=0, bottleneck=k, hidden=h), timit_layout.NUM_STATES,
                        input_shape=(timit_layout.INPUT_DIM,)),
            batch, args.rounds,
        )


if __name__ == "__main__":
    main()
