"""Convert a class-per-folder tree of images (a folder or a tar) into sharded image TFRecords.

    python -m pipelines.images_to_tfrecord --source SRC --out DIR [--image-size S] [--channels C]
        [--val-fraction F] [--test-fraction F] [--unlabelled PATH] [--limit N] [--force]

SRC holds `train/<class>/<images>` and optionally `test/<class>/<images>` (JPEG, PNG, GIF or
BMP, any size, grey or colour). The classes are the folder names, sorted; their order is
recorded in the manifest (`classes`) and is the order of the logits. Without `test/`, a
stratified test split of `test_fraction` is carved from train; a validation split of
`val_fraction` is carved from (what remains of) train the same way, and the manifest says so.
Both carves take, per class, the ids with the smallest sha256 (deterministic, no RNG).

Every image is decoded (one that cannot be is named in the error), converted to `channels`
(default: 1 when every image is grey, else 3) and resized to `image_size` × `image_size`
(default: the most common size), then stored as PNG. `--unlabelled PATH` adds an `unlabelled`
split (label -1) of any images under PATH. The output is built in a hidden sibling folder and
renamed into place (`mimic_keras.jobs.atomic_output`); a rerun with the same inputs does nothing.
With `--runner beam -- <Beam pipeline options>` the images are encoded and written on Apache Beam
(`pipelines/beam_images.py`; the size survey still reads every image in this process).
"""

import collections
import dataclasses
import functools
import hashlib
import json
import os
import sys
import time
from typing import Optional

import tensorflow as tf

from mimic_keras import jobs
from mimic_keras.data import records, writer
from mimic_keras.data.manifest import Manifest, Shard, Source, Split
from mimic_keras.jobs import option
from pipelines import beam_output
from pipelines import cifar10_sources as sources
from pipelines.cifar10_sources import ConversionError, Example, SourceError
from pipelines.cifar10_to_tfrecord import carve_validation, default_shards

VERSION = 1  # bump when the same inputs would give different records
_NOT_FINGERPRINTED = ("out", "force", "runner", "beam_args")  # they change where or how, never the records
SPLITS = ("train", "test")


@dataclasses.dataclass(frozen=True)
class Options:
    """The conversion's options; the CLI's flags are generated from these fields."""

    out: str = option("output folder")
    source: str = option("a train/<class>/..., [test/<class>/...] tree of images: a folder or a tar")
    image_size: Optional[int] = option("resize to S x S (default: the most common size)", None)
    channels: Optional[int] = option("1 (grey) or 3 (RGB) (default: 1 when every image is grey)", None,
                                     choices=(1, 3))
    val_fraction: float = option("share of train held out for validation", 0.1)
    test_fraction: float = option("share of train carved as test when there is no test/", 0.2)
    unlabelled: Optional[str] = option("folder or tar of extra images for an `unlabelled` split (label -1)", None)
    limit: Optional[int] = option("at most N examples per split", None)
    num_classes: Optional[int] = option("refuse a tree with another number of classes", None)
    force: bool = option("replace an output made from other inputs or options", False)
    runner: str = jobs.runner_option()
    beam_args: tuple[str, ...] = jobs.beam_args_option()


