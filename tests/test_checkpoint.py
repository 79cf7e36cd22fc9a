"""Checkpoints and training states: round trips, atomic writes, and refusal of damaged or hostile files."""

import hashlib
import json
import os
import random

import numpy as np
import pytest
import torch
from torch import nn

import neurodcn
from neurodcn.data.bundled import bundled_checkpoints
from neurodcn.data.cifar10 import batches
from neurodcn.train import checkpoint as ckpt
from neurodcn.train.checkpoint import (
    CheckpointError,
    card_path,
    get_rng_state,
    load_card,
    load_checkpoint,
    load_training_state,
    portable_card,
    save_checkpoint,
    save_training_state,
    set_rng_state,
)


class Tiny(nn.Module):
    def __init__(self, hidden=3, name="tiny"):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, hidden), nn.Linear(hidden, 2)
        self.register_buffer("count", torch.tensor(7, dtype=torch.int64))
        self.config = {"name": name, "hidden": hidden}

    def forward(self, x):
        return self.fc2(torch.tanh(self.fc1(x)))


CARD = {"solver": {"method": "rk4", "step_size": 0.5}, "data": {"dataset": "CIFAR-10 subset", "n": 10},
        "schedule": {"lr": 0.1, "milestones": [40, 70]}, "epochs": 3, "metrics": {"val_accuracy": 0.5}}


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = Tiny(hidden=5)
    path = save_checkpoint(model, tmp_path / "run" / "tiny.pt", CARD)
    return model, path


def test_round_trip_with_builder(saved):
    model, path = saved
    loaded, card = load_checkpoint(path, builder=Tiny)
    assert isinstance(loaded, Tiny) and not loaded.training and loaded.fc1.out_features == 5
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b)
    x = torch.randn(3, 4)
    assert torch.equal(model(x), loaded(x))
    assert card["model"] == {"name": "tiny", "config": {"name": "tiny", "hidden": 5}}
    assert {k: card[k] for k in CARD} == CARD
    assert card["neurodcn_version"] == neurodcn.__version__ and card["format"] == "neurodcn-checkpoint"
    assert card["num_parameters"] == 4 * 5 + 5 + 5 * 2 + 2
    assert json.loads(card_path(path).read_text()) == card == load_card(path)
    assert card_path(path).name == "tiny.card.json"
    assert sorted(os.listdir(path.parent)) == ["tiny.card.json", "tiny.pt"]  # no temporary files left


def test_sha256_is_over_names_dtypes_shapes_and_bytes(tmp_path):
    model = nn.Linear(3, 2, bias=False)
    w = model.weight.detach()
    expected = hashlib.sha256(b"weight\0torch.float32\0(2, 3)\0" + w.numpy().tobytes()).hexdigest()
    assert ckpt.state_sha256(model.state_dict()) == expected
    card = {"model": {"name": "linear", "config": {"in_features": 3, "out_features": 2, "bias": False}}}
    save_checkpoint(model, tmp_path / "lin.pt", card)
    assert load_card(tmp_path / "lin.pt")["sha256"] == expected
    loaded, _ = load_checkpoint(tmp_path / "lin.pt", builder=nn.Linear)
    assert torch.equal(loaded.weight, w)


def test_default_builder_uses_the_model_zoo(tmp_path):
    models = pytest.importorskip("neurodcn.nn.zoo")
    models.register_model("test-checkpoint-tiny", lambda **kw: Tiny(**kw, name="test-checkpoint-tiny"),
                          replace=True)
    model = models.build_model("test-checkpoint-tiny", hidden=4)
    model.fc2.bias.data.fill_(0.25)
    loaded, card = load_checkpoint(save_checkpoint(model, tmp_path / "z.pt", CARD))
    assert card["model"]["name"] == "test-checkpoint-tiny" and torch.equal(loaded.fc2.bias, model.fc2.bias)
    zoo = models.build_model("resnet-blocks", width=4)
    loaded, card = load_checkpoint(save_checkpoint(zoo, tmp_path / "r.pt"))
    assert loaded.config == zoo.config == card["model"]["config"]
    x = torch.rand(2, 3, 32, 32)
    assert torch.equal(loaded(x), zoo.eval()(x))


