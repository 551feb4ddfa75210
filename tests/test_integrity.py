"""Integrity under misuse: the failure classes of issue 14, each with inputs built here.

Every user error ends as one line `error: ...` on stderr and exit status 2 (1 only for a bug,
whose traceback `--debug` shows), and leaves nothing behind. Classes:

1. two processes on one workdir or output folder       test_second_*, test_stale_lock_*, test_resume_*
2. silently wrong data                                  test_shard_*, test_*_speaker_*, test_image_in_two_splits_*,
                                                        test_missing_class_*, test_config_misuse_*
3. unbounded resources                                  test_compressed_tar_*, test_plain_tar_*, test_tune_*
4. unsafe reading                                       test_tar_member_*, test_folder_link_*
5. tracebacks instead of one line                       test_malformed_manifest_*, test_bad_preset_*,
                                                        test_unwritable_*, test_phn_directory_*, test_internal_error_*
6. leftovers                                            test_killed_job_*
"""

import errno
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time

import pytest
import tensorflow as tf

from mimic_keras import config as config_lib
from mimic_keras import checkpoints, fit, jobs, locks, stages, training
from mimic_keras.data import cifar10, verify, writer
from mimic_keras.layout import Layout
from pipelines import (
    cifar10_sources, cifar10_to_tfrecord, label_with_teacher, source_trees, timit_corpus, timit_to_tfrecord,
)
from tests import timit_fixtures as fx
from tests.helpers import TINY, image_tree, toy_images, write_image_dir

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT}


def one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert len(lines) == 1 and err.endswith(lines[0]), err  # progress lines may come before it
    assert "Traceback" not in err
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.fixture(autouse=True)
def _verification_on():
    verify.set_enabled(True)
    yield
    verify.set_enabled(True)


# --- 1. two runs on one workdir ----------------------------------------------------------------


def _hold_in_child(folder, tmp_path):
    """A child process holding `folder`'s lock until killed; returns it once it holds the lock."""
    marker = tmp_path / "held"
    code = ("import sys, time; from mimic_keras import locks\n"
            f"with locks.hold_folder({str(folder)!r}):\n"
            f"    open({str(marker)!r}, 'w').close(); time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", code], env=ENV, cwd=ROOT)
    deadline = time.time() + 60
    while not marker.exists():
        assert child.poll() is None and time.time() < deadline, "the child did not take the lock"
        time.sleep(0.05)
    return child


def test_second_fit_on_a_workdir_fails_at_once_naming_the_holder(tmp_path, capsys):
    workdir = tmp_path / "run"
    child = _hold_in_child(workdir, tmp_path)
    try:
        t0 = time.time()
        assert fit.main(["mimic", "--preset", "cifar10-quick", "--workdir", str(workdir)]) == 2
        assert time.time() - t0 < 30
        one_line_error(capsys, f"PID {child.pid}", "started ", str(workdir))
        from mimic_keras.tune import cli as tune_cli

        assert tune_cli.main(["--preset", "cifar10-quick", "--workdir", str(workdir), "--max-trials", "1"]) == 2
        one_line_error(capsys, f"PID {child.pid}")
    finally:
        child.kill()
        child.wait()
    # The holder died: the lock passes on (the stage then refuses for its own reason).
    assert fit.main(["mimic", "--preset", "cifar10-quick", "--workdir", str(workdir)]) == 2
    err = capsys.readouterr().err
    assert "run stage 'label' first" in err and f"taking over the lock of PID {child.pid}" in err


def test_second_job_on_an_output_folder_fails_at_once(tmp_path, capsys):
    src = image_tree(str(tmp_path / "src"), n_train=20, n_test=10)
    out = tmp_path / "out"
    child = _hold_in_child(out, tmp_path)
    try:
        assert cifar10_to_tfrecord.main(["--source", src, "--out", str(out), "--val-size", "0"]) == 2
        one_line_error(capsys, f"PID {child.pid}", str(out))
    finally:
        child.kill()
        child.wait()
    assert not out.exists()


