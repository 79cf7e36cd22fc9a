"""No write deletes what the user did not ask to replace; leftovers are recognisable and cleaned safely; the file
layer names the path in its errors; the checkpoint hash covers the card."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from torch import nn

from neurodcn.cli import main
from neurodcn.io.atomic import atomic_path, clean_stale_temporaries, temporary_sibling, write_text
from neurodcn.io.files import STORE_ATTR, ZarrStreamWriter, is_neurodcn_store, load_dataset, save_dataset
from neurodcn.train.checkpoint import CheckpointError, load_card, load_checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[1]


def _ds(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return xr.Dataset({"h": (("stimulus", "c"), rng.standard_normal((n, 2)), {"long_name": "h", "units": "1"})},
                      coords={"stimulus": np.arange(n)}, attrs={"title": "t", "flags": [1, 2]})


def _user_folder(path: Path) -> Path:
    path.mkdir()
    (path / "thesis.tex").write_text("years of work")
    return path


def _intact(path: Path) -> bool:
    return (path / "thesis.tex").read_text() == "years of work"


# ------------------------------------------------------------------------------------------- data loss
@pytest.mark.parametrize("suffix", [".nc", ".zarr"])
def test_save_dataset_never_replaces_a_foreign_directory(tmp_path, suffix):
    target = _user_folder(tmp_path / f"mine{suffix}")
    with pytest.raises(IsADirectoryError, match=f"mine{suffix}"):
        save_dataset(_ds(), target, overwrite=True)
    assert _intact(target) and sorted(p.name for p in tmp_path.iterdir()) == [f"mine{suffix}"]


def test_save_dataset_replaces_its_own_zarr_store(tmp_path):
    target = tmp_path / "rec.zarr"
    save_dataset(_ds(seed=1), target)
    assert is_neurodcn_store(target)
    save_dataset(_ds(seed=2), target, overwrite=True)
    xr.testing.assert_identical(load_dataset(target), load_dataset(save_dataset(_ds(seed=2), tmp_path / "b.zarr")))
    assert STORE_ATTR not in load_dataset(target).attrs  # the mark of a complete store is hidden


def test_stream_writer_refuses_a_foreign_directory_before_any_batch(tmp_path):
    target = _user_folder(tmp_path / "mine.zarr")
    with pytest.raises(IsADirectoryError, match="mine.zarr"):
        ZarrStreamWriter(target)
    assert _intact(target)


def test_atomic_writer_refuses_a_directory_unless_recognised(tmp_path):
    target = _user_folder(tmp_path / "notes.txt")
    with pytest.raises(IsADirectoryError, match="notes.txt"):
        write_text(target, "x")
    assert _intact(target) and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def test_checkpoint_never_replaces_a_directory(tmp_path):
    target = _user_folder(tmp_path / "model.pt")
    with pytest.raises(IsADirectoryError, match="model.pt"):
        save_checkpoint(nn.Linear(2, 2), target, {"model": {"name": "lin", "config": {}}})
    assert _intact(target)


def test_to_nwb_with_overwrite_never_replaces_a_directory(tmp_path):
    pytest.importorskip("pynwb")
    from cortex_fixtures import make_record_dataset

    from neurodcn.io.nwb import to_nwb

    target = _user_folder(tmp_path / "session.nwb")
    with pytest.raises(IsADirectoryError, match="session.nwb"):
        to_nwb(make_record_dataset(n_stimuli=2, n_times=3, blocks=((2, 2, 2),)), target, overwrite=True)
    assert _intact(target)


def _tiny_checkpoint(tmp_path) -> Path:
    from neurodcn.nn.zoo import build_model

    return save_checkpoint(build_model("odenet", width=4, solver={"method": "euler", "step_size": 1.0}),
                           tmp_path / "m.pt")


def test_evaluate_json_into_a_directory_or_missing_folder_fails_before_work(tmp_path, capsys, monkeypatch):
    import neurodcn.train.checkpoint as ckpt

    ckpt_path = _tiny_checkpoint(tmp_path)
    loads = []
    monkeypatch.setattr(ckpt, "load_checkpoint", lambda *a, **k: loads.append(a))
    folder = _user_folder(tmp_path / "results")
    assert main(["evaluate", str(ckpt_path), "--data", str(tmp_path), "--json", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "--json" in err and str(folder) in err and _intact(folder)
    missing = tmp_path / "nope" / "r.json"
    assert main(["evaluate", str(ckpt_path), "--data", str(tmp_path), "--json", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "does not exist" in err and ".neurodcn-tmp" not in err
    assert loads == []  # nothing was loaded or evaluated


def test_train_out_that_is_a_file_fails_before_work(tmp_path, capsys):
    out = tmp_path / "run.txt"
    out.write_text("mine")
    assert main(["train", "--model", "odenet", "--data", str(tmp_path), "--out", str(out), "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and str(out) in err and out.read_text() == "mine"


# ------------------------------------------------------------------------------------------ leftovers
def test_temporary_names_are_recognisable(tmp_path):
    tmp = temporary_sibling(tmp_path / "rec.zarr")
    assert tmp.name.startswith(f".rec.zarr.neurodcn-tmp-{os.getpid()}-") and tmp.suffix == ".zarr"


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_are_cleaned_only_when_ours_dead_and_old(tmp_path):
    target = tmp_path / "rec.nc"
    dead, old = _dead_pid(), time.time() - 3600
    stale = tmp_path / f".rec.nc.neurodcn-tmp-{dead}-0123456789ab.nc"
    stale_dir = tmp_path / f".rec.nc.neurodcn-old-{dead}-0123456789ac.nc"
    fresh = tmp_path / f".rec.nc.neurodcn-tmp-{dead}-0123456789ad.nc"  # dead but recent
    alive = tmp_path / f".rec.nc.neurodcn-tmp-{os.getpid()}-0123456789ae.nc"  # old but alive
    other = tmp_path / f".other.nc.neurodcn-tmp-{dead}-0123456789af.nc"  # another target's
    foreign = tmp_path / ".rec.nc.tmp-0123456789ab.nc"  # not our pattern
    for p in (stale, fresh, alive, other, foreign, target):
        p.write_text("x")
    stale_dir.mkdir()  # an old copy moved aside whose replacement finished (the target exists)
    (stale_dir / "chunk").write_text("x")
    for p in (stale, stale_dir, alive, other, foreign):
        os.utime(p, (old, old))
    assert sorted(clean_stale_temporaries(target)) == sorted([stale, stale_dir])
    assert all(p.exists() for p in (fresh, alive, other, foreign))
    save_dataset(_ds(), target, overwrite=True)  # a write cleans its own target's stale temporaries too
    assert fresh.exists()


def test_an_unclosed_stream_is_marked_incomplete(tmp_path):
    writer = ZarrStreamWriter(tmp_path / "s.zarr")
    writer.append(_ds())
    writer.append(_ds())  # the mark survives every append
    partial = writer.partial  # as a killed process leaves it: visible, beside the destination
    assert partial.name == "s.partial.zarr"
    assert json.loads((partial / ".zattrs").read_text())[STORE_ATTR] == "incomplete"
    with pytest.warns(UserWarning, match="incomplete.*6 finished stimulus rows"):
        assert load_dataset(partial).attrs[STORE_ATTR] == "incomplete"


def test_a_failed_block_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "a.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ clear file-layer errors
@pytest.mark.parametrize("content", [b"not a netcdf file at all", b"\x89HDF\r\n\x1a\n" + b"\0" * 40])
def test_load_dataset_on_a_foreign_or_truncated_file_names_the_path(tmp_path, content):
    path = tmp_path / "bad.nc"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="bad.nc.*not a readable netCDF-4"):
        load_dataset(path)


def test_load_dataset_on_a_truncated_real_file_names_the_path(tmp_path):
    path = save_dataset(_ds(n=200), tmp_path / "cut.nc")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="cut.nc"):
        load_dataset(path)


@pytest.mark.parametrize("listing, value, message", [
    ('["flags"]', "[1, 2", "attribute 'flags' is not valid JSON"),
    ('["flags"', "[1, 2]", "attribute 'neurodcn_json_attrs' is not valid JSON"),
    ('{"a": 1}', "[1, 2]", "must be a JSON list of attribute names"),
    ('["gone"]', "[1, 2]", "lists 'gone', which is missing"),
    ('["flags"]', "[" * 100000 + "]" * 100000, "attribute 'flags' is not valid JSON"),
])
def test_malformed_json_attrs_name_the_attribute(tmp_path, listing, value, message):
    path = tmp_path / "m.nc"
    xr.Dataset(attrs={"neurodcn_json_attrs": listing, "flags": value}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match=message):
        load_dataset(path)


def test_json_attr_that_is_not_a_string_is_named(tmp_path):
    path = tmp_path / "n.nc"
    xr.Dataset(attrs={"neurodcn_json_attrs": '["flags"]', "flags": 3}).to_netcdf(path, engine="h5netcdf")
    with pytest.raises(ValueError, match="attribute 'flags' must be a JSON string"):
        load_dataset(path)


# ------------------------------------------------------------------------------------ checkpoint hash
def _rewrite_card(path: Path, edit) -> None:
    payload = torch.load(path, weights_only=True)
    card = json.loads(payload["card"])
    edit(card)
    payload["card"] = json.dumps(card)
    torch.save(payload, path)


@pytest.mark.parametrize("edit", [
    lambda c: c["model"]["config"]["solver"].update(method="dopri5", step_size=None),
    lambda c: c["model"]["config"].update(width=8),
    lambda c: c.update(solver={"method": "rk4"}),
    lambda c: c.pop("checkpoint_sha256"),
])
def test_editing_the_card_fails_to_load(tmp_path, edit):
    path = _tiny_checkpoint(tmp_path)
    load_checkpoint(path)
    _rewrite_card(path, edit)
    with pytest.raises(CheckpointError, match="card .*modified or damaged"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="checkpoint_sha256"):
        load_card(path)


def test_resaving_a_loaded_card_gets_a_fresh_hash(tmp_path):
    model, card = load_checkpoint(_tiny_checkpoint(tmp_path))
    card["test"] = {"accuracy": 0.5}
    _, again = load_checkpoint(save_checkpoint(model, tmp_path / "m.pt", card))
    assert again["test"] == {"accuracy": 0.5}


@pytest.mark.parametrize("name", ["dcn-ode-subset", "dcn-ode-euler-subset"])  # bundled files written before format 2
def test_old_bundled_checkpoints_still_load_on_their_weights_hash(name):
    path = REPO / "neurodcn" / "_data" / "checkpoints" / f"{name}.pt"
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == 1 and "checkpoint_sha256" not in json.loads(payload["card"])
    model, card = load_checkpoint(path)
    assert card["model"]["name"] == "dcn-ode" and not model.training


def test_old_checkpoint_with_edited_weights_still_fails(tmp_path):
    path = tmp_path / "old.pt"
    payload = torch.load(REPO / "neurodcn" / "_data" / "checkpoints" / "dcn-ode-euler-subset.pt", weights_only=True)
    assert payload["format_version"] == 1
    key = next(iter(payload["state_dict"]))
    payload["state_dict"][key] = payload["state_dict"][key] + 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights were modified"):
        load_checkpoint(path)