def test_a_modified_weight_is_detected(saved):
    _, path = saved
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["fc1.weight"][0, 0] += 1e-6
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="modified or damaged") as err:
        load_checkpoint(path, builder=Tiny)
    assert str(path) in str(err.value)


def test_a_flipped_byte_in_the_weights_is_detected(saved):
    model, path = saved
    raw = bytearray(path.read_bytes())
    at = raw.find(model.fc2.weight.detach().numpy().tobytes())
    assert at > 0
    raw[at + 5] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError):  # either the zip CRC or the sha256 catches it
        load_checkpoint(path, builder=Tiny)


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_malicious_file_is_refused_without_running(tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "evil.pt"
    torch.save({"format": "neurodcn-checkpoint", "format_version": 1, "card": "{}",
                "state_dict": {"w": torch.zeros(1)}, "x": _Payload(marker)}, path)
    torch.load(path, weights_only=False)  # the payload is live: an unrestricted load runs it
    assert marker.is_dir()
    marker.rmdir()
    with pytest.raises(CheckpointError, match="refused without running"):
        load_checkpoint(path, builder=Tiny)
    with pytest.raises(CheckpointError, match="refused without running"):
        load_training_state(path, model=Tiny())
    assert not marker.exists()


def test_truncated_and_foreign_files(saved, tmp_path):
    _, path = saved
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="not a readable torch file"):
        load_checkpoint(cut, builder=Tiny)
    text = tmp_path / "notes.pt"
    text.write_text("just some notes\n")
    with pytest.raises(CheckpointError, match=str(text)):
        load_checkpoint(text, builder=Tiny)
    for i, foreign in enumerate([torch.randn(3), {"a": 1}, Tiny().state_dict()]):
        torch.save(foreign, tmp_path / f"f{i}.pt")
        with pytest.raises(CheckpointError, match="is not a neurodcn-checkpoint file"):
            load_checkpoint(tmp_path / f"f{i}.pt", builder=Tiny)
    state = save_training_state(tmp_path / "state.pt", model=Tiny(), epoch=1)
    with pytest.raises(CheckpointError, match="load_training_state"):
        load_checkpoint(state, builder=Tiny)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")


def test_weights_that_do_not_fit_the_built_model(saved):
    _, path = saved
    with pytest.raises(CheckpointError, match="do not fit"):
        load_checkpoint(path, builder=lambda **config: Tiny(hidden=2))


def test_card_validation(tmp_path):
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(Tiny(), tmp_path / "a.pt", {"metrics": {"loss": float("nan")}})
    with pytest.raises(ValueError, match="JSON"):
        save_checkpoint(Tiny(), tmp_path / "a.pt", {"classes": {1, 2}})
    with pytest.raises(ValueError, match="disagrees"):
        save_checkpoint(Tiny(), tmp_path / "a.pt", {"model": {"name": "other"}})
    with pytest.raises(ValueError, match="card\\['model'\\]"):
        save_checkpoint(nn.Linear(2, 2), tmp_path / "a.pt", {})
    with pytest.raises(TypeError, match="model"):
        save_checkpoint({"w": torch.zeros(1)}, tmp_path / "a.pt", {})
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_failed_write_leaves_the_old_file(saved, monkeypatch):
    _, path = saved
    before = path.read_bytes()

    def broken_save(obj, f):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(ckpt.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(Tiny(hidden=5), path, CARD)
    assert path.read_bytes() == before
    assert sorted(os.listdir(path.parent)) == ["tiny.card.json", "tiny.pt"]


def test_rng_state_round_trip():
    state = get_rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.manual_seed(123), np.random.seed(123), random.seed(123)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]