def test_stale_lock_of_a_dead_process_is_taken_over_with_a_note(tmp_path, capsys):
    folder = tmp_path / "run"
    pid = dead_pid()
    with open(locks.lock_file(folder), "w") as f:
        json.dump({"pid": pid, "started": "2026-01-01T00:00:00", "command": "fit all"}, f)
    with locks.hold_folder(folder):
        with locks.hold_folder(folder):  # re-entrant in one process: a stage calling a job
            pass
    assert f"taking over the lock of PID {pid}" in capsys.readouterr().err
    assert not os.path.exists(locks.lock_file(folder))  # released: nothing left behind


def test_resume_log_with_two_headers_and_a_cut_line_reads(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("epoch,loss,val_loss\n0,1.0,2.0\nepoch,loss,val_loss\n0,0.9,1.9\n1,0.8,1.7\n2,0.7\n3,0.6,1.5,9,9\n")
    curves = training.read_csv_log(str(path))
    assert curves["epoch"] == [1, 2, 3]
    assert curves["loss"] == [0.9, 0.8, 0.7]  # epoch 1 run twice: the last row wins
    assert curves["val_loss"][:2] == [1.9, 1.7] and curves["val_loss"][2] != curves["val_loss"][2]  # NaN


def test_resume_from_a_damaged_backup_starts_over_instead_of_crashing(tmp_path, capsys):
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / checkpoints.ResumableBackup.POINTER).write_text(json.dumps({"epoch": 2, "batch": 0, "weights": "gone.h5"}))
    assert checkpoints.read_backup_state(str(backup)) is None  # its weights deleted by another run
    (backup / checkpoints.ResumableBackup.POINTER).write_text('{"epoch": ')
    assert checkpoints.read_backup_state(str(backup)) is None
    assert "training starts over" in capsys.readouterr().out
    (backup / "run.json").write_text("[not a stamp")
    assert checkpoints.prepare_backup(str(tmp_path), "stamp", "mimic") == str(backup)
    assert json.loads((backup / "run.json").read_text()) == {"stamp": "stamp"}


# --- 2. silently wrong data --------------------------------------------------------------------


def _records_folder(tmp_path, n=40):
    data = str(tmp_path / "data")
    write_image_dir(data, {"train": n, "validation": 8})
    return data, writer.split_files(data, "train")


def _truncate_at_record(path, keep):
    """Cuts a TFRecord file after `keep` whole records (at a record boundary)."""
    with open(path, "rb") as f:
        blob = f.read()
    offset = 0
    for _ in range(keep):
        (length,) = __import__("struct").unpack("<Q", blob[offset:offset + 8])
        offset += 12 + length + 4
    with open(path, "wb") as f:
        f.write(blob[:offset])


def test_shard_truncated_at_a_record_boundary_is_refused_naming_it(tmp_path):
    data, shards = _records_folder(tmp_path)
    _truncate_at_record(shards[0], 5)
    with pytest.raises(verify.ShardError, match=r"tfrecord-00000-of-00002: holds 5 records, its manifest says 20"):
        cifar10.load_split(data, "train")
    with pytest.raises(verify.ShardError, match="holds 5 records"):
        cifar10.num_examples(data, "train")
    verify.set_enabled(False)  # --no-verify: the user knows
    assert sum(1 for _ in cifar10.load_split(data, "train")) == 25


def test_shard_cut_inside_a_record_or_changed_is_refused(tmp_path):
    data, shards = _records_folder(tmp_path)
    with open(shards[0], "rb+") as f:
        f.truncate(os.path.getsize(shards[0]) - 3)
    with pytest.raises(verify.ShardError, match="truncated inside record 20"):
        cifar10.load_split(data, "train")
    data, shards = _records_folder(tmp_path / "b")
    with open(shards[1], "rb+") as f:  # same length, one byte flipped inside a record
        f.seek(100)
        byte = f.read(1)
        f.seek(100)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(verify.ShardError, match=r"00001-of-00002: sha256 .* differs from its manifest"):
        writer.split_files(data, "train")


