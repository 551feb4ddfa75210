"""The jobs' shared machinery: CLIs generated from options dataclasses, and atomic output."""

import dataclasses
import os
import subprocess
import sys
from typing import Optional

import pytest

from mimic_keras import jobs
from mimic_keras.data import writer
from mimic_keras.jobs import option


@dataclasses.dataclass(frozen=True)
class Toy:
    out: str = option("output folder")
    teacher: tuple[str, ...] = option("a teacher; repeat for several", repeat=True)
    fmt: Optional[str] = option("the form", None, flag="--format", choices=("a", "b"))
    limit: Optional[int] = option("at most N", None)
    alpha: float = option("a weight", 1.0)
    splits: Optional[tuple[str, ...]] = option("splits to do", None)
    speeds: tuple[float, ...] = option("speeds, comma-separated", (), comma=True)
    val_size: int = option("validation size", 5000)
    force: bool = option("replace", False)


def test_a_flag_per_field_with_its_help():
    parser = jobs.build_parser(Toy)
    flags = {a.dest: a.option_strings for a in parser._actions if a.dest != "help"}
    assert flags == {f.name: ["--format" if f.name == "fmt" else "--" + f.name.replace("_", "-")]
                     for f in dataclasses.fields(Toy)}
    text = " ".join(parser.format_help().split())
    for field in dataclasses.fields(Toy):
        assert field.metadata["help"] in text


def test_argv_parses_into_typed_options():
    options = jobs.parse_options(Toy, [
        "--out", "o", "--teacher", "a.keras", "--teacher", "b.keras", "--format", "b", "--limit", "3",
        "--alpha", "0.5", "--splits", "train", "test", "--speeds", "0.9, 1.1", "--val-size", "0", "--force",
    ])
    assert options == Toy(out="o", teacher=("a.keras", "b.keras"), fmt="b", limit=3, alpha=0.5,
                          splits=("train", "test"), speeds=("0.9", "1.1"), val_size=0, force=True)
    assert jobs.parse_options(Toy, ["--out", "o", "--teacher", "t"]) == Toy(out="o", teacher=("t",))


@pytest.mark.parametrize("argv", [
    ["--teacher", "t"], ["--out", "o"], ["--out", "o", "--teacher", "t", "--format", "c"],
])
def test_missing_required_flags_and_bad_choices_stop_the_cli(argv):
    with pytest.raises(SystemExit):
        jobs.parse_options(Toy, argv)


def test_to_argv_is_the_inverse_of_parse_options():
    full = Toy(out="o", teacher=("a", "b"), fmt="a", limit=2, alpha=0.25, splits=("train",), speeds=("0.9", "1.1"),
               val_size=0, force=True)
    for options in (full, Toy(out="o", teacher=("t",))):
        assert jobs.parse_options(Toy, jobs.to_argv(options)) == options
    assert jobs.to_argv(Toy(out="o", teacher=("t",))) == ["--out", "o", "--teacher", "t"]


@dataclasses.dataclass(frozen=True)
class WithRest:
    out: str = option("output folder")
    runner: str = option("where it runs", "local", choices=("local", "beam"))
    beam_args: tuple[str, ...] = option("pipeline options", (), rest=True)


def test_the_arguments_after_a_double_dash_go_verbatim_to_the_rest_field():
    argv = ["--out", "o", "--runner", "beam", "--", "--direct_num_workers=2", "--runner", "DirectRunner"]
    options = jobs.parse_options(WithRest, argv)
    assert options == WithRest(out="o", runner="beam", beam_args=("--direct_num_workers=2", "--runner", "DirectRunner"))
    assert jobs.to_argv(options) == argv and jobs.parse_options(WithRest, jobs.to_argv(options)) == options
    assert jobs.parse_options(WithRest, ["--out", "o"]).beam_args == ()
    assert "After --: pipeline options" in " ".join(jobs.build_parser(WithRest).format_help().split())
    with pytest.raises(SystemExit):  # a job without a rest field refuses them
        jobs.parse_options(Toy, ["--out", "o", "--teacher", "t", "--", "--x"])


def test_run_cli_reports_errors_in_one_line(capsys):
    def run(options):
        raise ValueError(f"{options.out}: broken\nsecond line")

    assert jobs.run_cli(Toy, run, ["--out", "o", "--teacher", "t"]) == 2
    assert capsys.readouterr().err == "error: o: broken\n"
    assert jobs.run_cli(Toy, lambda o: None, ["--out", "o", "--teacher", "t"]) == 0


# --- atomic output -------------------------------------------------------------------------------


def _leftovers(parent):
    return [n for n in os.listdir(parent) if ".tmp-" in n or ".old-" in n]


def test_success_renames_into_place_replacing_the_old_output(tmp_path):
    out = tmp_path / "out"
    for content in ("first", "second"):
        with jobs.atomic_output(out) as build:
            assert os.path.basename(build) == f".out.tmp-{os.getpid()}"
            (open(os.path.join(build, "train.tfrecord-00000-of-00001"), "w")).write(content)
            assert not out.exists() or content == "second"
        assert (out / "train.tfrecord-00000-of-00001").read_text() == content
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_an_error_leaves_the_old_output_and_no_build_folder(tmp_path):
    out = tmp_path / "out"
    with jobs.atomic_output(out) as build:
        writer.write_manifest(build, {"splits": {}})
    with pytest.raises(RuntimeError):
        with jobs.atomic_output(out) as build:
            os.remove(os.path.join(build, "..", "out", "manifest.json"))  # the old one is untouched until success
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == ["out"] and not writer.is_complete(str(out))
    with pytest.raises(RuntimeError):
        with jobs.atomic_output(tmp_path / "new"):
            raise RuntimeError("killed")
    assert os.listdir(tmp_path) == ["out"]


def test_a_killed_run_leaves_a_build_folder_that_the_next_run_removes(tmp_path):
    out = str(tmp_path / "out")
    script = (
        "import os, signal, sys; from mimic_keras import jobs\n"
        "with jobs.atomic_output(sys.argv[1]) as build:\n"
        "    open(os.path.join(build, 'train.tfrecord-00000-of-00001'), 'w').write('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    result = subprocess.run([sys.executable, "-c", script, out], env=env, capture_output=True)
    assert result.returncode == -9
    assert not writer.is_complete(out) and len(_leftovers(tmp_path)) == 1
    alive = tmp_path / f".out.tmp-{os.getpid()}-other"  # a live process's build is left alone
    alive.mkdir()
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip()
    (tmp_path / f".out.tmp-{dead_pid}-x1y2").mkdir()  # the CIFAR job's earlier naming, from a killed run
    with jobs.atomic_output(out) as build:
        writer.write_manifest(build, {"splits": {}})
    assert writer.is_complete(out) and _leftovers(tmp_path) == [alive.name]


def test_a_folder_no_job_wrote_is_replaced_only_with_force(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(jobs.OutputExists, match="notes.txt"):
        with jobs.atomic_output(out):
            pass
    assert (out / "notes.txt").exists() and sorted(os.listdir(tmp_path)) == ["out"]
    with jobs.atomic_output(out, force=True):
        pass
    assert os.listdir(out) == []
