"""The training loop: the DCN reference schedule, validation-based model selection, guards, resumable runs.

Defaults follow the reference scripts of the DCN paper: SGD with momentum 0.9, lr 0.1 * batch / 128, no weight
decay, lr x 0.1 at epochs 40 and 70 of 100, batch 128 with drop_last, evaluation batch 1000, random crop
(zero padding 4) + horizontal flip, inputs in [0, 1], cross-entropy. Deviations from the reference: the best
model is selected on a validation split carved from the training images (never the test set), and sigma is
kept inside the layers' sigma_range by projection after every step (the paper advises clipping filter sizes).

A run directory holds:
    state.pt          training state after the last completed epoch (or checkpointed step): resume from here
    best.pt           the model with the best validation accuracy so far, with its card (best.card.json)
    metrics.csv       one row per completed epoch (pandas.read_csv reads it)
Batch order and augmentation are drawn from generators keyed by (seed, epoch[, batch]) alone, so a run stopped at
any checkpoint and resumed ends bit-identical (on CPU) to an uninterrupted one.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import dataclasses
import io
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from neurodcn.data.augment import random_crop_flip
from neurodcn.data.cifar10 import CIFAR10, batches, epoch_generator, num_batches
from neurodcn.io.atomic import lock, write_text
from neurodcn.nn.dynamics import ODEFunc, SolverError
from neurodcn.nn.regularisation import regularisation_terms, regularised
from neurodcn.nn.srf import SRFConv2d
from neurodcn.progress import tqdm
from neurodcn.train import distributed as dist
from neurodcn.train.checkpoint import load_training_state, save_checkpoint, save_training_state
from neurodcn.validate import check_bool, check_choice, check_int, check_real, check_type, is_int

__all__ = ["TrainConfig", "TrainingDiverged", "train", "evaluate", "predict", "flushed_denormals", "srf_sigmas",
           "STATE_FILE", "BEST_FILE", "METRICS_FILE"]

STATE_FILE, BEST_FILE, METRICS_FILE = "state.pt", "best.pt", "metrics.csv"
LOCK_FILE = "run.lock"
"""Held in the run folder while a run trains there (neurodcn.io.atomic.lock): a second run into it fails at once."""
OPTIMIZERS = ("sgd", "adam")
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class TrainingDiverged(RuntimeError):
    """The loss or the gradients became NaN or infinite (or the ODE solver failed); the last good checkpoint
    is kept untouched."""


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The optimisation schedule of one run.

    epochs: passes over the training images. batch_size: global mini-batch (drop_last). lr: initial learning
    rate (None: 0.1 * batch_size / 128). momentum, weight_decay: SGD. milestones: epochs at which the lr is
    multiplied by gamma. eval_batch_size: batch of validation passes. augment: random crop with zero padding
    ``crop_padding`` (pixels) + horizontal flip. seed: batch order and augmentation. clip_sigma: project each SRF
    layer's log2 sigma into its sigma_range after every step. grad_clip: max global L2 norm of the gradients
    (None: no clipping). checkpoint_every: also save the training state every this many steps inside an epoch.
    optimizer: "sgd" (with momentum) or "adam" (lr defaults to 1e-3). kinetic, jacobian: weights of the
    vector-field regularisers (Finlay et al. 2020; see neurodcn.nn.regularisation), 0 = off. field_gain:
    multiplies the weight of each ODE vector field's last GroupNorm when a run starts (1 = the reference init;
    < 1 starts from slow dynamics that an adaptive solver integrates in few steps). precision: "fp32", or "bf16" /
    "fp16" for the forward pass under torch.autocast (parameters, optimizer and the ODE state stay float32; fp16
    scales the loss with a GradScaler). Validation always runs in float32.
    """

    epochs: int = 100
    batch_size: int = 128
    lr: float | None = None
    momentum: float = 0.9
    weight_decay: float = 0.0
    milestones: tuple[int, ...] = (40, 70)
    gamma: float = 0.1
    eval_batch_size: int = 1000
    augment: bool = True
    crop_padding: int = 4
    seed: int = 0
    clip_sigma: bool = True
    grad_clip: float | None = None
    checkpoint_every: int | None = None
    optimizer: str = "sgd"
    kinetic: float = 0.0
    jacobian: float = 0.0
    field_gain: float = 1.0
    precision: str = "fp32"

    def __post_init__(self):
        def put(name, check, *args, **kwargs):  # normalise one field; None leaves an optional one at its rule
            value = getattr(self, name)
            if value is not None or name not in ("lr", "grad_clip", "checkpoint_every"):
                object.__setattr__(self, name, check(f"TrainConfig.{name}", value, *args, **kwargs))

        for name, minimum in {"epochs": 1, "batch_size": 1, "eval_batch_size": 1, "crop_padding": 0, "seed": 0,
                              "checkpoint_every": 1}.items():
            put(name, check_int, minimum)
        for name in ("lr", "gamma", "field_gain", "grad_clip"):
            put(name, check_real, 0, lo_open=True)
        for name in ("momentum", "weight_decay", "kinetic", "jacobian"):
            put(name, check_real, 0)
        for name in ("augment", "clip_sigma"):
            put(name, check_bool)
        check_choice("TrainConfig.optimizer", self.optimizer, OPTIMIZERS)
        check_choice("TrainConfig.precision", self.precision, tuple(PRECISIONS))
        ms = tuple(self.milestones)
        if not all(is_int(m) and m >= 1 for m in ms) or any(b <= a for a, b in zip(ms, ms[1:], strict=False)):
            raise ValueError(f"TrainConfig.milestones must be strictly increasing positive epochs, got {ms!r}")
        object.__setattr__(self, "milestones", tuple(int(m) for m in ms))

    @property
    def base_lr(self) -> float:
        """The initial learning rate: ``lr``, else 0.1 * batch_size / 128 (SGD) or 1e-3 (Adam)."""
        if self.lr is not None:
            return self.lr
        return 0.1 * self.batch_size / 128 if self.optimizer == "sgd" else 1e-3

    @property
    def regularised(self) -> bool:
        return self.kinetic > 0 or self.jacobian > 0

    def autocast(self, device: torch.device):
        """The context in which a training forward pass runs: torch.autocast at ``precision``, or nothing (fp32)."""
        dtype = PRECISIONS[self.precision]
        return contextlib.nullcontext() if dtype is None else torch.autocast(device.type, dtype=dtype)

    def make_optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        """The optimizer over ``model``'s parameters. Weight decay spares the SRF scales (log2 sigma and its time
        terms): decaying them would pull every sigma towards 1 px instead of letting the data choose it."""
        check_type("model", model, nn.Module, "a torch.nn.Module")
        named = list(model.named_parameters())
        scales = [p for n, p in named if n.rsplit(".", 1)[-1].startswith("log2_sigma")]
        rest = [p for n, p in named if not n.rsplit(".", 1)[-1].startswith("log2_sigma")]
        groups = [{"params": rest}] + ([{"params": scales, "weight_decay": 0.0}] if scales else [])
        if self.optimizer == "adam":
            return torch.optim.Adam(groups, lr=self.base_lr, weight_decay=self.weight_decay)
        return torch.optim.SGD(groups, lr=self.base_lr, momentum=self.momentum, weight_decay=self.weight_decay)

    @classmethod
    def scaled(cls, epochs: int, **changes) -> TrainConfig:
        """The reference schedule shrunk to ``epochs``: milestones at 40 % and 70 % of the run (as 40, 70 of 100)."""
        check_int("epochs", epochs, 1)
        ms = sorted({m for m in (round(0.4 * epochs), round(0.7 * epochs)) if 1 <= m < epochs})
        return cls(epochs=epochs, **{"milestones": tuple(ms), **changes})

    def to_dict(self) -> dict:
        return dict(dataclasses.asdict(self), milestones=list(self.milestones), base_lr=self.base_lr)