def test_shard_hand_edited_count_is_refused(tmp_path):
    data, _ = _records_folder(tmp_path)
    manifest = json.load(open(os.path.join(data, "manifest.json")))
    manifest["splits"]["train"]["count"] = 400  # would stretch the learning-rate schedule
    json.dump(manifest, open(os.path.join(data, "manifest.json"), "w"))
    with pytest.raises(verify.ShardError, match="split 'train' has count 400 but its shards hold 40"):
        cifar10.num_examples(data, "train")
    for shard in manifest["splits"]["train"]["shards"]:
        shard["count"] *= 10
    manifest["splits"]["train"]["count"] = 400
    json.dump(manifest, open(os.path.join(data, "manifest.json"), "w"))
    with pytest.raises(verify.ShardError, match="holds 20 records, its manifest says 200"):
        cifar10.num_examples(data, "train")


def test_shard_is_read_once_per_process_until_it_changes(tmp_path, monkeypatch):
    calls = []
    scan = verify.scan
    monkeypatch.setattr(verify, "scan", lambda path: calls.append(path) or scan(path))
    data, shards = _records_folder(tmp_path)  # its own read is the first
    for _ in range(3):
        writer.split_files(data, "train")
    assert sorted(calls) == sorted(shards)
    os.utime(shards[0], ns=(1, 1))  # a new mtime: checked again
    writer.split_files(data, "train")
    assert calls[-1] == shards[0] and len(calls) == len(shards) + 1


def test_shard_truncation_met_by_a_stage_is_one_line_naming_it(tmp_path, capsys):
    workdir = str(tmp_path / "run")
    args = ["teacher", "--preset", "cifar10-quick", "--workdir", workdir, *TINY]
    cfg = config_lib.apply_overrides(config_lib.get_preset("cifar10-quick"), TINY)
    layout = Layout(workdir)
    write_image_dir(layout.data, {"train": 64, "validation": 40, "test": 16})
    _truncate_at_record(writer.split_files(layout.data, "train")[0], 3)
    stages.record("prepare", cfg, layout)  # converted outside fit, then damaged: only the read can tell
    assert fit.main(args) == 2
    one_line_error(capsys, "stage teacher", "train.tfrecord-00000-of-00002", "holds 3 records")
    assert not os.path.exists(os.path.join(workdir, "teacher", "teacher_0", "model.keras"))
    assert fit.main([*args, "--no-verify"]) == 0  # the user knows


def _utterances(part, speakers):
    return [timit_corpus.Utterance(part, "DR1", s, name, f"{s}/{name}.WAV", f"{s}/{name}.PHN")
            for s in speakers for name in ("SX1", "SX2")]


def test_a_speaker_under_train_and_test_is_refused_naming_them():
    corpus = {"TRAIN": _utterances("TRAIN", ["FAAA0", "MBBB0", "MCCC0", "MDAB0"]),
              "TEST": _utterances("TEST", ["MDAB0", "MWBT0"])}
    with pytest.raises(timit_corpus.CorpusError, match="speakers under both TRAIN and TEST: MDAB0"):
        timit_corpus.plan_splits(corpus, dev_speakers=1, full_test=True)
    corpus["TRAIN"] = [u for u in corpus["TRAIN"] if u.speaker != "MDAB0"]
    splits, speakers = timit_corpus.plan_splits(corpus, dev_speakers=1, full_test=True)
    assert not set(speakers["train"]) & set(speakers["dev"]) and not set(speakers["dev"]) & set(speakers["test"])


def test_a_speaker_in_two_splits_is_refused_by_the_check():
    with pytest.raises(timit_corpus.CorpusError, match="speaker MDAB0 is in both dev and test"):
        timit_corpus.check_disjoint({"train": ["FAAA0"], "dev": ["MDAB0"], "test": ["MDAB0", "MWBT0"]})