def _train(model, opt, sched, epochs, x, y):
    """A little run that draws from every global generator (dropout, numpy, random) and shuffles by epoch."""
    for epoch in epochs:
        for xb, yb in batches(x, y, batch_size=8, seed=3, epoch=epoch, drop_last=True):
            noise = torch.from_numpy(np.random.normal(size=xb.shape).astype(np.float32)) * random.random()
            out = model(nn.functional.dropout(xb + 0.01 * noise, 0.2))
            loss = nn.functional.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()


def _setup(seed):
    torch.manual_seed(seed)
    model = Tiny(hidden=6)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return model, opt, torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2, 3], gamma=0.1)


def test_resumed_training_is_bit_identical(tmp_path):
    x, y = torch.randn(30, 4, generator=torch.Generator().manual_seed(1)), torch.arange(30) % 2
    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    straight = _setup(0)
    _train(*straight, range(4), x, y)

    torch.manual_seed(5), np.random.seed(5), random.seed(5)
    first = _setup(0)
    _train(*first, range(2), x, y)
    path = save_training_state(tmp_path / "state.pt", model=first[0], optimizer=first[1], scheduler=first[2],
                               epoch=2, metrics={"loss": [0.7, 0.6]}, card={"seed": 3})
    torch.manual_seed(99), np.random.seed(99), random.seed(99)  # what a new process would have
    resumed = _setup(1)
    info = load_training_state(path, model=resumed[0], optimizer=resumed[1], scheduler=resumed[2])
    assert info == {"epoch": 2, "metrics": {"loss": [0.7, 0.6]}, "card": {"seed": 3}}
    _train(*resumed, range(info["epoch"], 4), x, y)
    for a, b in zip(straight[0].state_dict().values(), resumed[0].state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert straight[2].get_last_lr() == resumed[2].get_last_lr() == pytest.approx([0.001])


def test_training_state_errors(tmp_path):
    path = save_training_state(tmp_path / "s.pt", model=Tiny(), epoch=0)
    with pytest.raises(CheckpointError, match="no optimizer"):
        load_training_state(path, model=Tiny(), optimizer=torch.optim.SGD(Tiny().parameters(), lr=0.1))
    payload = torch.load(path, weights_only=True)
    payload["model"]["fc2.bias"] += 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="modified or damaged"):
        load_training_state(path, model=Tiny())
    save_checkpoint(Tiny(), tmp_path / "c.pt")
    with pytest.raises(CheckpointError, match="load_checkpoint"):
        load_training_state(tmp_path / "c.pt", model=Tiny())
    with pytest.raises(ValueError, match="epoch"):
        save_training_state(tmp_path / "s.pt", model=Tiny(), epoch=-1)


def test_cards_name_data_sources_without_the_machines_paths(tmp_path):
    card = {"command": "neurodcn train --data /home/me/data/cifar-10-subset --out /tmp/runs/a --lr 0.1",
            "data": {"train": {"source": "CIFAR-10 train split from /srv/x/cifar-10-batches-py (5 files)"}},
            "note": "ratios like 64/128 and 1/sqrt(2) stay"}
    path = save_checkpoint(nn.Linear(2, 2), tmp_path / "m.pt", {**card, "model": {"name": "lin", "config": {}}})
    _, loaded = load_checkpoint(path, builder=lambda **_: nn.Linear(2, 2))
    assert loaded["command"] == "neurodcn train --data cifar-10-subset --out a --lr 0.1"
    assert loaded["data"]["train"]["source"] == "CIFAR-10 train split from cifar-10-batches-py (5 files)"
    assert loaded["note"] == card["note"]
    for bundled in bundled_checkpoints().values():  # the shipped cards record no absolute path either
        assert "/work/" not in card_path(bundled).read_text()
        text = json.dumps(load_checkpoint(bundled)[1])
        assert portable_card(text) == text
