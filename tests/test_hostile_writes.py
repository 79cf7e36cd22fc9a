"""Issue 27: faults in the middle of writes, two writers at once, and targets that are not regular files."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr

from neurodcn.io import atomic
from neurodcn.io.atomic import LockedError, lock, temporary_sibling, write_files, write_text
from neurodcn.io.files import load_dataset, save_dataset
from neurodcn.io.limits import RefusedFileError
from neurodcn.train.checkpoint import card_path, load_card, save_checkpoint


def _ds(value=0.0):
    return xr.Dataset({"h": (("stimulus",), np.full(3, value))}, coords={"stimulus": np.arange(3)})


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------------------------- killed replaces
def test_a_replace_killed_between_its_renames_loses_neither_copy(tmp_path, monkeypatch):
    store = save_dataset(_ds(1.0), tmp_path / "r.zarr")
    aside = tmp_path / f".r.zarr.neurodcn-old-{_dead_pid()}-0123456789ab.zarr"
    os.replace(store, aside)  # what a process killed after the first rename of a replace leaves
    monkeypatch.setattr("neurodcn.io.files.atomic_path", _failing(atomic.atomic_path))
    with pytest.raises(OSError, match="disk full"):
        save_dataset(_ds(2.0), store)  # a later save that fails
    assert load_dataset(store)["h"].values.tolist() == [1.0] * 3  # the old copy came back
    assert not aside.exists()


def _failing(atomic_path):
    import contextlib

    @contextlib.contextmanager
    def failing(path, replace_dir=None):
        with atomic_path(path, replace_dir):
            raise OSError("disk full")
        yield  # pragma: no cover

    return failing


@pytest.mark.parametrize("fail_on", ["card", "pt"])
def test_save_checkpoint_that_fails_changes_neither_file(tmp_path, monkeypatch, fail_on):
    path = tmp_path / "m.pt"
    save_checkpoint(torch.nn.Linear(2, 2), path, {"model": {"name": "a", "config": {}}})
    before = path.read_bytes(), card_path(path).read_bytes()
    real = os.replace

    def replace(src, dst):
        if Path(dst) == (card_path(path) if fail_on == "card" else path):
            raise OSError("no space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="no space"):
        save_checkpoint(torch.nn.Linear(2, 2), path, {"model": {"name": "b", "config": {}}})
    monkeypatch.undo()
    assert (path.read_bytes(), card_path(path).read_bytes()) == before
    assert load_card(path)["model"]["name"] == "a" and sorted(p.name for p in tmp_path.iterdir()) == [
        "m.card.json", "m.pt"]


def test_write_files_of_new_files_leaves_none_on_failure(tmp_path, monkeypatch):
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda s, d: real(s, d) if Path(d).name == "a" else (_ for _ in ()).throw(
        OSError("quota")))
    with pytest.raises(OSError, match="quota"):
        write_files({tmp_path / "a": b"1", tmp_path / "b": b"2"})
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------------ non-regular targets
def test_fifo_and_device_targets_are_refused_untouched(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    dev = tmp_path / "null.json"
    dev.symlink_to("/dev/null")
    for target in (fifo, dev):
        with pytest.raises(RefusedFileError, match="FIFO|character device"):
            write_text(target, "{}")
    assert fifo.is_fifo() and dev.is_symlink() and Path("/dev/null").is_char_device()
    os.mkfifo(tmp_path / "pipe.nc")
    with pytest.raises(RefusedFileError, match="FIFO"):
        save_dataset(_ds(), tmp_path / "pipe.nc", overwrite=True)


def test_symlinked_target_is_written_through(tmp_path):
    real = tmp_path / "data" / "results.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "results.json"
    link.symlink_to(real)
    write_text(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    nc = tmp_path / "data" / "d.nc"
    (tmp_path / "d.nc").symlink_to(nc)
    save_dataset(_ds(3.0), tmp_path / "d.nc", overwrite=True)
    assert (tmp_path / "d.nc").is_symlink() and load_dataset(nc)["h"].values[0] == 3.0


def test_a_243_byte_file_name_is_written(tmp_path):
    name = "r" * 240 + ".nc"
    assert len(name) == 243
    save_dataset(_ds(), tmp_path / name)
    assert load_dataset(tmp_path / name)["h"].shape == (3,)
    assert len(temporary_sibling(tmp_path / ("x" * 255)).name.encode()) <= 255
    write_text(tmp_path / ("j" * 250 + ".json"), "{}")


def test_unwritable_destination_is_found_before_work(tmp_path):
    from neurodcn.io.atomic import check_destination

    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who may write anywhere")
        with pytest.raises(PermissionError, match="not writable"):
            check_destination(folder / "r.json", overwrite=True)
    finally:
        folder.chmod(0o755)


# ----------------------------------------------------------------------------------------------- locks
def test_a_lock_refuses_a_second_holder_and_takes_over_a_dead_ones(tmp_path):
    lock_file = tmp_path / "x.lock"
    with lock(lock_file, "path 'x'"):
        with pytest.raises(LockedError, match=rf"path 'x' is in use by process {os.getpid()}"):
            with lock(lock_file, "path 'x'"):
                pass
    assert not lock_file.exists()
    import socket

    lock_file.write_text(f"{_dead_pid()} {socket.gethostname()}")
    with lock(lock_file, "path 'x'"):
        assert lock_file.read_text().startswith(str(os.getpid()))


def test_two_threads_racing_for_a_lock_one_wins(tmp_path):
    results, barrier = [], threading.Barrier(8)

    def take():
        barrier.wait()
        try:
            with lock(tmp_path / "x.lock", "x"):
                results.append("won")
                barrier_done.wait()
        except LockedError:
            results.append("refused")

    barrier_done = threading.Event()
    threads = [threading.Thread(target=take) for _ in range(8)]
    for t in threads:
        t.start()
    while len(results) < 8 and any(t.is_alive() for t in threads) and results.count("refused") < 7:
        pass
    barrier_done.set()
    for t in threads:
        t.join()
    assert sorted(results) == ["refused"] * 7 + ["won"]


# -------------------------------------------------------------------------------------------- streams
def test_a_lazily_opened_store_is_not_silently_swapped(tmp_path):
    pytest.importorskip("dask")
    store = save_dataset(_ds(1.0), tmp_path / "r.zarr")
    lazy = load_dataset(store, lazy=True)
    save_dataset(_ds(2.0), store, overwrite=True)  # replaced by a later run
    with pytest.raises(RuntimeError, match="replaced or removed after it was opened lazily"):
        lazy["h"].load()
    assert load_dataset(store, lazy=True)["h"].values.tolist() == [2.0] * 3


def test_a_second_stream_to_the_same_path_fails_clearly(tmp_path):
    from neurodcn.io.files import ZarrStreamWriter

    first = ZarrStreamWriter(tmp_path / "r.zarr")
    first.append(_ds(1.0))
    with pytest.raises(LockedError, match=rf"path '.*r.zarr' is in use by process {os.getpid()}"):
        ZarrStreamWriter(tmp_path / "r.zarr")
    first.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zarr"]  # no lock, no partial store left


def test_an_interrupted_stream_keeps_its_finished_batches(tmp_path):
    from neurodcn.io.files import ZarrStreamWriter

    with pytest.raises(KeyboardInterrupt):
        with ZarrStreamWriter(tmp_path / "r.zarr") as w:
            w.append(_ds(1.0))
            w.append(_ds(2.0))
            raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.partial.zarr"]
    with pytest.warns(UserWarning, match="6 finished stimulus rows"):
        assert load_dataset(w.partial)["h"].values.tolist() == [1.0] * 3 + [2.0] * 3
    with pytest.raises(FileExistsError, match="partial store of an interrupted write.*overwrite=True"):
        ZarrStreamWriter(tmp_path / "r.zarr", overwrite=False)
    with ZarrStreamWriter(tmp_path / "r.zarr", overwrite=True) as w:
        w.append(_ds(3.0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.zarr"]


def test_a_killed_stream_leaves_a_findable_store_up_to_its_last_finished_batch(tmp_path):
    import zarr

    from neurodcn.io.files import ZarrStreamWriter

    w = ZarrStreamWriter(tmp_path / "r.zarr")
    w.append(_ds(1.0))
    for name in ("h", "stimulus"):  # a batch resized but not yet written when the process died
        zarr.open_array(w.partial / name, mode="r+").resize((5,))
    with pytest.warns(UserWarning, match="incomplete.*3 finished"):
        assert load_dataset(w.partial)["h"].values.tolist() == [1.0] * 3


# ------------------------------------------------------------------------------------------- recordings
def _cortex():
    import neurodcn as nd

    torch.manual_seed(0)
    model = nd.build_model("odenet", width=4, solver={"method": "euler", "step_size": 0.5})
    return nd.VirtualCortex(model, image_size=10, progress=False, batch_size=2)


def _images(n, seed=0):
    return torch.rand(n, 3, 10, 10, generator=torch.Generator().manual_seed(seed))


def test_a_second_record_to_the_same_out_needs_overwrite_and_never_swaps_a_lazy_one(tmp_path):
    pytest.importorskip("zarr")
    vc, out = _cortex(), tmp_path / "rec.zarr"
    first = vc.record(_images(2, seed=0), [1.0], out=out)
    h1 = first["block1/h"].values.copy()
    with pytest.raises(FileExistsError, match="rec.zarr.*exists and overwrite=False"):
        vc.record(_images(2, seed=1), [1.0], out=out)
    np.testing.assert_array_equal(first["block1/h"].values, h1)
    vc.record(_images(2, seed=1), [1.0], out=out, overwrite=True)
    with pytest.raises(RuntimeError, match="replaced or removed after it was opened lazily"):
        first["block1/h"].load()


def test_ctrl_c_during_a_streamed_record_keeps_the_finished_batches_and_says_so(tmp_path, capsys):
    pytest.importorskip("zarr")
    vc, out = _cortex(), tmp_path / "rec.zarr"
    calls = []

    def interrupt(*_):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt

    handle = vc.model.stem.register_forward_hook(interrupt)
    try:
        with pytest.raises(KeyboardInterrupt):
            vc.record(_images(6), [0.5, 1.0], out=out)
    finally:
        handle.remove()
    lines = capsys.readouterr().err.strip().splitlines()
    partial = str(tmp_path / "rec.partial.zarr")
    assert lines == [f"record interrupted: the 2 of 6 stimuli finished are kept in {partial!r} "
                     "(load_dataset reads them; the same record call with resume=True continues it)"]
    with pytest.warns(UserWarning, match="incomplete"):
        kept = load_dataset(tmp_path / "rec.partial.zarr")
    np.testing.assert_array_equal(kept["block1/h"].values, vc.record(_images(6)[:2], [0.5, 1.0])["block1/h"].values)


def test_record_in_memory_that_needs_too_much_is_refused_up_front(monkeypatch):
    from neurodcn.io.limits import MAX_BYTES_ENV, BudgetError

    monkeypatch.setenv(MAX_BYTES_ENV, str(10_000))
    with pytest.raises(BudgetError, match=r"record \(3 times x the maps of 3 blocks.* of 4 stimuli in memory.*"
                       r"out='recording.zarr'"):
        _cortex().record(_images(4), [0.5, 1.0, 1.5])


def test_record_streaming_a_batch_that_needs_too_much_is_refused_before_any_file(tmp_path, monkeypatch):
    from neurodcn.io.limits import MAX_BYTES_ENV, BudgetError

    monkeypatch.setenv(MAX_BYTES_ENV, str(10_000))
    with pytest.raises(BudgetError, match=r"one batch of 2 stimuli.*batch_size"):
        _cortex().record(_images(4), [0.5, 1.0, 1.5], out=tmp_path / "r.zarr")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------------- command line and runs
def _cifar(tmp_path):
    from conftest import _write_synthetic

    return _write_synthetic(tmp_path / "cifar-10-batches-py", rows=20, seed=0).root


def test_two_trainings_into_one_run_folder_fail_clearly(tmp_path, capsys):
    import socket

    from neurodcn.cli import main

    data, out = _cifar(tmp_path), tmp_path / "run"
    out.mkdir()
    (out / "run.lock").write_text(f"1 {socket.gethostname()}")  # a live process (init) holds the folder
    args = ["train", "--model", "odenet", "--width", "2", "--data", str(data), "--out", str(out), "--epochs", "1",
            "--batch-size", "4", "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "run folder" in err and "in use by process 1" in err and "run.lock" in err
    assert sorted(p.name for p in out.iterdir()) == ["run.lock"]  # nothing of the second run was written
    (out / "run.lock").unlink()
    assert main(args) == 0
    assert not (out / "run.lock").exists()  # released when the run ends


def test_ctrl_c_in_train_and_demo_prints_one_line_saying_what_was_kept(tmp_path, capsys, monkeypatch):
    import neurodcn.demo
    import neurodcn.train.trainer
    from neurodcn.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(neurodcn.train.trainer, "train", interrupted)
    monkeypatch.setattr(neurodcn.demo, "run_demo", interrupted)
    out = tmp_path / "run"
    args = ["train", "--model", "odenet", "--data", str(_cifar(tmp_path)), "--out", str(out), "--epochs", "1"]
    assert main(args) == 130
    assert capsys.readouterr().err.splitlines() == [
        f"neurodcn train: interrupted; no training state had been saved in {str(out)!r} yet"]
    out.mkdir()
    (out / "state.pt").write_bytes(b"")
    assert main(args) == 130
    (line,) = capsys.readouterr().err.splitlines()
    assert "state.pt" in line and "--resume" in line
    assert main(["demo", "--out", str(tmp_path / "res"), "--quick"]) == 130
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("neurodcn demo: interrupted; the analyses finished so far are kept in")


def test_evaluate_json_onto_a_fifo_or_device_fails_before_work(tmp_path, capsys, monkeypatch):
    import neurodcn.train.checkpoint as ckpt
    from neurodcn.cli import main

    loads = []
    monkeypatch.setattr(ckpt, "load_checkpoint", lambda *a, **k: loads.append(a))
    fifo = tmp_path / "r.json"
    os.mkfifo(fifo)
    dev = tmp_path / "d.json"
    dev.symlink_to("/dev/null")
    for target in (fifo, dev):
        assert main(["evaluate", str(tmp_path / "m.pt"), "--data", str(tmp_path), "--json", str(target)]) == 2
        err = capsys.readouterr().err
        assert "--json" in err and ("FIFO" in err or "character device" in err)
    assert loads == [] and fifo.is_fifo() and dev.is_symlink()


def test_the_readme_counts_these_cases():
    import math
    import re

    import test_hostile_files
    import test_hostile_writes

    def cases(module):
        n = 0
        for name, fn in vars(module).items():
            if name.startswith("test_") and callable(fn):
                marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
                n += math.prod(len(m.args[1]) for m in marks)
        return n

    text = (Path(__file__).parents[1] / "README.md").read_text()
    section = text[text.index("## Reliability"):text.index("## Tests")]
    for module in (test_hostile_files, test_hostile_writes):
        claimed = re.search(rf"`tests/{module.__name__}.py` \((\d+) cases\)", section)
        assert claimed and int(claimed.group(1)) == cases(module), (module.__name__, cases(module))