def test_a_speaker_in_two_parts_fails_the_job_in_one_line(tmp_path, capsys):
    root = fx.make_corpus(str(tmp_path / "TIMIT"), train=[("DR1", "FAAA0"), ("DR1", "MDAB0"), ("DR2", "MCCC0")],
                          test=[("DR1", "MDAB0")], utterances=("SX200",))
    out = str(tmp_path / "out")
    assert timit_to_tfrecord.main(["--timit", root, "--out", out, "--full-test"]) == 2
    one_line_error(capsys, "MDAB0", "TRAIN and TEST")
    assert not os.path.exists(out)


def test_image_in_two_splits_is_refused_by_content(tmp_path, capsys):
    src = image_tree(str(tmp_path / "src"), n_train=30, n_test=10)
    test_file = next(os.path.join(d, n) for d, _, ns in os.walk(os.path.join(src, "test")) for n in ns)
    os.makedirs(os.path.join(src, "train", "ship"), exist_ok=True)
    shutil.copy(test_file, os.path.join(src, "train", "ship", "copy.png"))  # renamed, relabelled: same bytes
    out = str(tmp_path / "out")
    assert cifar10_to_tfrecord.main(["--source", src, "--out", out, "--val-size", "0"]) == 2
    one_line_error(capsys, "copy.png", os.path.relpath(test_file, src).replace(os.sep, "/"), "train and test")
    assert not os.path.exists(out) and os.listdir(tmp_path) == ["src"]  # nothing left beside it either


def test_missing_class_is_warned_of(tmp_path, capsys):
    src = image_tree(str(tmp_path / "src"), n_train=30, n_test=10)
    shutil.rmtree(os.path.join(src, "train", "cat"), ignore_errors=True)
    os.makedirs(os.path.join(src, "train", "cat"))  # an empty class folder
    assert cifar10_to_tfrecord.main(["--source", src, "--out", str(tmp_path / "out"), "--val-size", "0"]) == 0
    assert re.search(r"warning: .*: no images of (\w+, )*cat(, \w+)* under train/", capsys.readouterr().err)


@pytest.mark.parametrize("preset,words", [
    ({"name": "../outside"}, ["name"]),
    ({"name": "x", "mimic": 5}, ["mimic"]),
    ({"name": "x", "data": {"dataset": "timit", "views": 2}}, ["data.views"]),
])
def test_config_misuse_is_refused_in_one_line(tmp_path, capsys, preset, words):
    base = config_lib.to_dict(config_lib.get_preset("timit-quick" if "views" in str(preset) else "cifar10-quick"))
    for key, value in preset.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    path = tmp_path / "preset.json"
    path.write_text(json.dumps(base))
    assert fit.main(["config", "--preset", str(path)]) == 2
    one_line_error(capsys, *words)
    assert not os.path.exists(os.path.join(ROOT, "outside"))


# --- 3. unbounded resources --------------------------------------------------------------------


def _tar(path, members, mode="w"):
    """A tar of `members`: name -> bytes, or a `tarfile.TarInfo` (links)."""
    with tarfile.open(path, mode) as tar:
        for name, value in members.items():
            if isinstance(value, tarfile.TarInfo):
                tar.addfile(value)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    return str(path)


def test_compressed_tar_past_the_memory_bound_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(source_trees, "MAX_IN_MEMORY", 1 << 20)  # a bomb, scaled down
    bomb = _tar(tmp_path / "bomb.tar.gz", {f"train/cat/{i}.png": bytes(600_000) for i in range(3)}, "w:gz")
    assert os.path.getsize(bomb) < 20_000
    with pytest.raises(cifar10_sources.SourceError, match="more than 1,048,576 bytes once decompressed"):
        cifar10_sources.open_tree(bomb)
    monkeypatch.setattr(source_trees, "MAX_MEMBER", 100_000)
    with pytest.raises(cifar10_sources.SourceError, match=r"member 'train/cat/0.png' is 600,000 bytes"):
        cifar10_sources.open_tree(bomb)


