"""Convert CIFAR-10, in any form it comes in, into sharded image TFRecords with a manifest.

    python -m pipelines.cifar10_to_tfrecord --source SRC --out DIR [--format F] [--unlabelled PATH]
        [--limit N] [--shards N] [--val-size N] [--resize] [--force]

SRC is `tfds` (default), an official release (`cifar-10-python.tar.gz`, `cifar-10-batches-py/`,
`cifar-10-binary.tar.gz`, `cifar-10-batches-bin/`) or a `train/<class>/`, `test/<class>/` image
tree as a folder or tar; `pipelines/cifar10_sources.py` reads them all. Writes the splits
`train`, `validation` (carved from train), `test` and, with `--unlabelled`, `unlabelled`
(label -1), then `manifest.json`.

Images (`pipelines/cifar10_images.py`): raw pixels (official releases, TFDS) become lossless
PNG; JPEG/PNG files that already are 32x32 RGB keep their own bytes (decoded once to check).

Determinism, all from stable ids, never from file-system or RNG order:
- validation: stratified by class; each class gives its share of `val_size` (largest
  remainder), taking the ids with the smallest sha256("validation:" + id);
- record order within a split: by sha256("order:" + id), as TFDS does, so class-sorted trees
  come out mixed (a 10k shuffle buffer over class-sorted records would see few classes) and
  `--limit N` keeps a class-mixed first N. The validation set does not depend on `--limit`.

The whole output is built in a hidden sibling folder and renamed into place
(`mimic_keras.atomic.atomic_output`), so DIR is either absent, the previous output, or complete;
a rerun with the same inputs and options does nothing. With `--runner beam -- <Beam pipeline
options>` the images are read, checked, encoded and written on Apache Beam
(`pipelines/beam_images.py`, docs/beam.md): the same folder.

In process, the same job is `run(Options(...))`; the flags above are generated from `Options`:

    manifest = run(Options(source="cifar-10-python.tar.gz", out="cache/cifar10", limit=1000))
"""

import os

if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import collections  # noqa: E402
import dataclasses  # noqa: E402
import functools  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from typing import Optional  # noqa: E402

from mimic_keras import jobs  # noqa: E402
from mimic_keras.jobs import option  # noqa: E402
from mimic_keras.data import records, writer  # noqa: E402
from mimic_keras.data.manifest import Manifest, ManifestError, Shard, Source, Split  # noqa: E402
from mimic_keras.data.cifar10 import CLASSES, IMAGE_SHAPE  # noqa: E402
from mimic_keras.progress import Progress  # noqa: E402
from pipelines import beam_output  # noqa: E402
from pipelines import cifar10_sources as sources  # noqa: E402
from pipelines.cifar10_images import encode  # noqa: E402
from pipelines.cifar10_sources import ConversionError, SourceError  # noqa: E402

VERSION = 1  # bump when the same inputs would give different records
RECORDS_PER_SHARD = 8192


class OutputError(ConversionError):
    """The output folder holds something this run must not silently replace."""


def _hash(salt, example_id):
    return hashlib.sha256(f"{salt}:{example_id}".encode()).digest()


def carve_validation(train, val_size):
    """Splits `train` into (train, validation), stratified by class, by hashed id.

    Args:
        train: list of `Example`s.
        val_size: number of validation examples (0 for none).

    Returns:
        `(train, validation)`, each in the input order.
    """
    if val_size == 0:
        return list(train), []
    if val_size >= len(train):
        raise ConversionError(f"--val-size {val_size} leaves no training images (train has {len(train)})")
    by_class = collections.defaultdict(list)
    for example in train:
        by_class[example.label].append(example.id)
    exact = {c: val_size * len(ids) / len(train) for c, ids in by_class.items()}
    quota = {c: int(x) for c, x in exact.items()}
    by_remainder = sorted(exact, key=lambda c: (-(exact[c] - quota[c]), c))
    for c in by_remainder[: val_size - sum(quota.values())]:
        quota[c] += 1
    chosen = set()
    for c, ids in by_class.items():
        chosen.update(sorted(ids, key=lambda i: _hash("validation", i))[: quota[c]])
    return [e for e in train if e.id not in chosen], [e for e in train if e.id in chosen]


def default_shards(count):
    """A power of two giving at most about `RECORDS_PER_SHARD` records per shard."""
    shards = 1
    while shards * RECORDS_PER_SHARD < count and shards < 1024:
        shards *= 2
    return shards