def read_tree(path):
    """`(classes, {"train": [Example], "test": [Example] or []})` of a class-per-folder tree.

    Raises:
        SourceError: one line: no train/ folder, a file outside a class folder, an empty class
            folder, fewer than two classes, or test classes that train lacks.
    """
    if not os.path.exists(path):
        raise SourceError(f"{path}: no such file or directory")
    tree = sources.open_tree(path)
    found = {split: collections.defaultdict(list) for split in SPLITS}
    for name in tree.names:
        parts = name.split("/")
        if parts[0] not in SPLITS:
            continue  # READMEs, licences beside the tree
        if len(parts) < 3:
            raise SourceError(f"{tree.where_of(name)}: file directly in {parts[0]}/ (expected {parts[0]}/<class>/...)")
        if not name.lower().endswith(sources.IMAGE_EXTENSIONS):
            raise SourceError(f"{tree.where_of(name)}: not an image file "
                              f"(expected {', '.join(sources.IMAGE_EXTENSIONS)})")
        found[parts[0]][parts[1]].append(name)
    if os.path.isdir(path):  # folders without files are invisible in the tree
        for split in SPLITS:
            root = os.path.join(path, split)
            for folder in sorted(os.listdir(root)) if os.path.isdir(root) else ():
                if os.path.isdir(os.path.join(root, folder)) and folder not in found[split]:
                    raise SourceError(f"{os.path.join(root, folder)}: empty class folder")
    classes = sorted(found["train"])
    if not classes:
        raise SourceError(f"{path}: no train/<class>/ folders of images")
    if len(classes) < 2:
        raise SourceError(f"{path}: a single class ({classes[0]}); a classifier needs at least two")
    extra = sorted(set(found["test"]) - set(classes))
    if extra:
        raise SourceError(f"{path}: test/ has classes that train/ lacks: {', '.join(extra)}")
    splits = {
        split: [Example(name, classes.index(c), tree.where_of(name), data=tree.data(name))
                for c in sorted(found[split]) for name in found[split][c]]
        for split in SPLITS
    }
    return classes, splits


def _decode(example):
    try:
        return tf.io.decode_image(example.encoded(), expand_animations=False)
    except tf.errors.OpError as e:
        raise SourceError(f"{example.where}: cannot decode image ({sources.first_line(e.message)})") from None


def survey(examples):
    """`(most common (height, width), 1 if every image is grey else 3)`, decoding each image."""
    sizes, grey = collections.Counter(), True
    for example in examples:
        image = _decode(example)
        sizes[tuple(image.shape[:2])] += 1
        grey = grey and image.shape[-1] in (1, 2)
    return sizes.most_common(1)[0][0], 1 if grey else 3


def encode(example, image_shape):
    """PNG bytes of the image converted to `image_shape` (H, W, C)."""
    image = _decode(example)
    channels = image.shape[-1]
    if image_shape[-1] == 1:
        image = image[..., :1] if channels in (1, 2) else tf.image.rgb_to_grayscale(image[..., :3])
    else:
        image = tf.image.grayscale_to_rgb(image[..., :1]) if channels in (1, 2) else image[..., :3]
    if tuple(image.shape[:2]) != tuple(image_shape[:2]):
        image = tf.image.resize(image, image_shape[:2], method="bilinear", antialias=True)
        image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
    return tf.io.encode_png(image).numpy()


def _encode_png(example, image_shape):
    return encode(example, image_shape), "png"


def _write_split(build, split, examples, num_shards, image_shape, classes):
    shards = writer.write_shards(build, split, (
        records.image_example(encode(e, image_shape), e.label, e.id) for e in examples
    ), num_shards)
    counts = collections.Counter(e.label for e in examples)
    return Split(count=len(examples), shards=[Shard(**s) for s in shards], extra={
        "class_counts": {c: counts[i] for i, c in enumerate(classes)} if split != "unlabelled" else {}})


def _hash(salt, example_id):
    return hashlib.sha256(f"{salt}:{example_id}".encode()).digest()


def _carve(train, fraction):
    return carve_validation(train, round(len(train) * fraction)) if fraction else (list(train), [])