def test_plain_tar_is_read_member_by_member(tmp_path):
    tar = _tar(tmp_path / "images.tar", {"train/cat/a.png": b"A" * 10, "test/dog/b.png": b"B" * 20})
    tree = cifar10_sources.open_tree(tar)
    assert callable(tree.data("train/cat/a.png"))  # nothing held until read
    assert tree.read("test/dog/b.png") == b"B" * 20 and tree.read("train/cat/a.png") == b"A" * 10


def test_tune_refuses_no_trials_and_no_time(tmp_path, capsys):
    from mimic_keras.tune import cli as tune_cli
    from mimic_keras.tune.oracles import make_oracle

    for flags, words in ((["--max-trials", "0"], "--max-trials 0"), (["--max-trials", "2", "--max-minutes", "0"],
                                                                      "--max-minutes 0")):
        assert tune_cli.main(["--preset", "cifar10-quick", "--workdir", str(tmp_path), *flags]) == 2
        one_line_error(capsys, words)
    oracle = make_oracle("random", lambda values: 0, None, 100, 2, 3, 1)
    oracle.deadline = time.time() - 1  # the search's time is up: no trial starts
    assert oracle.populate_space("0")["status"] == "STOPPED"


# --- 4. unsafe reading -------------------------------------------------------------------------


def _link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


@pytest.mark.parametrize("members,words", [
    ({"train/cat/a.png": b"x", "train/cat/../../../evil.png": b"x"}, ["'train/cat/../../../evil.png'", "outside"]),
    ({"train/cat/a.png": b"x", "/etc/evil.png": b"x"}, ["'/etc/evil.png'", "outside"]),
    ({"train/cat/a.png": b"x", "train/cat/b.png": _link("train/cat/b.png", "../../../../etc/passwd", tarfile.LNKTYPE)},
     ["hard link", "outside"]),
    ({"train/cat/a.png": b"x", "train/cat/b.png": _link("train/cat/b.png", "/etc/passwd")},
     ["symbolic link", "outside"]),
    ({"train/cat/a.png": b"x", "train/cat/b.png": _link("train/cat/b.png", "gone.png", tarfile.LNKTYPE)},
     ["hard link", "names no earlier member"]),
])
def test_tar_member_leaving_the_archive_is_refused_in_one_line(tmp_path, capsys, members, words):
    tar = _tar(tmp_path / "src.tar", members)
    out = str(tmp_path / "out")
    assert cifar10_to_tfrecord.main(["--source", tar, "--out", out]) == 2
    one_line_error(capsys, tar, *words)
    assert not os.path.exists(out)


def test_folder_link_leaving_the_source_is_refused_unless_allowed(tmp_path, capsys):
    src = image_tree(str(tmp_path / "src"), n_train=20, n_test=10)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    x, _ = toy_images(1)
    (outside / "secret.png").write_bytes(tf.io.encode_png(x[0]).numpy())
    os.makedirs(os.path.join(src, "train", "frog"), exist_ok=True)
    os.symlink(outside / "secret.png", os.path.join(src, "train", "frog", "link.png"))
    out = str(tmp_path / "out")
    assert cifar10_to_tfrecord.main(["--source", src, "--out", out, "--val-size", "0"]) == 2
    one_line_error(capsys, "link.png", "leads outside", "--follow-links")
    assert not os.path.exists(out)
    assert cifar10_to_tfrecord.main(["--source", src, "--out", out, "--val-size", "0", "--follow-links"]) == 0
    os.symlink(outside, os.path.join(src, "train", "dog_link"))  # a linked folder: refused the same way
    with pytest.raises(cifar10_sources.SourceError, match="dog_link: a link that leads outside"):
        cifar10_sources.open_tree(src)


# --- 5. one line, not a traceback --------------------------------------------------------------


@pytest.mark.parametrize("content,words", [
    ("[]", ["list, expected an object"]),
    ('{"splits": {"train": {"shards": []}}}', ["splits.train has no 'count'"]),
    ('{"splits": ', ["not JSON"]),
])
def test_malformed_manifest_is_one_line(tmp_path, capsys, content, words):
    data = tmp_path / "data"
    data.mkdir()
    (data / "manifest.json").write_text(content)
    out = str(tmp_path / "out")
    assert label_with_teacher.main(["--data", str(data), "--teacher", str(tmp_path / "t.keras"), "--out", out]) == 2
    one_line_error(capsys, "manifest.json", *words)
    assert not os.path.exists(out)