def _write_split(out_dir, split, examples, num_shards, resize, verbose, seen):
    """Writes one split; `seen` (sha256 of an image's bytes -> (split, id)) spans the splits, so that
    an image in two splits (a test image also trained on) is refused, naming both."""
    encodings, labels = collections.Counter(), collections.Counter()
    progress = Progress(len(examples), "image", verb=f"{split}: converted", verbose=verbose)

    def serialized():
        for i, example in enumerate(examples, 1):
            data, kind = encode(example, resize)
            digest = hashlib.sha256(data).digest()
            other = seen.setdefault(digest, (split, example.id))
            if other[0] != split:
                raise SourceError(f"{example.where}: the same image as {other[1]} in {other[0]}; "
                                  f"an image in both {other[0]} and {split} would be tested on what was trained on: "
                                  "remove one copy")
            encodings[kind] += 1
            labels[example.label] += 1
            yield records.image_example(data, example.label, example.id)
            if i % 500 == 0 or i == len(examples):
                progress.update(i)

    if verbose:
        print(f"{split}: {len(examples)} images into {num_shards} shard(s)", file=sys.stderr)
    shards = writer.write_shards(out_dir, split, serialized(), num_shards)
    class_counts = {name: labels[i] for i, name in enumerate(CLASSES)} if split != "unlabelled" else {}
    return Split(count=len(examples), shards=[Shard(**s) for s in shards],
                 extra={"class_counts": class_counts, "image_encodings": dict(encodings)})


def _fingerprinted(options):
    """The options that make the records (old manifests spell `fmt` as `format`)."""
    return {"format": options.get("fmt", options.get("format")), "limit": options.get("limit"),
            "shards": options.get("shards"), "val_size": options.get("val_size"), "resize": options.get("resize")}


def _check_replaceable(out_dir, fingerprint, options, force):
    if force:
        return
    if jobs.is_url(out_dir):  # an object store: `atomic_output` refuses files no data job wrote
        try:
            old = Manifest.read(out_dir)
        except ManifestError:
            return
    elif not os.path.lexists(out_dir) or (os.path.isdir(out_dir) and not os.listdir(out_dir)):
        return
    else:
        try:
            old = Manifest.read(out_dir)
        except (ManifestError, NotADirectoryError):
            raise OutputError(f"{out_dir}: exists and is not a finished conversion; pass --force to replace it") from None
    if old.fingerprint == fingerprint:
        raise OutputError(f"{out_dir}: a shard listed in its manifest is missing; pass --force to redo it")
    wanted, had = _fingerprinted(options), _fingerprinted(old.options or {})
    changed = [k for k in wanted if had[k] != wanted[k]]
    why = f"options {', '.join(changed)} differ" if changed else "the source changed"
    raise OutputError(f"{out_dir}: holds a conversion of other inputs ({why}); pass --force to replace it")


@dataclasses.dataclass(frozen=True)
class Options:
    """The conversion's options; the CLI's flags are generated from these fields."""

    out: str = option("output folder")
    source: str = option("tfds, an official release (tar.gz or folder), or an image tree (folder or tar)", "tfds")
    fmt: Optional[str] = option("force the source form instead of detecting it", None, flag="--format",
                                choices=sources.FORMATS)
    unlabelled: Optional[str] = option("folder or tar of extra images for an `unlabelled` split (label -1)", None)
    limit: Optional[int] = option("at most N examples per split", None)
    shards: Optional[int] = option("shards per split (default: ~8k records per shard, a power of two)", None)
    val_size: int = option("validation examples carved from train (default 5000)", 5000)
    resize: bool = option("resize / convert images that are not 32x32 RGB", False)
    force: bool = option("replace an output made from other inputs or options", False)
    follow_links: bool = option("read files of a source folder through links that lead outside it", False)
    runner: str = jobs.runner_option()
    beam_args: tuple[str, ...] = jobs.beam_args_option()


