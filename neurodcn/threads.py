"""Torch CPU threads: a default that respects the cores free, and the user's own count (``nd.set_threads``).

On a busy machine torch's default (one thread per core) makes threads wait on each other: physiology() took
129 s with two threads on a 2-core machine that was training on one core, 27 s with one. So ``import
neurodcn`` sets torch's intra-op threads to $NEURODCN_THREADS when that is set, else to
:func:`default_threads`: torch's own default, at most the cores free when neurodcn is imported.
"""

from __future__ import annotations

import os

import torch

from neurodcn.validate import check_int

__all__ = ["TORCH_DEFAULT", "ENV", "free_cores", "default_threads", "set_threads", "set_from_env"]

TORCH_DEFAULT = torch.get_num_threads()
"""Torch's intra-op thread count before neurodcn set it (one per core, or $OMP_NUM_THREADS)."""
ENV = "NEURODCN_THREADS"
"""Environment variable that sets the thread count at import."""


def free_cores() -> int:
    """CPUs this process may run on (os.sched_getaffinity, else os.cpu_count) less the 1-minute load average
    (rounded; processes already running), at least 1."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        busy = round(os.getloadavg()[0])
    except (AttributeError, OSError):  # no load average on this platform
        busy = 0
    return max(1, cpus - busy)


def default_threads() -> int:
    """min(torch's own default, :func:`free_cores`)."""
    return min(TORCH_DEFAULT, free_cores())


def set_threads(n: int | None = None) -> int:
    """Set torch's intra-op CPU threads.

    ``import neurodcn`` already sets them from ``$NEURODCN_THREADS``, else to ``default_threads()``.

    Args:
        n: the number of threads (an integer >= 1), or None for ``default_threads()`` (torch's default, at most
            the CPUs allowed less the load average).

    Returns:
        The count set.

    Examples:
        >>> import torch, neurodcn as nd
        >>> nd.set_threads(1), torch.get_num_threads()
        (1, 1)
    """
    n = default_threads() if n is None else check_int("n", n, minimum=1)
    torch.set_num_threads(n)
    return n


def set_from_env() -> int:
    """Set the threads at import: $NEURODCN_THREADS (an integer >= 1) if set, else the default."""
    value = os.environ.get(ENV)
    if value is None:
        return set_threads()
    if not value.strip().isdigit():
        raise ValueError(f"${ENV} must be an integer >= 1, got {value!r}")
    return set_threads(check_int(f"${ENV}", int(value), minimum=1))
