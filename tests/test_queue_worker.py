"""experiments/queue_worker.sh: workers sharing a queue file run each command once; a stopped one resumes its line."""

import os
import signal
import subprocess
import time

import pytest

WORKER = os.path.join(os.path.dirname(__file__), "..", "experiments", "queue_worker.sh")


def _start(queue, name, cwd, *extra):
    return subprocess.Popen(["bash", WORKER, str(queue), name, *extra], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for(path, timeout=30):
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_two_workers_run_each_line_once_and_skip_blank_and_comment_lines(tmp_path):
    queue = tmp_path / "queue.txt"
    lines = [f"sleep 0.1; echo {i} >> ran.{i}" for i in range(8)]
    queue.write_text("\n".join(lines[:4] + ["", "   ", "# echo comment >> ran.comment"] + lines[4:]) + "\n")
    workers = [_start(queue, name, tmp_path) for name in ("A", "B")]
    logs = [w.communicate(timeout=60)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0]
    assert sorted(p.name for p in tmp_path.glob("ran.*")) == [f"ran.{i}" for i in range(8)]
    assert all((tmp_path / f"ran.{i}").read_text() == f"{i}\n" for i in range(8))  # once each
    assert queue.read_text() == "" and not list(tmp_path.glob("queue.txt.*.running"))
    assert all("QUEUE EMPTY" in log for log in logs)
    assert sum(log.count(" START: ") for log in logs) == 8


def test_a_worker_started_again_under_its_name_reruns_the_line_it_was_stopped_in(tmp_path):
    queue = tmp_path / "queue.txt"
    interrupted = "echo run >> order; if [ -e started ]; then echo resumed >> order; else touch started; sleep 120; fi"
    queue.write_text(f"{interrupted}\necho next >> order\n")
    worker = _start(queue, "A", tmp_path)
    _wait_for(tmp_path / "started")
    os.killpg(worker.pid, signal.SIGKILL)  # the session ends: the worker and its command die
    worker.wait(timeout=30)
    assert (tmp_path / "queue.txt.A.running").read_text() == interrupted + "\n"
    assert queue.read_text() == "echo next >> order\n"
    other = _start(queue, "B", tmp_path)  # another name does not take A's line
    assert other.communicate(timeout=60)[1] is None and (tmp_path / "order").read_text() == "run\nnext\n"
    queue.write_text("echo last >> order\n")
    again = _start(queue, "A", tmp_path)
    log = again.communicate(timeout=60)[0]
    assert (tmp_path / "order").read_text() == "run\nnext\nrun\nresumed\nlast\n"
    assert log.index(interrupted) < log.index("echo last") and not (tmp_path / "queue.txt.A.running").exists()


@pytest.mark.parametrize("args, message", [(["missing.txt", "A"], "no queue file"),
                                           (["queue.txt", "A", "1"], "init, which never exits")])
def test_bad_arguments_are_refused(tmp_path, args, message):
    (tmp_path / "queue.txt").write_text("echo should not run >> ran\n")
    result = subprocess.run(["bash", WORKER, *args], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and message in result.stderr and not (tmp_path / "ran").exists()
