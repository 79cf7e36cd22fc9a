"""Ensemble accuracy: a hand-worked case, and its intervals against scipy's bootstrap; the members' logits of
dcn-cc step orders (model side)."""

import numpy as np
import pytest
import torch
from scipy import stats

import neurodcn as nd
from neurodcn.analysis.ensembles import ensemble_accuracy
from neurodcn.cortex.ensembles import step_order_logits
from neurodcn.nn.dcn_cc import scale_sequence, step_orders


def _onehot(classes, k=3):
    return torch.nn.functional.one_hot(torch.tensor(classes), k).double()


def test_hand_worked_members_ensembles_and_paired_gain():
    labels = np.array([0, 1, 2, 0])
    single = _onehot([0, 1, 0, 1])  # 2 of 4 right
    members = torch.stack([
        _onehot([0, 1, 1, 1]),  # 2 of 4
        _onehot([0, 2, 2, 0]) * 3,  # 3 of 4; three times more confident, so it wins every disagreement
        _onehot([1, 1, 2, 0]),  # 3 of 4
    ])
    ds = ensemble_accuracy(members, single, labels, members=[1, 2, 3], member_names=["a", "b", "c"], n_boot=500)
    np.testing.assert_allclose(ds["member_accuracy"].values, [50, 75, 75])
    # k=2: mean of a and b predicts b's classes [0, 2, 2, 0] -> 3 of 4. k=3: sums [4,1,0], [0,2,3], [0,1,4],
    # [4,1,0] -> [0, 2, 2, 0] -> 3 of 4
    np.testing.assert_allclose(ds["accuracy"].values, [50, 75, 75])
    np.testing.assert_allclose(ds["gain"].values, [0, 25, 25])
    assert ds.attrs["single_pass_accuracy"] == 50 and list(ds["member"].values) == ["a", "b", "c"]


def test_intervals_are_scipys_percentile_bootstrap():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 4, 60)
    logits = torch.from_numpy(rng.normal(size=(2, 60, 4)))
    single = torch.from_numpy(rng.normal(size=(60, 4)))
    ds = ensemble_accuracy(logits, single, labels, members=[1, 2], n_boot=300, seed=7)
    ok = (logits[0].argmax(1).numpy() == labels).astype(float)
    res = stats.bootstrap((ok,), np.mean, n_resamples=300, method="percentile",
                          random_state=np.random.default_rng(7))
    assert 100 * res.confidence_interval.low == pytest.approx(float(ds["member_accuracy_low"][0]))
    assert 100 * res.confidence_interval.high == pytest.approx(float(ds["member_accuracy_high"][0]))


@pytest.mark.parametrize("kwargs, match", [
    ({"members": [3]}, "members must be ensemble sizes from 1 to 2"),
    ({"members": [0]}, "members"),
    ({"member_names": ["one"]}, "member_names must name the 2 members"),
    ({"n_boot": 0}, "n_boot"),
])
def test_bad_arguments_are_named(kwargs, match):
    args = dict(member_logits=torch.zeros(2, 3, 4), single_logits=torch.zeros(3, 4), labels=[0, 1, 2], members=[1])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        ensemble_accuracy(**args)


def test_step_order_logits_runs_each_order_on_the_model():
    model = nd.build_model("dcn-cc", width=4, seed=0, solver={"method": "euler", "step_size": 1.0, "adjoint": False})
    orders = step_orders(model)[:2]
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    logits = step_order_logits(model, x, orders, batch_size=2, progress=False)
    assert logits.shape == (2, 3, 10) and model.training  # run in eval mode, the caller's mode restored
    with torch.no_grad(), scale_sequence(model, list(orders[1])):
        torch.testing.assert_close(logits[1], model(x))
