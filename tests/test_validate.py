"""The shared validators themselves: what counts as an integer or a number, sequences, bounds in messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neurodcn.validate import ArgumentTypeError, check_callable, check_increasing, check_int, is_int, is_real


@pytest.mark.parametrize("value, integer, real", [
    (3, True, True), (np.int64(3), True, True), (np.uint8(3), True, True), (3.0, False, True),
    (np.float32(0.5), False, True), (float("nan"), False, True), (True, False, False),
    (np.bool_(False), False, False), ("3", False, False), (None, False, False),
])
def test_bools_are_neither_integers_nor_numbers(value, integer, real):
    assert (is_int(value), is_real(value)) == (integer, real)


def test_integer_bounds_are_written_exactly():
    with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2147483647\], got 2147483648$"):
        check_int("seed", 2**31, 0, 2**31 - 1)


@pytest.mark.parametrize("values", [[0.0, 0.5, 2.0], np.array([0.0, 0.5, 2.0], np.float32),
                                    torch.tensor([0.0, 0.5, 2.0])])
def test_increasing_sequences_come_back_as_float64(values):
    out = check_increasing("t", values, 0.0, 2.0)
    assert out.dtype == np.float64 and out.tolist() == [0.0, 0.5, 2.0]
    assert check_increasing("t", 1.5).tolist() == [1.5]  # a scalar is one value


@pytest.mark.parametrize("values, kwargs, allowed", [
    ([0.0, 0.0], {}, "strictly increasing"),
    ([[0.0, 1.0]], {}, "1-D"),
    ([0.0, float("inf")], {}, "finite"),
    ([0.0, 2.0], {"lo": 0.0, "hi": 2.0, "hi_open": True}, "in [0, 2)"),
    ([0.0, 1.0], {"lo": 0.0, "lo_open": True}, "> 0"),
    ([1.0], {"min_size": 2}, "at least 2 finite numbers"),
])
def test_increasing_sequences_out_of_bounds_are_refused(values, kwargs, allowed):
    with pytest.raises(ValueError) as info:
        check_increasing("t", values, **kwargs)
    assert str(info.value).startswith("t must be ") and allowed in str(info.value)


def test_non_numbers_are_a_type_error():
    with pytest.raises(ArgumentTypeError, match=r"t must be a non-empty .*, got \['a'\]"):
        check_increasing("t", ["a"])
    with pytest.raises(ArgumentTypeError, match="f must be callable, got int: 3"):
        check_callable("f", 3)
    assert check_callable("f", print) is print
