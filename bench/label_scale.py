"""Labelling (or conversion) throughput: the in-process job vs Apache Beam's DirectRunner (1 and 2 workers).

    python bench/label_scale.py [--images 4000] [--views 1] [--batch-size 256]   # needs .[beam]
    python bench/label_scale.py --convert ../shared/data/cifar10-jpeg.tar [--limit 5000]

Builds one converted folder of `--images` toy training images (4 source shards) and one
teacher (the `cifar10-quick` preset's convnet, untrained: labelling cost does not depend on
the weights), then labels it, views included, with `label_with_teacher.run` three ways:
`--runner local`, `--runner beam` (DirectRunner, one worker, in process) and `--runner beam --
--direct_num_workers=2 --direct_running_mode=multi_processing`. Printed: each one's examples
per second (the labelled records over the job's wall time, start-up included), seconds per
million examples, and the ratios to in-process, measured in this one run; and whether the
outputs hold the same records (shard sha256s equal, or logits within float tolerance).

With `--convert SRC` it times `cifar10_to_tfrecord.run` instead, on an image tree or tar (`--limit`
images per split; 4 shards per split), the same three ways, and says whether every shard's
sha256 is the in-process one's.
"""

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _setup(root, images):
    import keras

    from mimic_keras.config import get_preset
    from mimic_keras.models.convnet import build_teacher
    from tests.helpers import write_image_dir

    data = os.path.join(root, "data")
    write_image_dir(data, {"train": images})
    keras.utils.set_random_seed(0)
    teacher = os.path.join(root, "teacher.keras")
    build_teacher(get_preset("cifar10-quick").teacher).save(teacher)
    return data, teacher


def _same(a, b):
    import numpy as np
    import tensorflow as tf

    from mimic_keras.data import records, writer

    files = [os.path.basename(f) for f in writer.split_files(a, "train")]
    spec = records.logits_features(10)
    worst = 0.0
    for name in files:
        for x, y in zip(tf.data.TFRecordDataset(os.path.join(a, name)), tf.data.TFRecordDataset(os.path.join(b, name))):
            x, y = tf.io.parse_single_example(x, spec), tf.io.parse_single_example(y, spec)
            if x["id"] != y["id"] or x["view"] != y["view"]:
                return "different records"
            worst = max(worst, float(np.abs(x["logits"].numpy() - y["logits"].numpy()).max()))
    return f"same records, max |Δlogit| {worst:.1e}"


RUNS = {
    "in process": ("local", ()),
    "beam, 1 worker": ("beam", ()),
    "beam, 2 processes": ("beam", ("--direct_num_workers=2", "--direct_running_mode=multi_processing")),
}


def _print_rates(rates):
    base = rates["in process"]
    for name, rate in rates.items():
        print(f"  {name:18s} {rate:8.1f} examples/s  {1e6 / rate / 60:7.1f} min per million  "
              f"×{rate / base:.2f} of in process")


def convert(source, limit):
    """Times the CIFAR-10 conversion of `source` three ways; prints rates and whether shards match."""
    from mimic_keras.data.manifest import Manifest
    from pipelines import cifar10_to_tfrecord

    with tempfile.TemporaryDirectory() as root:
        rates, shas = {}, {}
        for name, (runner, beam_args) in RUNS.items():
            out = os.path.join(root, name.replace(" ", "_").replace(",", ""))
            options = cifar10_to_tfrecord.Options(source=source, out=out, limit=limit, shards=4, val_size=0,
                                                  runner=runner, beam_args=beam_args)
            started = time.perf_counter()
            manifest = cifar10_to_tfrecord.run(options, verbose=False)
            count = sum(split.count for split in manifest.splits.values())
            rates[name] = count / (time.perf_counter() - started)
            shas[name] = {s.file: s.sha256 for split in Manifest.read(out).splits.values() for s in split.shards}
        print(f"\nconverting {count} images of {source} (limit {limit} per split), 4 shards per split, one run, "
              f"{os.cpu_count()} CPUs:")
        _print_rates(rates)
        for name in list(RUNS)[1:]:
            same = "every shard's sha256 the same" if shas[name] == shas["in process"] else "DIFFERENT shards"
            print(f"  {name} vs in process: {same}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=4000)
    parser.add_argument("--views", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--convert", metavar="SRC", help="time the conversion of this image tree or tar instead")
    parser.add_argument("--limit", type=int, default=5000, help="with --convert: images per split")
    args = parser.parse_args(argv)
    if args.convert:
        return convert(args.convert, args.limit)

    from pipelines import label_with_teacher

    runs = RUNS
    with tempfile.TemporaryDirectory() as root:
        data, teacher = _setup(root, args.images)
        rates, outs = {}, {}
        for name, (runner, beam_args) in runs.items():
            outs[name] = os.path.join(root, name.replace(" ", "_").replace(",", ""))
            options = label_with_teacher.Options(
                data=data, teacher=(teacher,), out=outs[name], views=args.views, batch_size=args.batch_size,
                shards=4, runner=runner, beam_args=beam_args,
            )
            started = time.perf_counter()
            manifest = label_with_teacher.run(options)
            rates[name] = manifest.splits["train"].count / (time.perf_counter() - started)
        count = manifest.splits["train"].count
        print(f"\nlabelling {count} examples ({args.images} images × {args.views + 1} views), "
              f"batch {args.batch_size}, one run, {os.cpu_count()} CPUs:")
        _print_rates(rates)
        for name in list(runs)[1:]:
            print(f"  {name} vs in process: {_same(outs[name], outs['in process'])}")


if __name__ == "__main__":
    sys.exit(main())