def srf_sigmas(model: nn.Module) -> dict[str, float]:
    """sigma in pixels of every SRF layer, by module name (median over pairs for per-pair layers; at t = 0 for
    time-dependent layers)."""
    out = {}
    for name, m in dist.unwrap(model).named_modules():
        if isinstance(m, SRFConv2d):
            out[name] = m.sigma_summary()
    return out


def scale_field_output(model: nn.Module, gain: float) -> None:
    """Multiply the affine weight of the last GroupNorm (norm3) of every ODE vector field by ``gain``."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, ODEFunc):
                m.norm3.weight.mul_(gain)


def _project_sigma(model: nn.Module) -> None:
    """Clamp each SRF layer's log2 sigma parameter into log2(sigma_range) (in place, no gradient)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, SRFConv2d):
                lo, hi = m.sigma_range
                m.log2_sigma.clamp_(math.log2(lo), math.log2(hi))


def _ode_count(model: nn.Module) -> int:
    report = getattr(model, "nfe_report", None)
    return len(report()) if callable(report) else 0


def _nfe(model: nn.Module) -> list[dict]:
    report = getattr(model, "nfe_report", None)
    return report() if callable(report) else []


def _reset_nfe(model: nn.Module) -> None:
    if callable(getattr(model, "reset_nfe", None)):
        model.reset_nfe()


