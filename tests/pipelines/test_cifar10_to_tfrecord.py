"""Tests for `pipelines/cifar10_to_tfrecord.py` on tiny sources built here in every form."""

import io
import json
import os
import pickle
import shutil
import tarfile

import numpy as np
import pytest
import tensorflow as tf

from mimic_keras.data import cifar10, records, writer
from pipelines import cifar10_to_tfrecord as c2t
from pipelines.cifar10_sources import Example, SourceError

PER_BATCH = 6  # 5 train batches -> 30 train images (3 per class), 10 test images
N_TEST = 10


def _images(n, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), (np.arange(n) + seed * PER_BATCH) % 10


def _tar(src_dir, tar_path, mode="w:gz"):
    with tarfile.open(tar_path, mode) as tar:
        for name in sorted(os.listdir(src_dir)):
            tar.add(os.path.join(src_dir, name), arcname=name)
    return str(tar_path)


# --- source builders: each returns (path, {id: (pixels or None, label)}) ------------------------


def make_python(root, protocol=2, tar=True):
    """The official python release: pickled dicts with bytes keys and CHW-flattened uint8 rows."""
    batches = root / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    expected = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        x, y = _images(N_TEST if name == "test_batch" else PER_BATCH, seed=b)
        split = "test" if name == "test_batch" else "train"
        rows = x.transpose(0, 3, 1, 2).reshape(len(x), -1)
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in y], b"data": rows,
                 b"filenames": [f"img_{i}.png".encode() for i in range(len(x))]}
        (batches / name).write_bytes(pickle.dumps(batch, protocol=protocol))
        expected.update({f"{split}/{name}/{i:05d}": (x[i], int(y[i])) for i in range(len(x))})
    meta = {b"label_names": [c.encode() for c in cifar10.CLASSES], b"num_cases_per_batch": PER_BATCH}
    (batches / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    path = _tar(root, root.parent / "cifar-10-python.tar.gz") if tar else str(batches)
    return path, expected


def make_binary(root, tar=True):
    """The official binary release: 1 label byte + 3072 CHW pixel bytes per record."""
    batches = root / "cifar-10-batches-bin"
    batches.mkdir(parents=True)
    expected = {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for b, name in enumerate(names):
        x, y = _images(N_TEST if name == "test_batch" else PER_BATCH, seed=b)
        split = "test" if name == "test_batch" else "train"
        rows = np.concatenate([y[:, None].astype(np.uint8), x.transpose(0, 3, 1, 2).reshape(len(x), -1)], axis=1)
        (batches / f"{name}.bin").write_bytes(rows.tobytes())
        expected.update({f"{split}/{name}/{i:05d}": (x[i], int(y[i])) for i in range(len(x))})
    (batches / "batches.meta.txt").write_text("\n".join(cifar10.CLASSES) + "\n\n")
    path = _tar(root, root.parent / "cifar-10-binary.tar.gz") if tar else str(batches)
    return path, expected


def make_folder(root, encoding="png", top=None):
    """A class-per-folder tree `[top/]{train,test}/<class>/NNNN.<ext>`."""
    base = root / top if top else root
    expected = {}
    for s, (split, n) in enumerate((("train", 5 * PER_BATCH), ("test", N_TEST))):
        x, y = _images(n, seed=10 + s)
        for i in range(n):
            rel = f"{split}/{cifar10.CLASSES[y[i]]}/{i:04d}.{'jpg' if encoding == 'jpeg' else 'png'}"
            (base / rel).parent.mkdir(parents=True, exist_ok=True)
            encoded = tf.io.encode_jpeg(x[i]) if encoding == "jpeg" else tf.io.encode_png(x[i])
            (base / rel).write_bytes(encoded.numpy())
            expected[rel] = (x[i], int(y[i]))
    return str(root), expected


def read_back(out_dir, split):
    """{id: (image, label)} of one converted split, read with the project's reader."""
    return {
        ex["id"].decode(): (ex["image"], int(ex["label"]))
        for ex in cifar10.load_split(str(out_dir), split).as_numpy_iterator()
    }


def raw_records(out_dir, split):
    files = writer.split_files(str(out_dir), split)
    parse = lambda s: tf.io.parse_single_example(s, records.IMAGE_FEATURES)  # noqa: E731
    return [{k: v for k, v in ex.items()} for ex in tf.data.TFRecordDataset(files).map(parse).as_numpy_iterator()]


def convert(src, out, **kw):
    kw.setdefault("val_size", 10)
    return c2t.convert(src, out, verbose=False, **kw)


# --- lossless round trips ------------------------------------------------------------------------

SOURCES = {
    "python-tar.gz": lambda root: make_python(root / "src", tar=True),
    "python-folder-protocol4": lambda root: make_python(root / "src", protocol=4, tar=False),
    "binary-tar.gz": lambda root: make_binary(root / "src", tar=True),
    "binary-folder": lambda root: make_binary(root / "src", tar=False),
    "png-folder": lambda root: make_folder(root / "src"),
}
FORMAT = {"python": "python", "binary": "binary", "png": "folder"}


@pytest.mark.parametrize("form", sorted(SOURCES))
def test_lossless_forms_round_trip_pixel_exact(tmp_path, form):
    src, expected = SOURCES[form](tmp_path)
    manifest = convert(src, tmp_path / "out")

    got = {split: read_back(tmp_path / "out", split) for split in ("train", "validation", "test")}
    assert sorted(got["train"].keys() | got["validation"].keys()) == sorted(k for k in expected if k.startswith("train/"))
    assert sorted(got["test"]) == sorted(k for k in expected if k.startswith("test/"))
    for split_items in got.values():
        for example_id, (image, label) in split_items.items():
            np.testing.assert_array_equal(image, expected[example_id][0], err_msg=example_id)
            assert label == expected[example_id][1], example_id

    assert manifest["source"]["format"] == FORMAT[form.split("-")[0]]
    assert manifest["classes"] == list(cifar10.CLASSES)
    assert manifest["image_shape"] == [32, 32, 3] and manifest["image_encoding"] == "png"
    for split, items in got.items():
        entry = manifest["splits"][split]
        assert entry["count"] == len(items) == sum(s["count"] for s in entry["shards"])
        labels = [lab for _, lab in items.values()]
        assert entry["class_counts"] == {c: labels.count(i) for i, c in enumerate(cifar10.CLASSES)}
    assert (manifest["splits"]["train"]["count"], manifest["splits"]["validation"]["count"]) == (20, 10)
    assert writer.read_manifest(str(tmp_path / "out")) == manifest
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_nested_png_tar_detected_as_folder(tmp_path):
    src, expected = make_folder(tmp_path / "tree", top="cifar10")
    tar = _tar(src, tmp_path / "tree.tar.gz")
    manifest = convert(tar, tmp_path / "out", val_size=0)
    assert manifest["source"]["format"] == "folder" and "validation" not in manifest["splits"]
    got = read_back(tmp_path / "out", "train")
    assert sorted(got) == sorted(k for k in expected if k.startswith("train/"))
    for example_id, (image, label) in got.items():
        np.testing.assert_array_equal(image, expected[example_id][0])
        assert label == expected[example_id][1]


def test_python_and_binary_give_the_same_ids_and_validation(tmp_path):
    py, _ = make_python(tmp_path / "py")
    bn, _ = make_binary(tmp_path / "bin")
    a, b = convert(py, tmp_path / "a"), convert(bn, tmp_path / "b")
    assert a["splits"]["validation"]["class_counts"] == {c: 1 for c in cifar10.CLASSES}  # stratified
    val_a, val_b = read_back(tmp_path / "a", "validation"), read_back(tmp_path / "b", "validation")
    assert list(val_a) == list(val_b)  # same ids, same order
    assert not set(val_a) & set(read_back(tmp_path / "a", "train"))
    assert a["splits"]["validation"]["shards"][0]["sha256"] == b["splits"]["validation"]["shards"][0]["sha256"]


def test_carve_validation_is_stratified_and_deterministic():
    train = [Example(f"train/{i:05d}", label, "x") for i, label in enumerate([0] * 600 + [1] * 300 + [2] * 100)]
    kept, val = c2t.carve_validation(train, 101)
    counts = np.bincount([e.label for e in val])
    assert counts.tolist() == [61, 30, 10] and len(kept) == 899
    assert [e.id for e in val] == [e.id for e in c2t.carve_validation(list(reversed(train)), 101)[1]][::-1]
    # Adding images elsewhere does not move the other classes' choices.
    more = train + [Example(f"train/x{i}", 1, "x") for i in range(300)]
    assert {e.id for e in c2t.carve_validation(more, 100)[1] if e.label == 0} <= {e.id for e in val}
    with pytest.raises(c2t.ConversionError, match="leaves no training images"):
        c2t.carve_validation(train, 1000)


def test_limit_takes_the_first_n_in_record_order(tmp_path):
    src, _ = make_python(tmp_path / "src")
    full = convert(src, tmp_path / "full")
    small = convert(src, tmp_path / "small", limit=4, shards=3)
    for split in ("train", "validation", "test"):
        assert small["splits"][split]["count"] == 4 and len(small["splits"][split]["shards"]) == 3
        first = [r["id"].decode() for r in raw_records(tmp_path / "full", split)]  # one shard: file order
        assert sorted(read_back(tmp_path / "small", split)) == sorted(first[:4])
    assert small["options"]["limit"] == 4 and full["splits"]["train"]["count"] == 20


def test_unlabelled_split_from_nested_folder_and_tar(tmp_path):
    src, _ = make_folder(tmp_path / "src")
    extra = tmp_path / "extra"
    x, _ = _images(5, seed=99)
    for i, image in enumerate(x):
        path = extra / "a" / ("b" if i % 2 else "") / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tf.io.encode_png(image).numpy())
    for unlabelled in (str(extra), _tar(extra, tmp_path / "extra.tar", mode="w")):
        out = tmp_path / f"out-{os.path.basename(unlabelled)}"
        manifest = convert(src, out, unlabelled=unlabelled)
        got = read_back(out, "unlabelled")
        assert manifest["splits"]["unlabelled"]["count"] == 5 and manifest["splits"]["unlabelled"]["class_counts"] == {}
        assert {label for _, label in got.values()} == {records.UNLABELLED}
        assert "unlabelled/a/b/1.png" in got
        np.testing.assert_array_equal(got["unlabelled/a/b/1.png"][0], x[1])


def test_jpeg_tar_keeps_source_bytes(tmp_path):
    src, expected = make_folder(tmp_path / "src", encoding="jpeg", top="cifar10-jpeg")
    tar = _tar(src, tmp_path / "cifar10-jpeg.tar", mode="w")
    manifest = convert(tar, tmp_path / "out")
    assert manifest["image_encoding"] == "jpeg"
    with tarfile.open(tar) as archive:
        for split in ("train", "validation", "test"):
            for record in raw_records(tmp_path / "out", split):
                example_id = record["id"].decode()
                assert record["image"] == archive.extractfile(f"cifar10-jpeg/{example_id}").read()
                assert record["label"] == expected[example_id][1]


def test_rerun_is_a_no_op_and_other_options_need_force(tmp_path, capsys):
    src, _ = make_binary(tmp_path / "src")
    out = tmp_path / "out"
    first = convert(src, out)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    capsys.readouterr()
    assert convert(src, out) == first
    assert "skipped" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes

    with pytest.raises(c2t.OutputError, match="options val_size differ.*--force"):
        convert(src, out, val_size=20)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
    forced = convert(src, out, val_size=20, force=True)
    assert forced["splits"]["validation"]["count"] == 20
    files = [s["file"] for v in forced["splits"].values() for s in v["shards"]]
    assert sorted(p.name for p in out.iterdir()) == sorted(["manifest.json", *files])


def test_cli_writes_and_reports_errors(tmp_path, capsys):
    src, _ = make_binary(tmp_path / "src")
    assert c2t.main(["--source", src, "--out", str(tmp_path / "out"), "--val-size", "5", "--shards", "2"]) == 0
    manifest = writer.read_manifest(str(tmp_path / "out"))
    assert [len(manifest["splits"][s]["shards"]) for s in ("train", "validation", "test")] == [2, 2, 2]
    capsys.readouterr()
    assert c2t.main(["--source", str(tmp_path / "nope"), "--out", str(tmp_path / "out2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "nope: no such file or directory" in err and err.count("\n") == 1
    assert not (tmp_path / "out2").exists()


# --- bad inputs: a one-line SourceError naming the file, and no output -------------------------


def _corrupt_binary_size(root):
    src, _ = make_binary(root, tar=False)
    with open(os.path.join(src, "data_batch_2.bin"), "ab") as f:
        f.write(b"\0" * 10)
    return src, "data_batch_2.bin: size 18448 bytes is not a positive multiple of 3073"


def _binary_label_out_of_range(root):
    src, _ = make_binary(root, tar=False)
    path = os.path.join(src, "test_batch.bin")
    data = bytearray(open(path, "rb").read())
    data[3073 * 2] = 10
    open(path, "wb").write(bytes(data))
    return src, "test_batch.bin: label 10 at index 2 is out of range 0..9"


def _python_label_out_of_range(root):
    src, _ = make_python(root, tar=False)
    path = os.path.join(src, "data_batch_3")
    batch = pickle.loads(open(path, "rb").read(), encoding="bytes")
    batch[b"labels"][1] = 12
    open(path, "wb").write(pickle.dumps(batch, protocol=2))
    return src, "data_batch_3: label 12 at index 1 is out of range"


def _python_missing_batch(root):
    src, _ = make_python(root, tar=False)
    os.remove(os.path.join(src, "data_batch_4"))
    return src, "missing data_batch_4"


def _truncated_tar_gz(root):
    src, _ = make_python(root)
    data = open(src, "rb").read()
    open(src, "wb").write(data[: len(data) // 2])
    return src, "cifar-10-python.tar.gz: truncated or corrupt tar archive"


def _truncated_tar_mid_member(root):
    src, _ = make_folder(root)
    tar = _tar(src, root.parent / "tree.tar", mode="w")
    data = open(tar, "rb").read()
    open(tar, "wb").write(data[: len(data) // 2 + 100])
    return tar, "tree.tar: truncated"


def _truncated_tar_at_member_boundary(root):
    src, _ = make_folder(root)
    tar = _tar(src, root.parent / "tree.tar", mode="w")
    with tarfile.open(tar) as archive:
        cut = archive.getmembers()[-1].offset  # the last member's header: a "valid" shorter tar
    open(tar, "r+b").truncate(cut)
    return tar, "tree.tar: truncated tar archive (no end-of-archive marker)"


def _image_not_32x32(root):
    src, _ = make_folder(root)
    path = os.path.join(src, "test", "cat", "big.png")
    open(path, "wb").write(tf.io.encode_png(np.zeros((40, 30, 3), np.uint8)).numpy())
    return src, "test/cat/big.png: image is 40x30 with 3 channel(s), expected 32x32 RGB"


def _image_grey(root):
    src, _ = make_folder(root)
    path = os.path.join(src, "train", "dog", "grey.png")
    open(path, "wb").write(tf.io.encode_png(np.zeros((32, 32, 1), np.uint8)).numpy())
    return src, "train/dog/grey.png: image is 32x32 with 1 channel(s)"


def _unknown_class(root):
    src, _ = make_folder(root)
    path = os.path.join(src, "train", "kitten", "0.png")
    os.makedirs(os.path.dirname(path))
    open(path, "wb").write(tf.io.encode_png(np.zeros((32, 32, 3), np.uint8)).numpy())
    return src, "unknown class folder train/kitten"


def _not_an_image(root):
    src, _ = make_folder(root)
    open(os.path.join(src, "test", "cat", "notes.txt"), "w").write("hello")
    return src, "test/cat/notes.txt: not an image file"


def _corrupt_jpeg(root):
    src, _ = make_folder(root)
    open(os.path.join(src, "test", "cat", "bad.jpg"), "wb").write(b"\xff\xd8\xff\xe0garbage")
    return src, "test/cat/bad.jpg: cannot decode jpeg"


def _empty_folder(root):
    root.mkdir(parents=True)
    return str(root), "empty source"


def _empty_tar(root):
    root.mkdir(parents=True)
    return _tar(root, root.parent / "empty.tar", mode="w"), "empty source"


def _no_test_split(root):
    src, _ = make_folder(root)
    shutil.rmtree(os.path.join(src, "test"))
    return src, "no images under test/"


def _missing(root):
    return str(root / "missing.tar.gz"), "missing.tar.gz: no such file or directory"


BAD = [_corrupt_binary_size, _binary_label_out_of_range, _python_label_out_of_range, _python_missing_batch,
       _truncated_tar_gz, _truncated_tar_mid_member, _truncated_tar_at_member_boundary, _image_not_32x32,
       _image_grey, _unknown_class, _not_an_image, _corrupt_jpeg, _empty_folder, _empty_tar, _no_test_split, _missing]


@pytest.mark.parametrize("bad", BAD, ids=[f.__name__.strip("_") for f in BAD])
def test_bad_input_fails_with_one_line_and_no_output(tmp_path, bad):
    src, message = bad(tmp_path / "src")
    with pytest.raises(SourceError) as info:
        convert(src, tmp_path / "out")
    assert message in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_resize_converts_odd_images(tmp_path):
    src, _ = make_folder(tmp_path / "src")
    for name, shape in (("big.png", (40, 30, 3)), ("grey.png", (32, 32, 1)), ("rgba.png", (16, 16, 4))):
        open(os.path.join(src, "test", "cat", name), "wb").write(tf.io.encode_png(np.full(shape, 200, np.uint8)).numpy())
    manifest = convert(src, tmp_path / "out", resize=True)
    got = read_back(tmp_path / "out", "test")
    assert manifest["splits"]["test"]["count"] == N_TEST + 3 and manifest["options"]["resize"] is True
    for name in ("big.png", "grey.png", "rgba.png"):
        image, label = got[f"test/cat/{name}"]
        assert image.shape == (32, 32, 3) and label == 3 and (image == 200).all()


def test_failed_forced_rerun_keeps_the_previous_output(tmp_path):
    src, _ = make_folder(tmp_path / "src")
    out = tmp_path / "out"
    before = convert(src, out)
    open(os.path.join(src, "test", "cat", "bad.jpg"), "wb").write(b"\xff\xd8\xff\xe0garbage")
    with pytest.raises(SourceError, match="bad.jpg"):
        convert(src, out, force=True)
    assert writer.read_manifest(str(out)) == before and writer.is_complete(str(out), before["fingerprint"])
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --- the python release is read without running code ----------------------------------------------


class _Evil:
    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("how", ["os.system", "builtins.open", "codecs-other"])
def test_malicious_pickle_runs_nothing(tmp_path, how):
    src, _ = make_python(tmp_path / "src", tar=False)
    marker = tmp_path / "pwned"
    payload = {
        "os.system": _Evil(os.system, (f"touch {marker}",)),
        "builtins.open": _Evil(open, (str(marker), "w")),
        "codecs-other": _Evil(__import__("_codecs").encode, ("x", "rot13")),
    }[how]
    with open(os.path.join(src, "data_batch_1"), "wb") as f:
        pickle.dump({b"data": payload, b"labels": [0]}, f, protocol=2)
    with pytest.raises(SourceError, match=r"data_batch_1: not a CIFAR-10 python batch .*refusing") as info:
        convert(src, tmp_path / "out")
    assert "\n" not in str(info.value)
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_unpickler_reads_official_style_batches():
    rows = np.arange(2 * 3072, dtype=np.uint8).reshape(2, 3072)
    for protocol in (2, 4, 5):
        data = pickle.dumps({b"data": rows, b"labels": [1, 2]}, protocol=protocol)
        batch = c2t.sources.BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
        np.testing.assert_array_equal(batch[b"data"], rows)


def test_manifest_is_json_with_the_documented_shape(tmp_path):
    src, _ = make_binary(tmp_path / "src")
    convert(src, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert set(manifest) >= {"dataset", "classes", "image_shape", "image_encoding", "source", "fingerprint",
                             "options", "splits"}
    assert manifest["source"] == {"path": os.path.abspath(src), "format": "binary", "unlabelled": None}
    for split in manifest["splits"].values():
        for shard in split["shards"]:
            assert writer.sha256_file(str(tmp_path / "out" / shard["file"])) == shard["sha256"]