def run(options, verbose=True):
    """Converts the image tree at `options.source` into TFRecord shards and a manifest under `options.out`.

    Returns:
        The `Manifest` (`classes`, `image_shape`, `test_split`: `given` or how it was carved).

    Raises:
        ConversionError: one line naming what is wrong (`SourceError`: the file or folder).

    Example:
        manifest = run(Options(source="my_images/", out="cache/images", image_size=64))
    """
    out_dir = jobs.absolute(options.out)
    if not options.source:
        raise ConversionError("no source: give the folder or tar of train/<class>/ images (data.source=...)")
    for path in (options.source, options.unlabelled):
        if path is not None and not os.path.exists(path):
            raise SourceError(f"{path}: no such file or directory")
    if not 0 <= options.val_fraction < 1 or not 0 < options.test_fraction < 1:
        raise ConversionError("val_fraction must be in [0, 1) and test_fraction in (0, 1)")
    beam_output.check_runner(options.runner, options.beam_args, options.out)
    recorded = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(  # as the manifest holds it
        options, out=out_dir, source=os.path.abspath(options.source), unlabelled=jobs.absolute(options.unlabelled)))))
    fingerprint = hashlib.sha256(json.dumps({
        "converter": VERSION, "source": sources.identity(options.source),
        "unlabelled": sources.identity(options.unlabelled) if options.unlabelled else None,
        "options": {k: v for k, v in recorded.items() if k not in _NOT_FINGERPRINTED},
    }, sort_keys=True).encode()).hexdigest()
    if not options.force and writer.is_complete(out_dir, fingerprint):
        print(f"{out_dir}: already converted from these inputs with these options; skipped")
        return Manifest.read(out_dir)
    jobs.check_replaceable(out_dir, options.force)

    started = time.time()
    classes, read = read_tree(options.source)
    if options.num_classes is not None and len(classes) != options.num_classes:
        raise SourceError(f"{options.source}: {len(classes)} classes ({', '.join(classes[:10])}"
                          f"{', ...' if len(classes) > 10 else ''}) but num_classes={options.num_classes}; "
                          f"set num_classes={len(classes)}")
    train, test = read["train"], read["test"]
    test_split = "given (test/)"
    if not test:
        train, test = _carve(train, options.test_fraction)
        test_split = f"carved from train: {options.test_fraction} per class, smallest sha256('validation:' + id)"
    train, validation = _carve(train, options.val_fraction)
    plan = {"train": train, "validation": validation, "test": test}
    if options.unlabelled:
        plan["unlabelled"] = sources.read_images(options.unlabelled)
    plan = {s: sorted(exs, key=lambda e: _hash("order", e.id))[:options.limit] for s, exs in plan.items() if exs}
    size, channels = survey([e for exs in plan.values() for e in exs])
    if options.image_size:
        size = (options.image_size, options.image_size)
    image_shape = (*size, options.channels or channels)
    if verbose:
        print(f"{len(classes)} classes ({', '.join(classes[:10])}{', ...' if len(classes) > 10 else ''}); "
              f"images as {image_shape[0]}x{image_shape[1]}x{image_shape[2]}", file=sys.stderr)

    with jobs.atomic_output(out_dir, force=options.force) as build:
        num_shards = {split: min(default_shards(len(exs)), len(exs)) for split, exs in plan.items()}
        if options.runner == "beam":
            from pipelines import beam_images  # Beam is imported only when asked for

            splits = beam_images.convert_splits(build, plan, num_shards, functools.partial(
                _encode_png, image_shape=image_shape), classes, options.beam_args)
        else:
            splits = {split: _write_split(build, split, exs, num_shards[split], image_shape, classes)
                      for split, exs in plan.items()}
        manifest = Manifest(
            dataset="images", fingerprint=fingerprint,
            source=Source.from_dict({"path": recorded["source"], "format": "folder",
                                     "unlabelled": recorded["unlabelled"]}, "source", out_dir),
            options=recorded, splits=splits,
            extra={"classes": classes, "image_shape": list(image_shape), "image_encoding": "png",
                   "test_split": test_split,
                   "validation": f"{options.val_fraction} of train per class, smallest sha256('validation:' + id)",
                   "record_order": "sha256('order:' + id)", "converter_version": VERSION,
                   "seconds": round(time.time() - started, 1)},
        )
        manifest.write(build)
    if verbose:
        print(f"{out_dir}: wrote " + ", ".join(f"{s} {v.count}" for s, v in splits.items()), file=sys.stderr)
    return manifest


def main(argv=None):
    """The command line, generated from `Options`: exit status 0, or 2 with a one-line error."""
    return jobs.run_cli(Options, run, argv, errors=(ConversionError, jobs.OutputExists),
                        prog="python -m pipelines.images_to_tfrecord", description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
