"""experiments/rebuild_bases.sh: the base runs' commands, and the stand-in built once and checked.

`python` and `python3` are replaced on PATH by a recorder, so nothing trains: the test checks the
commands the script runs, in order, and what a rerun skips.
"""

import os
import stat
import subprocess

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO_ROOT, "experiments", "rebuild_bases.sh")

RECORDER = """#!/bin/bash
echo "$*" >> "$CALLS"
# the stand-in generator: --out DIR makes the folder; --check fails when FAIL_CHECK is set
if [[ "$1" == *make_timit_standin.py ]]; then
  [ "$2" = "--out" ] && mkdir -p "$3"
  [ "$2" = "--check" ] && [ -n "${FAIL_CHECK:-}" ] && exit 1
fi
exit 0
"""


@pytest.fixture
def rebuild(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python", "python3"):
        path = bin_dir / name
        path.write_text(RECORDER)
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls.txt"

    def run(*targets, **env):
        calls.write_text("")
        full_env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", CALLS=str(calls),
                        SHARED=str(tmp_path / "shared"), **env)
        result = subprocess.run(["bash", SCRIPT, str(tmp_path / "runs"), *targets], env=full_env,
                                capture_output=True, text=True, cwd=REPO_ROOT)
        return result, calls.read_text().splitlines()

    return run


def test_cifar_base_is_the_documented_recipe(rebuild, tmp_path):
    result, calls = rebuild("cifar")
    assert result.returncode == 0, result.stderr
    work = tmp_path / "runs" / "cifar10-cpu"
    assert calls == [
        f"-m mimic_keras.fit prepare --preset cifar10-cpu --workdir {work} "
        f"data.source={tmp_path}/shared/data/cifar10-jpeg.tar",
        f"-m mimic_keras.fit teacher --workdir {work}",
        f"-m mimic_keras.fit label --workdir {work}",
        f"-m mimic_keras.fit mimic --workdir {work}",
    ]


def test_timit_stand_in_is_built_and_checked_once(rebuild, tmp_path):
    cache = tmp_path / "runs" / "timit-standin-full"
    result, calls = rebuild("timit")
    assert result.returncode == 0, result.stderr
    tool = f"{tmp_path}/shared/tools/make_timit_standin.py"
    assert calls[0].startswith(f"{tool} --out {cache} --train-speakers 462 --test-speakers 168")
    assert calls[1] == f"{tool} --check {cache}"
    assert calls[2].startswith(f"-m mimic_keras.fit prepare --preset timit-quick --timit {cache} ")
    assert calls[2].endswith("name=timit-full data.full_test=true mimic_train.epochs=8 control_train.epochs=8")
    assert [c.split()[2] for c in calls[3:]] == ["teacher", "label"]

    _, calls = rebuild("timit")                       # a rerun: the checked stand-in is kept
    assert not any("make_timit_standin" in c for c in calls)
    assert calls[0].startswith("-m mimic_keras.fit prepare")


def test_a_stand_in_that_fails_its_check_stops_the_run_and_is_rebuilt(rebuild, tmp_path):
    result, calls = rebuild("timit", FAIL_CHECK="1")
    assert result.returncode != 0
    assert not any("mimic_keras.fit" in c for c in calls)     # no training on an unchecked corpus
    _, calls = rebuild("timit")
    assert "--out" in calls[0]                                 # built again, then checked


def test_unknown_base_is_refused(rebuild):
    result, calls = rebuild("cifar100")
    assert result.returncode == 2
    assert "unknown base 'cifar100'" in result.stderr
    assert calls == []


def test_a_folder_it_did_not_build_is_never_deleted(rebuild, tmp_path):
    corpus = tmp_path / "my-timit"                   # e.g. a real TIMIT copy given by mistake
    corpus.mkdir()
    (corpus / "TRAIN").mkdir()
    result, calls = rebuild("timit", TIMIT_STANDIN=str(corpus))
    assert result.returncode == 2
    assert "was not built by this script" in result.stderr
    assert (corpus / "TRAIN").is_dir()
    assert calls == []
