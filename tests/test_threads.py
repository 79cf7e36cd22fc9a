"""Torch CPU threads: the default respects the cores that are free (affinity minus load), the user sets the count."""

import os
import subprocess
import sys

import pytest
import torch

import neurodcn as nd
from neurodcn import threads


@pytest.mark.parametrize(("cpus", "load", "free"), [(2, 1.25, 1), (2, 0.2, 2), (2, 5.0, 1), (16, 3.6, 12), (1, 0.0, 1)])
def test_free_cores_are_the_allowed_cpus_less_the_load(monkeypatch, cpus, load, free):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, 0.0, 0.0))
    assert threads.free_cores() == free
    # a busy 2-core machine: one thread, not torch's two (129 s -> 27 s for physiology())
    assert threads.default_threads() == min(threads.TORCH_DEFAULT, free)


def test_set_threads_by_hand_and_by_default(monkeypatch):
    before = torch.get_num_threads()
    try:
        assert nd.set_threads(3) == 3 and torch.get_num_threads() == 3
        monkeypatch.setattr(threads, "default_threads", lambda: 1)
        assert nd.set_threads() == 1 and torch.get_num_threads() == 1
        with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
            nd.set_threads(0)
    finally:
        torch.set_num_threads(before)


def test_import_sets_the_default_or_neurodcn_threads():
    code = "import neurodcn, torch; print(torch.get_num_threads())"
    env = {k: v for k, v in os.environ.items() if k != "NEURODCN_THREADS"}
    got = subprocess.run([sys.executable, "-c", code], env={**env, "NEURODCN_THREADS": "2"}, capture_output=True,
                         text=True, check=True).stdout.split()[-1]
    assert got == "2"
    with pytest.raises(subprocess.CalledProcessError):
        subprocess.run([sys.executable, "-c", code], env={**env, "NEURODCN_THREADS": "many"}, capture_output=True,
                       check=True)
