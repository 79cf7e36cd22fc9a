"""Argument validators shared by the whole package (floor 0: no neurodcn imports).

Each checks one argument and returns it normalised, or raises an error that names the argument, shows the
value and says what is allowed: ``ValueError`` for a value of the right kind that is out of range, and
:class:`ArgumentTypeError` for a value of the wrong kind. ArgumentTypeError is a TypeError and, because these
checks raised ValueError before they were gathered here, also a ValueError.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from numbers import Integral, Real
from pathlib import Path

import numpy as np

__all__ = [
    "ArgumentTypeError",
    "show",
    "is_int",
    "is_real",
    "check_bool",
    "check_int",
    "check_real",
    "check_choice",
    "check_pair",
    "check_increasing",
    "check_path",
    "check_str",
    "check_type",
    "check_callable",
    "check_feature_map",
]


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong kind (e.g. a str where a bool is needed)."""


def show(value, limit: int = 80) -> str:
    """A short repr of ``value`` for error messages: arrays and tensors by type, shape and dtype."""
    shape = getattr(value, "shape", None)
    if shape is not None and not isinstance(value, Real):
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {getattr(value, 'dtype', '?')}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _is_bool(value) -> bool:
    return isinstance(value, bool) or type(value).__name__ == "bool_"


def is_int(value) -> bool:
    """Whether ``value`` is an integer (Python or numpy), bools excluded: for checks of sequences."""
    return isinstance(value, Integral) and not _is_bool(value)


def is_real(value) -> bool:
    """Whether ``value`` is a real number (Python or numpy, possibly infinite or NaN), bools excluded."""
    return isinstance(value, Real) and not _is_bool(value)


def _fail(name: str, value, allowed: str, kind: type[Exception] = ValueError):
    raise kind(f"{name} must be {allowed}, got {show(value)}")


def check_bool(name: str, value) -> bool:
    """``value`` if it is True or False (numpy bools included); anything truthy is not enough."""
    if _is_bool(value):
        return bool(value)
    _fail(name, value, "True or False", ArgumentTypeError)


def _number(v) -> str:
    return str(int(v)) if is_int(v) else f"{v:g}"


def _bounds(lo, hi, lo_open=False, hi_open=False) -> str:
    if lo is None and hi is None:
        return ""
    if hi is None:
        return f" {'>' if lo_open else '>='} {_number(lo)}"
    if lo is None:
        return f" {'<' if hi_open else '<='} {_number(hi)}"
    return f" in {'(' if lo_open else '['}{_number(lo)}, {_number(hi)}{')' if hi_open else ']'}"


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int if it is an integer (Python or numpy, not bool) within [minimum, maximum]."""
    allowed = "an integer" + _bounds(minimum, maximum)
    if not is_int(value):
        _fail(name, value, allowed, ArgumentTypeError)
    v = int(value)
    if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
        _fail(name, value, allowed)
    return v


def check_real(name: str, value, lo=None, hi=None, lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a float if it is a finite real number (not bool) within the given bounds."""
    allowed = "a finite number" + _bounds(lo, hi, lo_open, hi_open)
    if not is_real(value):
        _fail(name, value, allowed, ArgumentTypeError)
    v = float(value)
    bad = not math.isfinite(v)
    bad = bad or (lo is not None and (v <= lo if lo_open else v < lo))
    bad = bad or (hi is not None and (v >= hi if hi_open else v > hi))
    if bad:
        _fail(name, value, allowed)
    return v


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. an array compared with a string
        return False


def check_choice(name: str, value, allowed: Iterable):
    """``value`` if it equals one of ``allowed`` (bools never stand in for 0 or 1)."""
    allowed = list(allowed)
    if not any(_same(a, value) for a in allowed):
        _fail(name, value, f"one of {allowed}")
    return value


def check_pair(name: str, value, minimum: int | None = 1, maximum: int | None = None) -> tuple[int, int]:
    """An int or a (height, width) pair of ints within [minimum, maximum], as a tuple of two ints."""
    allowed = "an integer" + _bounds(minimum, maximum) + " or a pair (height, width) of them"
    pair = (value, value) if is_int(value) else value
    if not (isinstance(pair, tuple | list) and len(pair) == 2):
        _fail(name, value, allowed, ArgumentTypeError)
    for v in pair:
        if not is_int(v):
            _fail(name, value, allowed, ArgumentTypeError)
        if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
            _fail(name, value, allowed)
    return int(pair[0]), int(pair[1])


