"""The typed manifest: round trips, the layouts earlier versions wrote, and malformed files."""

import json
import os

import pytest

from mimic_keras.data import writer
from mimic_keras.data.manifest import (
    Manifest, ManifestError, ManifestMissing, Shard, Source, Split, follow, labelled_from,
)

SHARD = {"file": "train.tfrecord-00000-of-00001", "sha256": "ab" * 32, "count": 3}

# As the jobs wrote them before the manifest was typed (commit 0034584).
OLD_CIFAR = {
    "dataset": "cifar10", "classes": ["airplane"], "image_shape": [32, 32, 3], "image_encoding": "png",
    "source": {"path": "/data/cifar-10-python.tar.gz", "format": "python", "unlabelled": None},
    "fingerprint": "f" * 64, "options": {"format": None, "limit": None, "shards": None, "val_size": 5000,
                                         "resize": False},
    "validation": "stratified", "record_order": "sha256", "converter_version": 1, "seconds": 1.5,
    "splits": {"train": {"count": 3, "class_counts": {"airplane": 3}, "image_encodings": {"png": 3},
                         "shards": [SHARD]}},
}
OLD_LABELLED = {
    "dataset": "cifar10", "classes": ["airplane"], "image_shape": [32, 32, 3], "num_classes": 10,
    "source": {"path": "/work/data", "fingerprint": "f" * 64},
    "teacher": {"paths": ["/t.keras"], "sha256": ["1" * 64], "fingerprint": "2" * 64},
    "options": {"views": 2, "splits": ["train"]}, "fingerprint": "3" * 64, "seconds": 2.0,
    "splits": {"train": {"count": 3, "views": 2, "mixup": 0, "shards": [SHARD]}},
}
OLD_TIMIT = {
    "dataset": "timit", "format_version": 1, "fingerprint": "4" * 64,
    "source": {"root": "/TIMIT", "dev_speakers": 1, "full_test": False, "include_sa": False, "shards": None,
               "limit": None, "perturb": [0.9, 1.1]},
    "num_states": 183, "normalization": {"split": "train", "frames": 9, "mean": [0.0], "std": [1.0]},
    "splits": {"unlabelled": {"count": 3, "frames": 9, "speakers": ["FCJF0"], "source_split": "train",
                              "factors": {"0.9": {"ratio": "9/10", "count": 3, "frames": 9}}, "shards": [SHARD]}},
}


@pytest.mark.parametrize("old", [OLD_CIFAR, OLD_LABELLED, OLD_TIMIT], ids=["cifar", "labelled", "timit"])
def test_earlier_layouts_read_typed_and_write_back_unchanged(tmp_path, old):
    (tmp_path / "manifest.json").write_text(json.dumps(old))
    manifest = Manifest.read(tmp_path)
    assert manifest.to_dict() == old and writer.read_manifest(str(tmp_path)) == old
    split = next(iter(manifest.splits.values()))
    assert isinstance(split, Split) and split.count == 3 and split.shards == [Shard(**SHARD)]
    assert manifest.fingerprint == old["fingerprint"] and manifest.dataset == old["dataset"]
    (tmp_path / "again").mkdir()
    manifest.write(tmp_path / "again")
    assert json.loads((tmp_path / "again" / "manifest.json").read_text()) == old


def test_typed_fields():
    labelled = Manifest.from_dict(OLD_LABELLED)
    assert labelled.teacher.sha256 == ["1" * 64] and labelled.num_classes == 10
    assert labelled.source == Source(path="/work/data", fingerprint="f" * 64)
    assert labelled.splits["train"].views == 2 and labelled.options == {"views": 2, "splits": ["train"]}
    timit = Manifest.from_dict(OLD_TIMIT)
    assert timit.source.root == "/TIMIT" and timit.source.get("perturb") == [0.9, 1.1]
    assert timit.splits["unlabelled"].factors["0.9"]["frames"] == 9 and timit.get("num_states") == 183
    assert Manifest.from_dict(OLD_CIFAR).source.get("format") == "python"


def test_round_trip_of_a_built_manifest(tmp_path):
    manifest = Manifest(dataset="timit", fingerprint="x", source=Source(root="/r", extra={"limit": 2}),
                        options={"timit": "/r", "perturb": [0.9]},
                        splits={"train": Split(count=3, frames=9, shards=[Shard(**SHARD)], extra={"labels": "none"})})
    manifest.write(tmp_path)
    assert Manifest.read(tmp_path) == manifest


def test_the_manifests_the_jobs_write_read_back(timit_records, timit_perturbed_labelled):
    data, transfer, teacher = timit_perturbed_labelled
    for folder in (timit_records, data, transfer):
        raw = json.loads(open(os.path.join(folder, "manifest.json")).read())
        assert Manifest.read(folder).to_dict() == raw
    labelled = Manifest.read(transfer)
    assert labelled.source.path == os.path.abspath(data) and labelled.teacher.paths == [os.path.abspath(teacher)]
    assert labelled.options["teacher"] == [os.path.abspath(teacher)] and labelled.options["context"] == 7
    assert labelled_from(transfer) == os.path.abspath(data) and labelled_from(data) is None


def test_follow_walks_from_a_labelled_folder_to_its_source(timit_perturbed_labelled):
    data, transfer, _ = timit_perturbed_labelled
    assert follow(transfer, lambda m: m.get("normalization")) == Manifest.read(data).get("normalization")
    assert follow(transfer, lambda m: m.teacher.fingerprint if m.teacher else None) == Manifest.read(
        transfer).teacher.fingerprint
    assert follow(transfer, lambda m: m.get("no such entry")) is None


@pytest.mark.parametrize("content,message", [
    ("{not json", "not JSON"),
    ("[]", "is list, expected an object"),
    ('{"dataset": "cifar10"}', "has no 'splits'"),
    ('{"splits": {"train": {"shards": []}}}', "splits.train has no 'count'"),
    ('{"splits": {"train": {"count": "3", "shards": []}}}', "splits.train.count is str, expected int"),
    ('{"splits": {"train": {"count": true, "shards": []}}}', "splits.train.count is bool, expected int"),
    ('{"splits": {"train": {"count": 3, "shards": [{"file": "a"}]}}}', "splits.train.shards[0] has no 'count'"),
    ('{"splits": {}, "teacher": {"paths": []}}', "teacher has no 'sha256'"),
    ('{"splits": {}, "fingerprint": 7}', "fingerprint is int, expected str"),
])
def test_malformed_manifests_fail_in_one_line_naming_the_file(tmp_path, content, message):
    path = tmp_path / "manifest.json"
    path.write_text(content)
    with pytest.raises(ManifestError) as error:
        Manifest.read(tmp_path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text
    assert not writer.is_complete(str(tmp_path))


def test_a_missing_manifest_is_a_file_not_found_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest") as error:
        writer.read_manifest(str(tmp_path))
    assert isinstance(error.value, ManifestMissing) and str(tmp_path / "manifest.json") in str(error.value)