@torch.no_grad()
def evaluate(model: nn.Module, data: CIFAR10, batch_size: int = 1000, progress: bool = False) -> dict:
    """Mean cross-entropy and accuracy of a model on ``data`` (in eval mode, in order, no augmentation).

    NFE counters are reset before and after, so nothing leaks into training logs. In a process group each rank
    evaluates every world_size-th image and the sums are reduced.

    Args:
        model: the network.
        data: the images (a ``CIFAR10``).
        batch_size: images per forward pass.
        progress: show a progress bar.

    Returns:
        {"loss", "accuracy", "correct", "num_images", "forward_nfe"}: forward_nfe is the mean forward NFE per batch
        of each ODE block.

    Examples:
        >>> import torch, neurodcn as nd
        >>> from neurodcn.data import CIFAR10
        >>> from neurodcn.train import evaluate
        >>> data = CIFAR10(torch.rand(8, 3, 32, 32), torch.arange(8), tuple("abcdefghij"), "noise")
        >>> model = nd.build_model("dcn-ode", width=4, solver={"method": "rk4", "step_size": 1.0})
        >>> result = evaluate(model, data)
        >>> sorted(result), result["num_images"]
        (['accuracy', 'correct', 'forward_nfe', 'loss', 'num_images'], 8)
    """
    check_type("data", data, CIFAR10, "a CIFAR10 (see load_cifar10)")
    check_int("batch_size", batch_size, 1)
    check_bool("progress", progress)
    plain = dist.unwrap(model)
    was_training = plain.training
    plain.eval()
    device, dtype = next(plain.parameters()).device, next(plain.parameters()).dtype
    images, labels = data.images[dist.rank()::dist.world_size()], data.labels[dist.rank()::dist.world_size()]
    blocks = _ode_count(plain)
    sums = torch.zeros(3 + blocks, dtype=torch.float64)  # loss sum, correct, images, NFE per block
    _reset_nfe(plain)
    total = num_batches(len(labels), batch_size)
    for x, y in tqdm(batches(images, labels, batch_size=batch_size, shuffle=False), total=total,
                     disable=not (progress and dist.is_main()), desc="evaluate", leave=False):
        x, y = x.to(device=device, dtype=dtype), y.to(device)
        logits = plain(x)
        sums[0] += float(F.cross_entropy(logits, y, reduction="sum"))
        sums[1] += int((logits.argmax(1) == y).sum())
        sums[2] += len(y)
        for i, r in enumerate(_nfe(plain)):
            sums[3 + i] += r["forward_nfe"]
    _reset_nfe(plain)
    plain.train(was_training)
    batches_done = torch.tensor([float(total)], dtype=torch.float64)
    sums, batches_done = dist.all_reduce_sum(sums), dist.all_reduce_sum(batches_done)
    n = int(sums[2])
    return {"loss": float(sums[0]) / n, "accuracy": int(sums[1]) / n, "correct": int(sums[1]), "num_images": n,
            "forward_nfe": [float(v) / max(float(batches_done[0]), 1.0) for v in sums[3:]]}


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The top class of every image: ``images`` [N, C, H, W] in [0, 1] -> [N] int64, in eval mode, in order."""
    check_int("batch_size", batch_size, 1)
    plain = dist.unwrap(model)
    was_training = plain.training
    plain.eval()
    p = next(plain.parameters())
    out = torch.cat([plain(x.to(device=p.device, dtype=p.dtype)).argmax(1).cpu() for x in images.split(batch_size)])
    _reset_nfe(plain)
    plain.train(was_training)
    return out


def _run_card(model: nn.Module, config: TrainConfig, train_data: CIFAR10, val_data: CIFAR10) -> dict:
    config_json = json.loads(json.dumps(getattr(model, "config", None)))
    return {"model": config_json, "train": config.to_dict(), "world_size": dist.world_size(),
            "data": {"train": train_data.describe(), "validation": val_data.describe()}}


_RESCHEDULABLE = ("epochs", "milestones")


def _schedule_change(saved: dict, run: dict, epoch: int, state: Path) -> dict | None:
    """What resuming the run ``saved`` (trained up to ``epoch``, 0-based, in progress or next) as ``run`` changes of
    its schedule: None, or {"at_epoch", "epochs": [old, new], "milestones": [old, new]}.

    Only epochs and milestones still to come may change, so that the resumed run equals an uninterrupted run of the
    new schedule; ValueError for any other difference."""
    def fixed(card):
        return {**card, "train": {k: v for k, v in card["train"].items() if k not in _RESCHEDULABLE}}

    kept, asked = fixed(saved), fixed(run)
    if kept != asked:
        changed = sorted(k for k in asked if kept.get(k) != asked[k])
        raise ValueError(f"cannot resume {state}: its run differs in {changed} from the one asked for")
    old, new = saved["train"], run["train"]
    if all(old[k] == new[k] for k in _RESCHEDULABLE):
        return None
    past_old, past_new = [m for m in old["milestones"] if m <= epoch], [m for m in new["milestones"] if m <= epoch]
    if past_old != past_new or new["epochs"] <= epoch:
        raise ValueError(f"cannot resume {state} with epochs={new['epochs']}, milestones={new['milestones']}: it has "
                         f"reached epoch {epoch} of {old['epochs']} under milestones {old['milestones']}; only epochs "
                         f"and milestones after epoch {epoch} may change")
    return {"at_epoch": epoch, "epochs": [old["epochs"], new["epochs"]],
            "milestones": [old["milestones"], new["milestones"]]}


def _write_csv(path: Path, history: list[dict]) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(path, buf.getvalue())


def _fresh_partial(blocks: int) -> dict:
    return {"loss_sum": 0.0, "correct": 0, "count": 0, "steps": 0, "forward_nfe": [0] * blocks,
            "backward_nfe": [0] * blocks, "seconds": 0.0, "kinetic": 0.0, "jacobian": 0.0}


def step_loss(net, plain, x, y, config: TrainConfig, generator: torch.Generator):
    """(logits, cross-entropy, objective, regulariser values) of one batch; the objective adds the weighted
    kinetic and Jacobian integrals (summed over ODE blocks, averaged over the batch) when they are on."""
    scope = (regularised(plain, kinetic=config.kinetic > 0, jacobian=config.jacobian > 0, generator=generator)
             if config.regularised else contextlib.nullcontext())
    with scope, config.autocast(x.device):
        logits = net(x)
        terms = regularisation_terms(plain) if config.regularised else {}
    loss = F.cross_entropy(logits.to(torch.promote_types(logits.dtype, torch.float32)), y)  # bf16/fp16 -> fp32
    objective = loss + sum(getattr(config, name) * value for name, value in terms.items())
    return logits, loss, objective, {name: float(value.detach()) for name, value in terms.items()}


def _scaler_state(scaler: torch.amp.GradScaler) -> dict | None:
    """The GradScaler's state as JSON numbers (None when fp16 is off), saved with the training state."""
    if not scaler.is_enabled():
        return None
    return {k: float(v) if isinstance(v, float) else int(v) for k, v in scaler.state_dict().items()}


