"""One process at a time per workdir (and per data job's output folder).

A lock is `flock` on a small file that names its holder (PID, start time, command). The kernel
drops the lock when its process dies, so a killed run never blocks the next one; the file it
leaves is taken over with a note. A second process that finds the lock held fails at once with
`LockHeld`, one line naming the holder.

Example:

    with locks.hold_folder("runs/cifar10-quick"):
        runner.run_stages(...)
"""

import contextlib
import datetime
import fcntl
import json
import os
import sys
import threading

_held = {}  # realpath -> depth: the same process may take a lock it holds (a stage calling a job)
_guard = threading.Lock()


class LockHeld(OSError):
    """Another live process holds the lock; the message names it and what to do."""


def lock_file(folder, member=None):
    """The lock file of a workdir or output folder: beside it (`.<name>.lock`), as a job's output
    folder is replaced by a rename and a workdir need not exist yet. `member`: the lock of one
    of the processes that share a folder by design (`.<name>.<member>.lock`)."""
    parent, base = os.path.split(os.path.abspath(str(folder)))
    return os.path.join(parent, f".{base}.{member}.lock" if member else f".{base}.lock")


@contextlib.contextmanager
def hold_folder(folder, member=None):
    """Holds `folder`'s lock (creating its parent if needed); see `hold` and `lock_file`."""
    path = lock_file(folder, member)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with hold(path, str(folder)):
        yield


def _describe(text):
    try:
        holder = json.loads(text)
        return f"PID {holder['pid']} (started {holder['started']}: {holder.get('command', '?')})"
    except (ValueError, KeyError, TypeError):
        return "another process"


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _acquire(path, what):
    """An open, locked file object for `path`; raises `LockHeld` if a live process holds it."""
    while True:
        f = open(path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = _describe(f.read())
            f.close()
            raise LockHeld(f"{what} is in use by {holder}; wait for it to end or stop it "
                           f"(a second run on the same folder would corrupt it)") from None
        # The holder before us may have removed the file after we opened it: lock the one at `path`.
        try:
            same = os.path.samestat(os.fstat(f.fileno()), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            return f
        f.close()


@contextlib.contextmanager
def hold(path, what=None):
    """Holds the lock file `path` for the block (re-entrant within a process).

    Args:
        path: the lock file (`lock_file(folder)`); its folder must exist.
        what: how messages name the locked thing (default: the lock file's folder).

    Raises:
        LockHeld: a live process holds it.
        OSError: the folder is not writable (read-only, missing).
    """
    what = what or os.path.dirname(os.path.abspath(path))
    key = os.path.realpath(path)
    with _guard:
        if key in _held:
            _held[key][1] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _guard:
                _held[key][1] -= 1
        return
    f = _acquire(path, what)
    try:
        f.seek(0)
        previous = f.read().strip()
        if previous:
            try:
                pid = int(json.loads(previous)["pid"])
            except (ValueError, KeyError, TypeError):
                pid = None
            if pid != os.getpid() and (pid is None or not _alive(pid)):
                print(f"note: {what}: taking over the lock of {_describe(previous)}, which is no longer running",
                      file=sys.stderr, flush=True)
        f.seek(0)
        f.truncate()
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        json.dump({"pid": os.getpid(), "started": started, "command": " ".join(sys.argv)[:200]}, f)
        f.flush()
        with _guard:
            _held[key] = [f, 1]
        try:
            yield
        finally:
            with _guard:
                del _held[key]
            with contextlib.suppress(OSError):
                os.remove(path)  # before unlocking: a waiter re-checks that the file is the one at `path`
    finally:
        f.close()
