"""Atomic writes: all or nothing, and ordinary file permissions; a stale lock is taken over by one process."""

import contextlib
import multiprocessing
import os
import socket
import subprocess
import sys
import time

import pytest

from neurodcn.io import atomic
from neurodcn.io.atomic import LockedError, atomic_path, lock, write_bytes, write_text


def test_success_replaces_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_failure_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "a.bin"
    write_bytes(target, b"old")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]


def test_directory_store_is_swapped_whole(tmp_path):
    target = tmp_path / "store.zarr"
    target.mkdir()
    (target / "old").write_text("x")
    with atomic_path(target, replace_dir=lambda p: (p / "old").is_file()) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("y")
    assert sorted(p.name for p in target.iterdir()) == ["new"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.zarr"]


def test_permissions_follow_the_umask(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    target = write_text(tmp_path / "card.json", "{}")
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------------------- taking over a stale lock
def _stale_lock(path):
    """A lock file of a process of this machine that is gone."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    path.write_text(f"{proc.pid} {socket.gethostname()}")
    return path


def _race(lock_file, start, done, results):
    """One of several processes racing for ``lock_file``: reports "won" (holding it until ``done``), "refused"
    with the LockedError's message, or "error"."""
    real = atomic._alive

    def slow_alive(pid):  # widens the gap between finding the lock stale and taking it over
        time.sleep(0.05)
        return real(pid)

    atomic._alive = slow_alive
    start.wait()
    try:
        with lock(lock_file, "path 'x'"):
            results.put(("won", os.getpid()))
            done.wait(60)
    except LockedError as err:
        results.put(("refused", str(err)))
    except BaseException as err:
        results.put(("error", repr(err)))


def test_processes_racing_for_a_stale_lock_one_wins_the_others_are_told_who(tmp_path):
    lock_file, n = _stale_lock(tmp_path / "x.lock"), 6
    ctx = multiprocessing.get_context("fork")
    start, done, results = ctx.Barrier(n), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(lock_file, start, done, results)) for _ in range(n)]
    for proc in procs:
        proc.start()
    try:
        got = [results.get(timeout=60) for _ in procs]
    finally:
        done.set()
        for proc in procs:
            proc.join(30)
    winners = [pid for kind, pid in got if kind == "won"]
    assert len(winners) == 1, got
    assert [kind for kind, _ in got].count("refused") == n - 1, got
    assert all(f"path 'x' is in use by process {winners[0]} on" in msg for kind, msg in got if kind == "refused")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # released; no takeover temporaries left


def test_a_stale_lock_taken_over_between_check_and_act_is_not_taken_again(tmp_path, monkeypatch):
    lock_file, other, real = _stale_lock(tmp_path / "x.lock"), contextlib.ExitStack(), atomic._alive

    def found_stale_then_overtaken(pid):  # this process has read the dead owner; another takes the lock first
        monkeypatch.setattr(atomic, "_alive", real)
        other.enter_context(lock(lock_file, "path 'x'"))
        return real(pid)

    monkeypatch.setattr(atomic, "_alive", found_stale_then_overtaken)
    with other:
        with pytest.raises(LockedError, match=rf"path 'x' is in use by process {os.getpid()} "):
            with lock(lock_file, "path 'x'"):
                pass
        assert lock_file.read_text() == f"{os.getpid()} {socket.gethostname()}"  # the other's lock is intact
    assert not lock_file.exists()
