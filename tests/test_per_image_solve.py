"""Per-image adaptive solves in one batched call: NFE by counting, batch invariance, accuracy against a tight
torchdiffeq reference, per-image failures."""

import numpy as np
import pytest
import torch
from torchdiffeq import odeint

from neurodcn.nn.dynamics import ODEFunc
from neurodcn.nn.per_image_solve import solve_per_image


@pytest.fixture(scope="module")
def field():
    torch.manual_seed(0)
    return ODEFunc(4).eval()


def _h0(n, seed=0):
    return torch.randn(n, 4, 12, 12, generator=torch.Generator().manual_seed(seed))


def test_nfe_is_two_plus_six_per_attempted_step_by_counting_calls(field):
    calls = []
    sol = solve_per_image(lambda t, h: calls.append(1) or field(t, h), _h0(1), [0.0, 2.0])
    assert int(sol.nfe[0]) == len(calls) == 2 + 6 * int(sol.steps[0])
    assert int(sol.accepted[0]) + int(sol.rejected[0]) == int(sol.steps[0]) and sol.status == ("ok",)


def test_an_image_gets_the_same_answer_alone_and_inside_a_batch(field):
    times = [0.0, 0.5, 1.0, 2.0]
    h0 = _h0(16)
    batch = solve_per_image(field, h0, times)
    rel, same_steps = [], []
    for i in range(len(h0)):
        alone = solve_per_image(field, h0[i:i + 1], times)
        rel.append(float((alone.h[0] - batch.h[i]).norm() / alone.h[0].norm()))
        same_steps.append(int(alone.steps[0]) == int(batch.steps[i]) and int(alone.nfe[0]) == int(batch.nfe[i]))
    assert np.mean(np.array(rel) <= 1e-4) >= 0.99 and max(rel) < 1e-3  # 1e-3: the solver's tolerance
    assert np.mean(same_steps) >= 0.99
    assert len(set(batch.steps.tolist())) > 1  # the images really took different step counts


def test_as_accurate_as_torchdiffeq_on_each_image_alone(field):
    h0, times = _h0(3, seed=1), torch.tensor([0.0, 1.0, 2.0])
    with torch.no_grad():
        ref = odeint(field, h0, times, rtol=1e-9, atol=1e-9, method="dopri5")
        theirs = torch.stack([odeint(field, h0[i:i + 1], times, rtol=1e-3, atol=1e-3, method="dopri5")[:, 0]
                              for i in range(3)], dim=1)
    ours = solve_per_image(field, h0, times, rtol=1e-3, atol=1e-3).h.transpose(0, 1)

    def error(h):
        return (h - ref).flatten(2).norm(dim=2) / ref.flatten(2).norm(dim=2)

    # the same method and controller: the per-image solve's error is torchdiffeq's, image by image
    torch.testing.assert_close(error(ours), error(theirs), rtol=0.05, atol=1e-5)
    tight = solve_per_image(field, h0, times, rtol=1e-6, atol=1e-6).h.transpose(0, 1)
    assert float(error(tight).max()) < 1e-4 < float(error(ours).max())  # tolerance controls the error
    torch.testing.assert_close(ours[0], h0)  # the first time is the initial state


def test_failures_are_flagged_per_image(field):
    sol = solve_per_image(field, _h0(4), [0.0, 2.0], max_num_steps=6)
    needs = solve_per_image(field, _h0(4), [0.0, 2.0]).steps
    assert sol.status == tuple("ok" if int(n) <= 6 else "max_num_steps" for n in needs)  # needs: 7, 6, 5, 6
    assert "max_num_steps" in sol.status and "ok" in sol.status


@pytest.mark.parametrize("kwargs, word", [({"method": "euler"}, "method"), ({"rtol": 0.0}, "rtol"),
                                          ({"times": [1.0, 0.5]}, "times"), ({"max_num_steps": 0}, "max_num_steps")])
def test_bad_arguments_are_named(field, kwargs, word):
    args = {"times": [0.0, 1.0], **kwargs}
    with pytest.raises(ValueError, match=word):
        solve_per_image(field, _h0(1), **args)


class _Decay(torch.nn.Module):
    """dh/dt = -h; an image marked by channel 0 > 100 turns non-finite after t = 1.5 (per-sample t)."""

    def forward(self, t, h):
        broken = (h[:, :1, :1, :1] > 100) & (t > 1.5)
        return torch.where(broken, torch.nan, -h)


def test_states_are_each_images_accepted_steps_and_h_is_exp_minus_t():
    h0 = torch.rand(3, 2, 4, 4) * torch.tensor([1.0, 10.0, 100.0]).view(3, 1, 1, 1)
    sol = solve_per_image(_Decay(), h0, [0.0, 0.5, 1.0], rtol=1e-6, atol=1e-6)
    for i, row in enumerate(sol.step_times):
        assert len(row) == int(sol.accepted[i]) + 1 and row[0] == 0.0
        assert np.all(np.diff(row) > 0) and row[-1] == pytest.approx(1.0)
    expected = h0[:, None] * torch.exp(-torch.tensor([0.0, 0.5, 1.0])).view(1, 3, 1, 1, 1)
    torch.testing.assert_close(sol.h, expected, rtol=1e-5, atol=1e-5)


def test_a_failing_image_keeps_what_it_computed_and_costs_the_others_nothing():
    h0 = torch.rand(4, 2, 4, 4)
    h0[1, 0, 0, 0] = 1000.0
    times = [0.0, 0.25, 0.5, 2.0]
    sol = solve_per_image(_Decay(), h0, times)
    assert sol.status == ("ok", "non_finite", "ok", "ok")
    assert torch.isfinite(sol.h[1, :3]).all() and torch.isnan(sol.h[1, 3]).all()  # t <= 0.5 was reached
    for i in (0, 2, 3):
        alone = solve_per_image(_Decay(), h0[i:i + 1], times)
        assert int(alone.steps[0]) == int(sol.steps[i])
        torch.testing.assert_close(sol.h[i], alone.h[0])


def test_a_passed_deadline_stops_every_image_and_a_nan_start_is_not_solved():
    h0 = torch.rand(2, 2, 4, 4)
    late = solve_per_image(_Decay(), h0, [0.0, 1.0], deadline=0.0)
    assert late.status == ("time_budget", "time_budget") and torch.isnan(late.h[:, 1]).all()
    h0[0, 0, 0, 0] = torch.nan
    sol = solve_per_image(_Decay(), h0, [0.0, 1.0])
    assert sol.status == ("non_finite", "ok") and int(sol.nfe[0]) == 0 and int(sol.nfe[1]) > 0


def test_a_field_that_needs_one_scalar_time_is_called_per_distinct_time(field):
    seen = []

    def scalar(t, h):
        seen.append(t.dim())
        return field(t, h)

    h0 = _h0(3)
    one = solve_per_image(scalar, h0, [0.0, 2.0], per_sample_time=False)
    assert set(seen) == {0}
    torch.testing.assert_close(one.h, solve_per_image(field, h0, [0.0, 2.0]).h, rtol=1e-4, atol=1e-5)