def check_increasing(name: str, values, lo=None, hi=None, lo_open: bool = False, hi_open: bool = False,
                     min_size: int = 1, what: str = "") -> np.ndarray:
    """``values`` (a scalar is one value; a tensor on any device) as a float64 array if it is a 1-D strictly
    increasing sequence of at least ``min_size`` finite numbers within the given bounds; ``what`` adds words to
    the error."""
    allowed = ("a non-empty strictly increasing 1-D sequence of finite numbers" if min_size == 1 else
               f"a strictly increasing 1-D sequence of at least {min_size} finite numbers")
    allowed += _bounds(lo, hi, lo_open, hi_open)
    allowed += f" {what}" if what else ""
    try:
        arr = np.atleast_1d(np.asarray(values.detach().cpu() if hasattr(values, "detach") else values,
                                       dtype=np.float64))
    except (TypeError, ValueError):
        _fail(name, values, allowed, ArgumentTypeError)
    bad = arr.ndim != 1 or arr.size < min_size or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0)
    bad = bad or (lo is not None and bool(np.any(arr <= lo) if lo_open else np.any(arr < lo)))
    bad = bad or (hi is not None and bool(np.any(arr >= hi) if hi_open else np.any(arr > hi)))
    if bad:
        raise ValueError(f"{name} must be {allowed}, got {show(arr.tolist())}")
    return arr


def check_str(name: str, value, allow_empty: bool = False) -> str:
    """``value`` if it is a (by default non-empty) string."""
    allowed = "a string" if allow_empty else "a non-empty string"
    if not isinstance(value, str):
        _fail(name, value, allowed, ArgumentTypeError)
    if not value and not allow_empty:
        _fail(name, value, allowed)
    return value


def check_path(name: str, value, suffixes: Iterable[str] | None = None) -> Path:
    """``value`` as a Path if it is a str or os.PathLike (non-empty), ending in one of ``suffixes`` if given."""
    if not isinstance(value, str | os.PathLike):
        _fail(name, value, "a str or os.PathLike path", ArgumentTypeError)
    p = Path(value)
    if str(value) == "":
        _fail(name, value, "a non-empty path")
    if suffixes is not None:
        suffixes = tuple(suffixes)
        if p.suffix not in suffixes:
            allowed = suffixes[0] if len(suffixes) == 1 else f"one of {suffixes}"
            raise ValueError(f"{name} must end in {allowed}, got {str(value)!r}")
    return p


def check_type(name: str, value, types, what: str):
    """``value`` if it is an instance of ``types``; ``what`` says in words what is allowed."""
    if not isinstance(value, types):
        raise ArgumentTypeError(f"{name} must be {what}, got {type(value).__name__}: {show(value)}")
    return value


def check_callable(name: str, value, what: str = "callable"):
    """``value`` if it is callable; ``what`` says in words how it is called."""
    if not callable(value):
        raise ArgumentTypeError(f"{name} must be {what}, got {type(value).__name__}: {show(value)}")
    return value


def check_feature_map(name: str, x, channels: int | None = None, dtype=None):
    """``x`` if it is a floating-point torch tensor [N, channels, H, W] with N >= 1 (any channel count if
    ``channels`` is None), of ``dtype`` if given (a torch dtype)."""
    import torch

    c = "C" if channels is None else str(channels)
    check_type(name, x, torch.Tensor, f"a torch.Tensor [N, {c}, H, W]")
    if x.dim() != 4 or x.shape[0] < 1 or (channels is not None and x.shape[1] != channels):
        what = "" if channels is None else f", {channels} channels"
        raise ValueError(f"{name} must be a tensor [N, {c}, H, W] (N >= 1{what}), got shape {tuple(x.shape)}")
    if not x.is_floating_point() or (dtype is not None and x.dtype != dtype):
        want = "a floating-point tensor" if dtype is None else f"a floating tensor of the layer's dtype {dtype}"
        raise ArgumentTypeError(f"{name} must be {want}, got {x.dtype} (convert it with .to())")
    return x