def _diverged(epoch, step, what, out: Path, last_epoch: int) -> TrainingDiverged:
    kept = (f"the last good training state ({last_epoch} epochs done) is kept at {out / STATE_FILE}"
            if (out / STATE_FILE).exists() else "no checkpoint had been written yet")
    return TrainingDiverged(f"training stopped at epoch {epoch + 1}, step {step + 1}: {what}; {kept}. Try a lower "
                            f"learning rate, grad_clip, or a narrower sigma_range.")


@contextlib.contextmanager
def flushed_denormals(enabled: bool = True):
    """Inside the block the CPU flushes denormal floats to zero (torch.set_flush_denormal; x86 FTZ/DAZ); after it,
    denormals are kept again, PyTorch's default. Weight decay drives weights and gradients towards the denormal
    range (|x| < 1.2e-38 in float32), where CPU arithmetic is many times slower: one CC-Net training step took
    2.2 s on weights from epoch 33 against 0.87 s with flushing. Nothing changes above that range."""
    check_bool("enabled", enabled)
    if enabled:
        torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if enabled:
            torch.set_flush_denormal(False)


def _run_lock(out: Path):
    """The run folder's lock, taken by the process that writes (rank 0)."""
    if not dist.is_main():
        return contextlib.nullcontext()
    out.mkdir(parents=True, exist_ok=True)
    return lock(out / LOCK_FILE, f"run folder {str(out)!r}")


