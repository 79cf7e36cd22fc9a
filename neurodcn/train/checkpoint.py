"""Safe checkpoints with model cards, and resumable training states.

A checkpoint is a torch file holding only tensors and plain data: {"format", "format_version", "card" (a JSON
string), "state_dict"}. The card names the model and its config (the model is rebuilt from them), and holds
whatever the trainer records (solver, data, schedule, epochs, metrics) plus the neurodcn version, a sha256 of
the weights ("sha256") and a sha256 of the whole checkpoint ("checkpoint_sha256": the weights' sha256 and every
other card entry, so the architecture config and the solver too), both checked on load. Checkpoints of
format_version 1 (before checkpoint_sha256) still load, checked on their weights' sha256 only. A copy of the
card is written beside the file as ``<path stem>.card.json`` for people to read. Absolute file paths in the
card's strings are reduced to their last component (:func:`portable_card`), so a card names its data set and
command without the machine they ran on. Files are loaded with ``torch.load(weights_only=True)``: nothing in
them is executed. The hashes detect modified or damaged files, not a deliberate forger who recomputes them.

A training state adds optimizer, scheduler and RNG states, the epoch and the metrics so far, so a run can stop
and continue bit-identically.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import random
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn

from neurodcn._version import __version__
from neurodcn.io.atomic import write_bytes, write_files
from neurodcn.validate import check_bool, check_callable, check_int, check_path, check_type

__all__ = [
    "CheckpointError", "save_checkpoint", "portable_card", "load_checkpoint", "load_card", "card_path",
    "state_sha256", "checkpoint_sha256",
    "save_training_state", "load_training_state", "get_rng_state", "set_rng_state",
]

CHECKPOINT_FORMAT = "neurodcn-checkpoint"
TRAINING_FORMAT = "neurodcn-training-state"
FORMAT_VERSION = 1
"""format_version of training states."""
CHECKPOINT_VERSION = 2
"""format_version of checkpoints written now (2: the card carries checkpoint_sha256; 1: weights' sha256 only)."""
_READABLE = {CHECKPOINT_FORMAT: (1, CHECKPOINT_VERSION), TRAINING_FORMAT: (FORMAT_VERSION,)}


class CheckpointError(ValueError):
    """A checkpoint file is truncated, corrupt, tampered with, or not a neurodcn checkpoint."""

    def __init__(self, path, problem: str):
        super().__init__(f"{path}: {problem}")
        self.path = Path(path)


def _check_path(path) -> Path:
    return check_path("path", path)


def card_path(path) -> Path:
    """Where the human-readable card of checkpoint ``path`` goes: the same name with suffix .card.json."""
    return _check_path(path).with_suffix(".card.json")


def _torch_bytes(payload: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(payload, buf)
    return buf.getvalue()


def state_sha256(state_dict: dict) -> str:
    """sha256 (hex) over the names, dtypes, shapes and raw bytes of the tensors of ``state_dict``, sorted by name."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name]
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"state_dict[{name!r}] must be a tensor, got {type(t).__name__}")
        t = t.detach().cpu().contiguous()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()


def checkpoint_sha256(card: dict) -> str:
    """sha256 (hex) of the canonical JSON of ``card`` without its "checkpoint_sha256" entry; the card holds the
    weights' sha256, so this covers the weights, the model's name and config (solver included) and the rest."""
    rest = {k: v for k, v in card.items() if k != "checkpoint_sha256"}
    text = json.dumps(rest, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def _to_json(name: str, value) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be JSON-serialisable (str keys; str, finite numbers, bool, None, lists, "
                         f"dicts): {err}") from err


def _model_entry(model: nn.Module, card: dict) -> dict:
    """card["model"] = {"name", "config"}: from ``model.config`` (zoo models) or as given in the card."""
    given = card.get("model")
    config = getattr(model, "config", None)
    if config is not None:
        if not isinstance(config, dict):
            raise TypeError(f"model.config must be a dict, got {type(config).__name__}")
        name = config.get("name", given.get("name") if isinstance(given, dict) else None)
        entry = {"name": name, "config": dict(config)}
        if isinstance(given, dict) and any(k in given and given[k] != entry[k] for k in entry):
            raise ValueError(f"card['model'] = {given!r} disagrees with the model's own name and config {entry!r}")
    else:
        entry = given
    if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("config"), dict)):
        raise ValueError("the card needs card['model'] = {'name': str, 'config': dict} for a model without a "
                         f".config attribute, got {given!r}")
    return {**(given if isinstance(given, dict) else {}), **entry}


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~/-])/(?:[^\s/'\"(),;:]+/)+([^\s/'\"(),;:]+)")


def portable_card(value):
    """``value`` (a card or any part of one) with every absolute POSIX path of two or more components inside
    its strings replaced by the path's last component: "--data /home/me/cifar-10-subset" -> "--data
    cifar-10-subset". Dicts and lists are copied; other values are returned as they are."""
    if isinstance(value, str):
        return _ABSOLUTE_PATH.sub(r"\1", value)
    if isinstance(value, dict):
        return {k: portable_card(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [portable_card(v) for v in value]
    return value


def _cpu_state(model: nn.Module) -> dict:
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def save_checkpoint(model: nn.Module, path, card: dict | None = None) -> Path:
    """Write a model's weights and its model card to ``path`` atomically, and the card beside it as JSON; the
    two files are replaced together (if writing either fails, neither changes).

    The card gains "format", "neurodcn_version", "created" (UTC, ISO 8601), "num_parameters" and the
    "sha256" of the weights (and a ``checkpoint_sha256`` over weights and card, so an edited card fails to
    load).

    Args:
        model: the network; ``card["model"] = {"name", "config"}`` is taken from ``model.config`` when the
            model has one, else it must be in ``card``.
        path: the checkpoint file (.pt); the card goes to ``card_path(path)`` (``<name>.card.json``).
        card: JSON-able dict (e.g. solver, data, schedule, epochs, metrics), stored through
            ``portable_card``.

    Returns:
        The checkpoint path.

    Examples:
        >>> import tempfile, pathlib, neurodcn as nd
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.pt"
        >>> model = nd.build_model("dcn-ode", width=4)
        >>> nd.save_checkpoint(model, path, card={"epochs": 0}).name
        'tiny.pt'
        >>> sorted(p.name for p in path.parent.iterdir())
        ['tiny.card.json', 'tiny.pt']
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    path = _check_path(path)
    card = {} if card is None else card
    check_type("card", card, dict, "a dict or None")
    _check_writable(path)
    state = _cpu_state(model)
    full = {**portable_card(card), "model": _model_entry(model, card), "format": CHECKPOINT_FORMAT,
            "neurodcn_version": __version__, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "num_parameters": sum(p.numel() for p in model.parameters()), "sha256": state_sha256(state)}
    full.pop("checkpoint_sha256", None)
    _to_json("card", full)
    full["checkpoint_sha256"] = checkpoint_sha256(full)
    card_json = _to_json("card", full)
    payload = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, "card": card_json,
               "state_dict": state}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_files({path: _torch_bytes(payload), card_path(path): (json.dumps(full, indent=2) + "\n").encode()})
    return path


def _check_writable(path: Path) -> None:
    """Before any work: neither the file nor its card path may be an existing directory."""
    for p in (path, card_path(path)):
        if p.is_dir() and not p.is_symlink():
            raise IsADirectoryError(f"path {str(p)!r} is an existing directory; it is left untouched (choose a "
                                    "file name)")
    if path.parent.exists() and not path.parent.is_dir():
        raise NotADirectoryError(f"the folder of path {str(path)!r} is not a directory")


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return f"{type(err).__name__}: {text.splitlines()[0] if text else ''}"


def _read(path, expected_format: str) -> dict:
    path = _check_path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = _first_line(err)
        if "weights only" in str(err).lower():
            problem = ("holds objects other than tensors and plain data and was refused without running them "
                       f"(tampered, or not a neurodcn file): {first}")
        else:
            problem = f"is not a torch file (foreign, truncated or corrupt): {first}"
        raise CheckpointError(path, problem) from err
    except Exception as err:  # truncated zip archives, text files, wrong magic numbers, ...
        first = _first_line(err)
        raise CheckpointError(path, f"is not a readable torch file (foreign, truncated or corrupt): {first}") from err
    found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
    if found != expected_format:
        hint = {CHECKPOINT_FORMAT: "; read it with load_checkpoint", TRAINING_FORMAT: "; read it with "
                "load_training_state"}.get(found, "")
        raise CheckpointError(path, f"is not a {expected_format} file (found format {found!r}){hint}")
    if payload.get("format_version") not in _READABLE[expected_format]:
        raise CheckpointError(path, f"has format_version {payload.get('format_version')!r}; this neurodcn reads "
                                    f"versions {list(_READABLE[expected_format])}")
    try:
        payload["card"] = json.loads(payload["card"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(path, f"has no readable JSON card: {err}") from err
    return payload


def _verified_state(path, payload: dict, key: str, expected_sha: str) -> dict:
    state = payload.get(key)
    if not (isinstance(state, dict) and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                            for k, v in state.items())):
        raise CheckpointError(path, f"its {key!r} entry is not a dict of named tensors")
    actual = state_sha256(state)
    if actual != expected_sha:
        raise CheckpointError(path, f"weights were modified or damaged: sha256 {actual} does not match "
                                    f"{expected_sha} recorded at save time")
    return state


def _build(path, card: dict, builder: Callable[..., nn.Module] | None) -> nn.Module:
    entry = card.get("model")
    if not (isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(entry.get("config"), dict)):
        raise CheckpointError(path, f"its card has no model name and config: {entry!r}")
    config = dict(entry["config"])
    if builder is None:
        from neurodcn.nn.zoo import build_model

        config.setdefault("name", entry["name"])
        builder = build_model
    model = builder(**config)
    if not isinstance(model, nn.Module):
        raise TypeError(f"builder must return a torch.nn.Module, got {type(model).__name__}")
    return model


def _load_weights(path, model: nn.Module, state: dict) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointError(path, f"its weights do not fit the model built from its card: {err}") from err


def _verified_card(path, payload: dict) -> dict:
    """The card of a checkpoint payload, its checkpoint_sha256 verified (format_version 2 on)."""
    card = payload["card"]
    if not isinstance(card, dict):
        raise CheckpointError(path, f"its card is not a JSON object: {card!r:.80}")
    if payload["format_version"] >= 2:
        expected = card.get("checkpoint_sha256")
        actual = checkpoint_sha256(card)
        if actual != expected:
            raise CheckpointError(path, f"its card (the model's name, config or solver, or another entry) was "
                                        f"modified or damaged: checkpoint_sha256 {actual} does not match "
                                        f"{expected!r} recorded at save time")
    return card


def load_card(path) -> dict:
    """The model card stored inside checkpoint ``path`` (the weights' and the card's sha256 are verified)."""
    payload = _read(path, CHECKPOINT_FORMAT)
    card = _verified_card(path, payload)
    _verified_state(path, payload, "state_dict", card.get("sha256"))
    return card


def load_checkpoint(path, builder: Callable[..., nn.Module] | None = None) -> tuple[nn.Module, dict]:
    """Load a checkpoint written by ``save_checkpoint``, safely: nothing from the file is executed.

    The weights are read with ``torch.load(weights_only=True)`` and checked against the card's sha256.

    Args:
        path: the checkpoint file (.pt).
        builder: rebuilds the model as ``builder(**card["model"]["config"])``; default
            ``neurodcn.build_model`` (with the card's model name). Pass one for models outside the zoo.

    Returns:
        (model, card): the model on CPU in eval mode, and its card (a dict).

    Raises:
        CheckpointError: the file is truncated, corrupt, foreign or tampered with.

    Examples:
        >>> import tempfile, pathlib, torch, neurodcn as nd
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "tiny.pt"
        >>> _ = nd.save_checkpoint(nd.build_model("dcn-ode", width=4, seed=0), path, card={"epochs": 3})
        >>> model, card = nd.load_checkpoint(path)
        >>> card["model"]["name"], card["epochs"], model.training
        ('dcn-ode', 3, False)
        >>> fresh = nd.build_model("dcn-ode", width=4, seed=0)
        >>> bool(torch.equal(model.stem.weight, fresh.stem.weight))
        True
    """
    if builder is not None:
        check_callable("builder", builder, "callable or None")
    payload = _read(path, CHECKPOINT_FORMAT)
    card = _verified_card(path, payload)
    state = _verified_state(path, payload, "state_dict", card.get("sha256"))
    model = _build(path, card, builder)
    _load_weights(path, model, state)
    return model.eval(), card


def get_rng_state() -> dict:
    """The states of torch's (CPU and, when present, CUDA), numpy's global and Python's random generators,
    as tensors and plain data (loadable with weights_only=True)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": {"version": version, "state": torch.tensor(internal, dtype=torch.int64),
                        "gauss_next": gauss_next}}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore generator states captured by get_rng_state."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(int(v) for v in p["state"].tolist()), p["gauss_next"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_state(path, *, model: nn.Module, epoch: int, optimizer: torch.optim.Optimizer | None = None,
                        scheduler=None, metrics: dict | None = None, card: dict | None = None) -> Path:
    """Atomically write everything needed to resume training after ``epoch`` completed epochs.

    Holds the model, optimizer and scheduler state_dicts, the RNG states (get_rng_state), ``epoch``, and the
    JSON-able ``metrics`` (e.g. per-epoch history) and ``card`` (e.g. the run's config). Returns the path.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_int("epoch", epoch, minimum=0)
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is not None and not callable(getattr(obj, "state_dict", None)):
            raise TypeError(f"{name} must have a state_dict() method or be None, got {type(obj).__name__}")
    path = _check_path(path)
    state = _cpu_state(model)
    payload = {"format": TRAINING_FORMAT, "format_version": FORMAT_VERSION, "neurodcn_version": __version__,
               "epoch": epoch, "model": state, "model_sha256": state_sha256(state),
               "optimizer": None if optimizer is None else optimizer.state_dict(),
               "scheduler": None if scheduler is None else scheduler.state_dict(),
               "rng": get_rng_state(), "metrics": _to_json("metrics", metrics or {}),
               "card": _to_json("card", card or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, _torch_bytes(payload))
    return path


def load_training_state(path, *, model: nn.Module, optimizer: torch.optim.Optimizer | None = None,
                        scheduler=None, restore_rng: bool = True) -> dict:
    """Load a training state into ``model`` (and ``optimizer``, ``scheduler``); restore RNG states if asked.

    Returns {"epoch": completed epochs, "metrics": dict, "card": dict}. Executes nothing from the file.
    """
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_bool("restore_rng", restore_rng)
    payload = _read(path, TRAINING_FORMAT)
    state = _verified_state(path, payload, "model", payload.get("model_sha256"))
    _load_weights(path, model, state)
    for name, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
        if obj is None:
            continue
        if payload.get(name) is None:
            raise CheckpointError(path, f"holds no {name} state, but a {name} was given")
        try:
            obj.load_state_dict(payload[name])
        except (KeyError, ValueError, RuntimeError, TypeError) as err:
            raise CheckpointError(path, f"its {name} state does not fit the given {name}: {err}") from err
    if restore_rng:
        set_rng_state(payload["rng"])
    try:
        metrics = json.loads(payload["metrics"])
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(path, f"has no readable metrics: {err}") from err
    return {"epoch": payload["epoch"], "metrics": metrics, "card": payload["card"]}