@pytest.mark.parametrize("kind", ["directory", "list", "not json"])
def test_bad_preset_is_one_line(tmp_path, capsys, kind):
    path = tmp_path / "preset.json"
    if kind == "directory":
        path.mkdir()
    else:
        path.write_text("[1, 2]" if kind == "list" else "{nope")
    assert fit.main(["teacher", "--preset", str(path), "--workdir", str(tmp_path / "run")]) == 2
    one_line_error(capsys, "preset.json")
    assert not os.path.exists(tmp_path / "run")


@pytest.mark.parametrize("code,words", [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only")])
def test_unwritable_output_is_one_line_and_leaves_nothing(tmp_path, capsys, monkeypatch, code, words):
    src = image_tree(str(tmp_path / "src"), n_train=20, n_test=10)
    real = writer.write_shards

    def failing(out_dir, split, records, num_shards):
        real(out_dir, split, list(records)[:3], num_shards)  # part written, then the disk fills
        raise OSError(code, os.strerror(code), out_dir)

    monkeypatch.setattr(writer, "write_shards", failing)
    out = str(tmp_path / "out")
    assert cifar10_to_tfrecord.main(["--source", src, "--out", out, "--val-size", "0"]) == 2
    one_line_error(capsys, words)
    assert sorted(os.listdir(tmp_path)) == ["src"]  # no output, no build folder, no lock


def test_phn_directory_is_one_line(tmp_path, capsys):
    root = fx.make_corpus(str(tmp_path / "TIMIT"), train=[("DR1", "FAAA0"), ("DR1", "MCCC0")],
                          test=[("DR1", "MDAB0")], utterances=("SX200",))
    _, phn = fx.utterance_files(root, "MDAB0")
    os.remove(phn)
    os.mkdir(phn)
    out = str(tmp_path / "out")
    assert timit_to_tfrecord.main(["--timit", root, "--out", out, "--full-test"]) == 2
    one_line_error(capsys, "MDAB0")
    assert not os.path.exists(out)


def test_internal_error_is_one_line_exit_1_and_debug_shows_it(tmp_path, capsys, monkeypatch):
    def bug(options):
        raise TypeError("a bug")

    monkeypatch.setattr(cifar10_to_tfrecord, "run", bug)
    argv = ["--source", str(tmp_path), "--out", str(tmp_path / "out")]
    assert cifar10_to_tfrecord.main(argv) == 1
    one_line_error(capsys, "internal error", "TypeError: a bug", "--debug")
    with pytest.raises(TypeError):
        cifar10_to_tfrecord.main([*argv, "--debug"])


# --- 6. leftovers ------------------------------------------------------------------------------


def test_killed_job_leaves_nothing_the_next_run_keeps(tmp_path):
    out = tmp_path / "transfer"
    marker = tmp_path / "writing"
    code = ("import time; from mimic_keras import jobs\n"
            f"with jobs.atomic_output({str(out)!r}) as build:\n"
            "    open(build + '/.train.tfrecord-00000-of-00001.tmp-1', 'wb').write(b'half')\n"
            f"    open({str(marker)!r}, 'w').close(); time.sleep(120)\n")
    child = subprocess.Popen([sys.executable, "-c", code], env=ENV, cwd=ROOT)
    deadline = time.time() + 60
    while not marker.exists():
        assert child.poll() is None and time.time() < deadline
        time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    os.remove(marker)
    assert sorted(os.listdir(tmp_path)) == [".transfer.lock", f".transfer.tmp-{child.pid}"]
    with jobs.atomic_output(str(out)) as build:
        open(os.path.join(build, "manifest.json"), "w").write("{}")
    assert sorted(os.listdir(tmp_path)) == ["transfer"]
    assert os.listdir(out) == ["manifest.json"]
