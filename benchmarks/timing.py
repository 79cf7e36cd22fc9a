"""Side-by-side timing: candidates run interleaved in one process, medians reported."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median_times(candidates: dict[str, Callable[[], object]], repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median wall time in seconds of each callable, measured round-robin so drift hits all alike."""
    for fn in candidates.values():
        for _ in range(warmup):
            fn()
    samples = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, fn in candidates.items():
            _sync()
            start = time.perf_counter()
            fn()
            _sync()
            samples[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in samples.items()}