def run(options, verbose=True):
    """Converts CIFAR-10 from `options.source` into TFRecord shards and a manifest under `options.out`.

    Args:
        options: an `Options`.
        verbose: print progress to stderr.

    Returns:
        The `Manifest` (the existing one when the output was already complete); its `options`
        are `dataclasses.asdict(options)` with absolute paths.

    Raises:
        ConversionError: bad options, a bad source (`SourceError`, one line naming the file),
            or an output that must not be replaced without `force` (`OutputError`).

    Example:
        manifest = run(Options(source="cifar-10-python.tar.gz", out="cache/cifar10", limit=1000))
    """
    source, unlabelled, out_dir = str(options.source), options.unlabelled, jobs.absolute(options.out)
    for name, minimum in (("limit", 1), ("shards", 1), ("val_size", 0)):
        value = getattr(options, name)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < minimum):
            raise ConversionError(f"{name} must be an integer >= {minimum}, got {value!r}")
    for path in (source, unlabelled):
        if path is not None and path != "tfds" and not os.path.exists(path):
            raise SourceError(f"{path}: no such file or directory")
    beam_output.check_runner(options.runner, options.beam_args, options.out)
    recorded = json.loads(json.dumps(dataclasses.asdict(dataclasses.replace(  # as the manifest holds it
        options, out=out_dir, source=source if source == "tfds" else os.path.abspath(source),
        unlabelled=jobs.absolute(unlabelled),
    ))))
    fingerprint = hashlib.sha256(json.dumps({
        "converter": VERSION,
        "source": sources.identity(source),
        "unlabelled": sources.identity(str(unlabelled)) if unlabelled is not None else None,
        "options": _fingerprinted(recorded),
    }, sort_keys=True).encode()).hexdigest()
    if not options.force and writer.is_complete(out_dir, fingerprint):
        print(f"{out_dir}: already converted from these inputs with these options; skipped")
        return Manifest.read(out_dir)
    _check_replaceable(out_dir, fingerprint, recorded, options.force)

    started = time.time()
    if verbose:
        print(f"reading {source}", file=sys.stderr)
    fmt_used, read = sources.read_labelled(source, options.fmt, follow_links=options.follow_links)
    train, validation = carve_validation(read["train"], options.val_size)
    plan = {"train": train, "validation": validation, "test": read["test"]}
    if unlabelled is not None:
        plan["unlabelled"] = sources.read_images(str(unlabelled), follow_links=options.follow_links)
    if not validation:
        del plan["validation"]
    plan = {split: sorted(exs, key=lambda e: _hash("order", e.id))[:options.limit] for split, exs in plan.items()}

    seen = {}
    num_shards = {split: min(options.shards or default_shards(len(exs)), len(exs)) for split, exs in plan.items()}
    with jobs.atomic_output(out_dir, force=options.force) as build:
        if options.runner == "beam":
            from pipelines import beam_images  # Beam is imported only when asked for

            if verbose:
                print(f"writing {', '.join(plan)} on Apache Beam ({' '.join(options.beam_args) or 'DirectRunner'})",
                      file=sys.stderr)
            encode_fn = functools.partial(encode, resize=options.resize)
            splits = beam_images.convert_splits(build, plan, num_shards, encode_fn, CLASSES, options.beam_args,
                                                check_duplicates=True, encodings=True)
        else:
            splits = {split: _write_split(build, split, exs, num_shards[split], options.resize, verbose, seen)
                      for split, exs in plan.items()}
        kinds = sorted({k for s in splits.values() for k in s.extra["image_encodings"]})
        manifest = Manifest(
            dataset="cifar10",
            fingerprint=fingerprint,
            source=Source.from_dict({"path": recorded["source"], "format": fmt_used,
                                     "unlabelled": recorded["unlabelled"]}, "source", out_dir),
            options=recorded,
            splits=splits,
            extra={
                "classes": list(CLASSES),
                "image_shape": list(IMAGE_SHAPE),
                "image_encoding": kinds[0] if len(kinds) == 1 else "mixed",
                "validation": "stratified by class, smallest sha256('validation:' + id) per class",
                "record_order": "sha256('order:' + id)",
                "converter_version": VERSION,
                "seconds": round(time.time() - started, 1),
            },
        )
        manifest.write(build)
    if verbose:
        counts = ", ".join(f"{s} {v.count}" for s, v in splits.items())
        print(f"{out_dir}: wrote {counts} ({manifest.extra['image_encoding']}) in {manifest.extra['seconds']} s")
    return manifest


def convert(source, out_dir, *, fmt=None, unlabelled=None, limit=None, shards=None, val_size=5000,
            resize=False, force=False, verbose=True):
    """`run(Options(...))` with keyword arguments, returning the manifest's JSON object.

    Example:
        manifest = convert("cifar-10-python.tar.gz", "cache/cifar10", limit=1000)
    """
    options = Options(out=str(out_dir), source=str(source), fmt=fmt, unlabelled=unlabelled, limit=limit,
                      shards=shards, val_size=val_size, resize=resize, force=force)
    return run(options, verbose=verbose).to_dict()


def main(argv=None):
    """The command line, generated from `Options`: exit status 0, or 2 with a one-line error."""
    return jobs.run_cli(Options, run, argv, errors=(ConversionError, jobs.OutputExists),
                        prog="python -m pipelines.cifar10_to_tfrecord",
                        description=__doc__.split("\n\n")[0])


if __name__ == "__main__":
    sys.exit(main())