def train(model: nn.Module, train_data: CIFAR10, val_data: CIFAR10, out_dir, config: TrainConfig | None = None, *,
          resume: bool = False, progress: bool = True, card: dict | None = None,
          on_step: Callable[[int, int], None] | None = None, flush_denormal: bool = True) -> dict:
    """Train a model on ``train_data``, selecting on ``val_data``, and write the run to ``out_dir``.

    The model is trained on its device, in its dtype. Each epoch appends its metrics to ``metrics.csv`` and writes
    the training state (``state.pt``, resumable bit-identically) and, when the validation accuracy is the best so
    far, ``best.pt`` with its model card. Inside a torch.distributed process group the model is wrapped in
    DistributedDataParallel and each rank takes its share of every global batch; only rank 0 writes files,
    holding the lock file ``run.lock`` in ``out_dir`` while it trains (a second run into the same folder raises
    LockedError at once).

    Args:
        model: the network (e.g. from ``neurodcn.build_model``).
        train_data: the training images (a ``CIFAR10``).
        val_data: the validation images the best epoch is selected on (never the test set).
        out_dir: the run's folder.
        config: the schedule (``TrainConfig``; default: the DCN reference schedule).
        resume: continue from ``out_dir/state.pt`` (the run's settings must match, except that ``epochs`` and
            ``milestones`` still to come may change: the run then equals an uninterrupted run of the new schedule,
            and best.pt's card lists the change under "schedule_changes"); without it an existing state is an
            error.
        progress: show progress bars.
        card: extra JSON-able entries for best.pt's model card (e.g. the data set's name).
        on_step: ``on_step(epoch, step)`` is called after every optimizer step (0-based), e.g. to stop a run early.
        flush_denormal: run the epochs with denormal floats flushed to zero (``flushed_denormals``); a run-time
            choice, not part of the run's settings.

    Returns:
        {"history": list of per-epoch rows, "best": best row or None, "out_dir", "state", "best_path",
        "metrics"}.

    Raises:
        TrainingDiverged: a non-finite loss or gradient (nothing is saved for that epoch).

    Examples:
        One epoch of a tiny model on 16 noise images:

        >>> import tempfile, torch, neurodcn as nd
        >>> from neurodcn.data import CIFAR10
        >>> from neurodcn.train import TrainConfig, train
        >>> images = torch.rand(16, 3, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> data = CIFAR10(images, torch.arange(16) % 10, tuple("abcdefghij"), "noise")
        >>> model = nd.build_model("dcn-ode", width=4, seed=0, solver={"method": "rk4", "step_size": 1.0})
        >>> run = train(model, data, data, tempfile.mkdtemp(), TrainConfig(epochs=1, batch_size=8), progress=False)
        >>> len(run["history"]), run["best_path"].name
        (1, 'best.pt')
    """
    config = TrainConfig() if config is None else config
    check_type("model", model, nn.Module, "a torch.nn.Module")
    check_type("config", config, TrainConfig, "a TrainConfig")
    for name, d in (("train_data", train_data), ("val_data", val_data)):
        check_type(name, d, CIFAR10, "a CIFAR10 (see load_cifar10)")
    for name, flag in (("resume", resume), ("progress", progress), ("flush_denormal", flush_denormal)):
        check_bool(name, flag)
    if card is not None:
        check_type("card", card, dict, "a dict or None")
    n_batches = num_batches(len(train_data), config.batch_size, drop_last=True)
    if n_batches == 0:
        raise ValueError(f"batch_size={config.batch_size} exceeds the {len(train_data)} training images "
                         "(batches are drop_last)")
    if config.batch_size % dist.world_size():
        raise ValueError(f"batch_size={config.batch_size} must be divisible by the {dist.world_size()} processes")
    out = Path(out_dir)
    paths = {"state": out / STATE_FILE, "best_path": out / BEST_FILE, "metrics": out / METRICS_FILE}
    plain = dist.unwrap(model)
    device, dtype = next(plain.parameters()).device, next(plain.parameters()).dtype
    optimizer = config.make_optimizer(plain)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(config.milestones), config.gamma)
    run = _run_card(plain, config, train_data, val_data)
    blocks = _ode_count(plain)
    scaler = torch.amp.GradScaler(device.type, enabled=config.precision == "fp16")
    start_epoch, prog = 0, {"history": [], "step": 0, "partial": None, "best": None}
    if paths["state"].exists():
        if not resume:
            raise FileExistsError(f"{paths['state']} exists: pass resume=True (--resume) to continue that run, or "
                                  "choose a new output directory")
        info = load_training_state(paths["state"], model=plain, optimizer=optimizer, scheduler=scheduler)
        # fields added to TrainConfig after a run started take their defaults, which that run used
        info["card"]["train"] = {**{f.name: f.default for f in dataclasses.fields(TrainConfig)},
                                 **info["card"]["train"]}
        start_epoch, prog = info["epoch"], info["metrics"]
        change = _schedule_change(info["card"], run, start_epoch, paths["state"])
        if change:
            scheduler.milestones = collections.Counter(config.milestones)
            prog = {**prog, "schedule_changes": prog.get("schedule_changes", []) + [change]}
        if prog.get("grad_scaler"):
            scaler.load_state_dict(prog["grad_scaler"])
    elif config.field_gain != 1.0:
        scale_field_output(plain, config.field_gain)
    rescheduled = {"schedule_changes": prog["schedule_changes"]} if prog.get("schedule_changes") else {}
    net = dist.wrap(plain)
    params = [p for p in plain.parameters() if p.requires_grad]
    best = prog["best"]
    with _run_lock(out), flushed_denormals(flush_denormal):
        for epoch in range(start_epoch, config.epochs):
            start, acc = prog["step"], prog["partial"] or _fresh_partial(blocks)
            tick = time.perf_counter()
            net.train()
            lr = optimizer.param_groups[0]["lr"]
            bar = tqdm(total=n_batches, initial=start, disable=not (progress and dist.is_main()),
                       desc=f"epoch {epoch + 1}/{config.epochs}", leave=False)
            order = batches(train_data.images, train_data.labels, batch_size=config.batch_size, seed=config.seed,
                            epoch=epoch, drop_last=True, start_batch=start)
            for step, (x, y) in enumerate(order, start=start):
                if config.augment:
                    x = random_crop_flip(x, config.crop_padding, generator=epoch_generator(config.seed, epoch,
                                                                                           f"augment-{step}"))
                x, y = dist.shard(x, y)
                x, y = x.to(device=device, dtype=dtype), y.to(device)
                optimizer.zero_grad(set_to_none=True)
                try:
                    logits, loss, objective, reg = step_loss(net, plain, x, y, config,
                                                              epoch_generator(config.seed, epoch, f"jacobian-{step}"))
                    scaler.scale(objective).backward()
                except SolverError as err:
                    raise _diverged(epoch, step, f"the ODE solver failed ({err})", out, epoch) from err
                scaler.unscale_(optimizer)
                gnorm = nn.utils.clip_grad_norm_(params, config.grad_clip if config.grad_clip else math.inf)
                stats = dist.all_reduce_sum(torch.stack([loss.detach().double() * len(y),
                                                         (logits.argmax(1) == y).sum().double(),
                                                         torch.tensor(float(len(y)), dtype=torch.float64,
                                                                      device=device)]))
                # fp16: the scaler skips a step with overflowing gradients and lowers its scale; that is no divergence
                if not math.isfinite(float(stats[0])) or not (math.isfinite(float(gnorm)) or scaler.is_enabled()):
                    raise _diverged(epoch, step, f"non-finite loss or gradient (loss sum {float(stats[0])}, gradient "
                                    f"norm {float(gnorm)})", out, epoch)
                scaler.step(optimizer)
                scaler.update()
                if config.clip_sigma:
                    _project_sigma(plain)
                for i, r in enumerate(_nfe(plain)):
                    acc["forward_nfe"][i] += r["forward_nfe"]
                    acc["backward_nfe"][i] += r["backward_nfe"]
                for name, value in reg.items():
                    acc[name] = acc.get(name, 0.0) + value
                acc["loss_sum"] += float(stats[0])
                acc["correct"] += int(stats[1])
                acc["count"] += int(stats[2])
                acc["steps"] += 1
                bar.update(1)
                bar.set_postfix(loss=f"{acc['loss_sum'] / acc['count']:.3f}",
                                acc=f"{acc['correct'] / acc['count']:.3f}")
                if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0 and step + 1 < n_batches:
                    acc["seconds"] += time.perf_counter() - tick
                    tick = time.perf_counter()
                    prog = {**prog, "step": step + 1, "partial": acc, "grad_scaler": _scaler_state(scaler)}
                    if dist.is_main():
                        save_training_state(paths["state"], model=plain, epoch=epoch, optimizer=optimizer,
                                            scheduler=scheduler, metrics=prog, card=run)
                    dist.barrier()
                if on_step is not None:
                    on_step(epoch, step)
            bar.close()
            _reset_nfe(plain)
            val = evaluate(plain, val_data, config.eval_batch_size)
            acc["seconds"] += time.perf_counter() - tick
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": acc["loss_sum"] / acc["count"],
                   "train_accuracy": acc["correct"] / acc["count"], "val_loss": val["loss"],
                   "val_accuracy": val["accuracy"]}
            for i in range(blocks):
                row[f"train_forward_nfe_block{i}"] = acc["forward_nfe"][i] / acc["steps"]
                row[f"train_backward_nfe_block{i}"] = acc["backward_nfe"][i] / acc["steps"]
                row[f"val_forward_nfe_block{i}"] = val["forward_nfe"][i]
            for name in ("kinetic", "jacobian"):
                if getattr(config, name) > 0:
                    row[f"train_{name}"] = acc.get(name, 0.0) / acc["steps"]
            row.update({f"sigma:{k}": v for k, v in srf_sigmas(plain).items()})
            row["seconds"] = acc["seconds"]
            history = prog["history"] + [row]
            scheduler.step()
            if best is None or row["val_accuracy"] > best["val_accuracy"]:
                best = row
                if dist.is_main():
                    best_card = {**(card or {}), "solver": run["model"].get("solver") if run["model"] else None,
                                 "data": run["data"], "schedule": run["train"], "world_size": run["world_size"],
                                 "selection": "best validation accuracy (validation split of the training images)",
                                 "epochs_trained": epoch + 1, "epochs_planned": config.epochs,
                                 "best_epoch": epoch + 1, "metrics": row, **rescheduled}
                    save_checkpoint(plain, paths["best_path"], best_card)
            prog = {"history": history, "step": 0, "partial": None, "best": best, "grad_scaler": _scaler_state(scaler),
                    **rescheduled}
            if dist.is_main():
                _write_csv(paths["metrics"], history)
                save_training_state(paths["state"], model=plain, epoch=epoch + 1, optimizer=optimizer,
                                    scheduler=scheduler, metrics=prog, card=run)
                if progress:
                    tqdm.write(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc "
                               f"{row['train_accuracy']:.4f} | val loss {row['val_loss']:.4f} acc "
                               f"{row['val_accuracy']:.4f} | {row['seconds']:.0f} s")
            dist.barrier()
    return {"history": prog["history"], "best": best, "out_dir": out, **paths}
