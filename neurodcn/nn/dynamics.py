"""Neural-ODE dynamics: the Eq. 2 vector field, the solver configuration, and the ODE block with NFE accounting.

Vector field (DCN paper Eq. 2), with g(x) = act(GN(x)):
    "concat" (the reference code): f(t, h) = GN3(K2 * [t; g2(K1 * [t; g1(h)])]), t a constant input channel;
    "offset" (the paper's notation): f(t, h) = GN3(K2 * g2(K1 * g1(h) + d1 t) + d2 t), d_m one offset per channel.

Kernel caching: a t-independent SRF kernel is built once per solve. The forward solve runs inside the layers'
``cached_kernel()`` scope. With the adjoint, the backward solve is a second solve that autograd runs later: it
gets its own scope, opened by a pre-hook and closed by a post-hook on the adjoint's autograd node, so a kernel
built without gradient in the forward never reaches the backward, and the backward kernel carries its gradient.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

from neurodcn.nn.blocks import CONV_KINDS, activation, apply_conv, group_norm, make_conv
from neurodcn.nn.per_image_solve import solve_per_image
from neurodcn.nn.srf import SRFConv2d
from neurodcn.validate import check_bool, check_choice, check_increasing, check_int, check_real, check_type

if TYPE_CHECKING:
    from neurodcn.nn.regularisation import Regulariser

__all__ = ["SolverFacts", "SOLVERS", "ADAPTIVE_METHODS", "FIXED_GRID_METHODS", "TIME_MODES", "SolverError",
           "OutOfTime", "solver_errors", "SolverConfig", "NFEStats", "SolveLimits", "ImageSolves", "ODEFunc",
           "ODEBlock"]


@dataclasses.dataclass(frozen=True)
class SolverFacts:
    """What a solver method is: adaptive or fixed-grid, its order, how a state between two of its own states is
    returned (interpolant), and how an image gets its own steps inside a batch (per_image: "torchode" solves
    the batch in one call with per-image steps; "image by image" solves each image alone with torchdiffeq;
    "fixed grid" needs nothing, every image takes the same grid)."""

    adaptive: bool
    order: int
    interpolant: str
    per_image: str


_DENSE = "dense output"  # a 4th-order polynomial through both step ends, the step's midpoint and both slopes
SOLVERS = {
    "dopri5": SolverFacts(True, 5, _DENSE, "torchode"),
    "dopri8": SolverFacts(True, 8, _DENSE, "image by image"),
    "bosh3": SolverFacts(True, 3, _DENSE, "image by image"),
    "fehlberg2": SolverFacts(True, 2, _DENSE, "image by image"),
    "adaptive_heun": SolverFacts(True, 2, _DENSE, "image by image"),
    "euler": SolverFacts(False, 1, "linear", "fixed grid"),
    "midpoint": SolverFacts(False, 2, "linear", "fixed grid"),
    "heun2": SolverFacts(False, 2, "linear", "fixed grid"),
    "heun3": SolverFacts(False, 3, "linear", "fixed grid"),
    "rk4": SolverFacts(False, 4, "linear", "fixed grid"),
    "explicit_adams": SolverFacts(False, 4, "linear", "fixed grid"),
    "implicit_adams": SolverFacts(False, 4, "linear", "fixed grid"),
}
"""The one table of solver facts (torchdiffeq's methods; dopri5's per-image engine is torchode's Dopri5)."""
ADAPTIVE_METHODS = tuple(m for m, f in SOLVERS.items() if f.adaptive)
FIXED_GRID_METHODS = tuple(m for m, f in SOLVERS.items() if not f.adaptive)
TIME_MODES = ("concat", "offset")
_FAILURES = {"max_num_steps exceeded": "max_num_steps", "underflow in dt": "dt_underflow",
             "non-finite values in state": "non_finite"}


class SolverError(RuntimeError):
    """The ODE solver gave up: too many steps, step-size underflow, or a non-finite state."""

    @property
    def reason(self) -> str:
        """The failure name: "max_num_steps", "dt_underflow", "non_finite" or "time_budget"."""
        return next((name for msg, name in _FAILURES.items() if msg in str(self)), "non_finite")


class OutOfTime(SolverError):
    """A solve passed its wall-clock deadline (SolveLimits.deadline)."""

    reason = "time_budget"


@contextlib.contextmanager
def solver_errors():
    """Turn torchdiffeq's failure assertions into SolverError (use around ``loss.backward()`` with the adjoint,
    whose backward solve runs inside autograd; ODEBlock's own solves are already wrapped)."""
    try:
        yield
    except AssertionError as err:
        if any(msg in str(err) for msg in _FAILURES):
            raise SolverError(f"ODE solver failed: {err}") from err
        raise


@dataclasses.dataclass(frozen=True)
class SolverConfig:
    """How an ODE block is solved over model time [0, T] (frozen; ``to_dict`` gives its JSON form).

    Args:
        method: a torchdiffeq adaptive method (``ADAPTIVE_METHODS``, e.g. "dopri5") or fixed-grid method
            (``FIXED_GRID_METHODS``, e.g. "rk4", "euler").
        rtol: relative error tolerance of adaptive methods.
        atol: absolute error tolerance of adaptive methods.
        T: integration end time (model time units).
        adjoint: backpropagate by solving the adjoint ODE (memory O(1) in steps) instead of through the solver.
        seminorm: measure the adjoint error on the state only (Kidger et al. 2021; needs adjoint).
        max_num_steps: cap on adaptive steps per output interval (None: torchdiffeq's default).
        step_size: step of fixed-grid methods (required for them, not allowed for adaptive ones).

    Examples:
        >>> import neurodcn as nd
        >>> solver = nd.SolverConfig(method="rk4", step_size=0.25)
        >>> solver.T, solver.to_dict()["method"]
        (2.0, 'rk4')
        >>> nd.SolverConfig(method="rk4")
        Traceback (most recent call last):
        ...
        ValueError: SolverConfig.step_size is required for the fixed-grid method 'rk4'
    """

    method: str = "dopri5"
    rtol: float = 1e-3
    atol: float = 1e-3
    T: float = 2.0
    adjoint: bool = True
    seminorm: bool = False
    max_num_steps: int | None = None
    step_size: float | None = None

    def __post_init__(self):
        check_choice("SolverConfig.method", self.method, ADAPTIVE_METHODS + FIXED_GRID_METHODS)
        positive = {"lo": 0, "lo_open": True}
        for name in ("rtol", "atol", "T"):
            object.__setattr__(self, name, check_real(f"SolverConfig.{name}", getattr(self, name), **positive))
        for name in ("adjoint", "seminorm"):
            object.__setattr__(self, name, check_bool(f"SolverConfig.{name}", getattr(self, name)))
        if self.seminorm and not self.adjoint:
            raise ValueError("SolverConfig.seminorm=True needs adjoint=True (it only changes the adjoint solve)")
        if self.max_num_steps is not None:
            object.__setattr__(self, "max_num_steps", check_int("SolverConfig.max_num_steps", self.max_num_steps, 1))
        if self.method in FIXED_GRID_METHODS:
            if self.step_size is None:
                raise ValueError(f"SolverConfig.step_size is required for the fixed-grid method {self.method!r}")
            object.__setattr__(self, "step_size", check_real("SolverConfig.step_size", self.step_size, **positive))
        elif self.step_size is not None:
            raise ValueError(f"SolverConfig.step_size={self.step_size!r} is only for fixed-grid methods "
                             f"{list(FIXED_GRID_METHODS)}, not {self.method!r}")

    @property
    def facts(self) -> SolverFacts:
        """The method's entry in SOLVERS."""
        return SOLVERS[self.method]

    @property
    def adaptive(self) -> bool:
        return self.facts.adaptive

    @property
    def interpolant(self) -> str:
        """How h is returned at a time between two of the solver's own states (SOLVERS)."""
        return self.facts.interpolant

    def to_dict(self) -> dict:
        """A JSON-serialisable dict; SolverConfig.from_dict(d) rebuilds the same config."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SolverConfig:
        check_type("solver config", d, dict, "a dict")
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown SolverConfig fields {sorted(unknown)}; known: "
                             f"{[f.name for f in dataclasses.fields(cls)]}")
        return cls(**d)

    @classmethod
    def coerce(cls, value) -> SolverConfig:
        """A SolverConfig from a SolverConfig, a dict of fields, or None (the defaults)."""
        if value is None:
            return cls()
        check_type("solver", value, (cls, dict), "a SolverConfig, a dict or None")
        return value if isinstance(value, cls) else cls.from_dict(value)

    def replace(self, **changes) -> SolverConfig:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    def options(self) -> dict:
        """torchdiffeq's ``options``: the step of fixed-grid methods, or max_num_steps of adaptive ones."""
        if not self.adaptive:
            return {"step_size": self.step_size}
        return {} if self.max_num_steps is None else {"max_num_steps": self.max_num_steps}


@dataclasses.dataclass
class NFEStats:
    """Function evaluations and solver steps of one block in one pass (forward solve and, with the adjoint, the
    backward solve). Fixed-grid steps count as accepted. For dopri5: nfe = 2 + 6 (accepted + rejected)."""

    forward_nfe: int = 0
    backward_nfe: int = 0
    accepted_steps: int = 0
    rejected_steps: int = 0
    backward_accepted_steps: int = 0
    backward_rejected_steps: int = 0

    @property
    def total_nfe(self) -> int:
        return self.forward_nfe + self.backward_nfe

    def as_dict(self) -> dict:
        return dict(dataclasses.asdict(self), total_nfe=self.total_nfe)


@dataclasses.dataclass(frozen=True)
class SolveLimits:
    """Bounds on an ODE block's solves without gradient, set by the code that sweeps a model (not part of its
    config). Under limits every image gets its own steps (SOLVERS[method].per_image) and its own status.

    max_num_steps: cap on an image's step attempts (the lower of this and SolverConfig.max_num_steps; torchode
        counts attempts per solve, torchdiffeq per output interval). deadline: time.monotonic() value (s) after
        which solves stop ("time_budget"), or None.
    """

    max_num_steps: int | None = None
    deadline: float | None = None


@dataclasses.dataclass(frozen=True)
class ImageSolves:
    """Per image of a block's last forward solve: nfe, accepted, rejected [B] int64 numpy arrays (forward
    function evaluations and steps), step_times (B float64 arrays: model times of the image's own solver
    states) and status (B names: "ok", "max_num_steps", "dt_underflow", "non_finite", "time_budget")."""

    nfe: np.ndarray
    accepted: np.ndarray
    rejected: np.ndarray
    step_times: tuple[np.ndarray, ...]
    status: tuple[str, ...]

    @classmethod
    def shared(cls, batch: int, stats: NFEStats, step_times: np.ndarray, status: str = "ok") -> ImageSolves:
        """Every image credited with one solve of the whole batch."""
        def full(v):
            return np.full(batch, v, np.int64)
        return cls(full(stats.forward_nfe), full(stats.accepted_steps), full(stats.rejected_steps),
                   (step_times,) * batch, (status,) * batch)

    @classmethod
    def concat(cls, parts: list[ImageSolves]) -> ImageSolves:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("nfe", "accepted", "rejected")),
                   sum((p.step_times for p in parts), ()), sum((p.status for p in parts), ()))


class ODEFunc(nn.Module):
    """The Eq. 2 vector field f(t, h): [B, C, H, W] -> [B, C, H, W].

    Args:
        channels: C. conv: "srf" (DCN), "srf_pair" (DCN sigma_ji), "conv" (3 x 3 with bias: ODE-Net).
        order: N-jet order of SRF layers. time_param: SRF meta-parametrisation in t (None, "sigma_t", ...).
        time_mode: "concat" (t as an extra input channel) or "offset" (per-channel d_m t after K_m).
        act: "celu" (DCN) or "relu" (ODE-Net). gn_groups: "min32" or "channels".
        sigma_range: (min, max) sigma of SRF layers in pixels. pair_size: grid size of "srf_pair".
    """

    def __init__(self, channels: int, conv: str = "srf", *, order: int = 2, time_param: str | None = None,
                 time_mode: str = "concat", act: str = "celu", gn_groups: str = "min32",
                 sigma_range=(0.05, 8.0), pair_size: int = 7):
        super().__init__()
        check_choice("conv", conv, CONV_KINDS)
        check_choice("time_mode", time_mode, TIME_MODES)
        self.channels, self.time_mode = channels, time_mode
        cin = channels + 1 if time_mode == "concat" else channels
        opts = dict(kernel_size=3, padding=1, bias=True, order=order, time_param=time_param,
                    sigma_range=sigma_range, pair_size=pair_size)
        self.norm1, self.norm2, self.norm3 = (group_norm(channels, gn_groups) for _ in range(3))
        self.act = activation(act)
        self.conv1 = make_conv(conv, cin, channels, **opts)
        self.conv2 = make_conv(conv, cin, channels, **opts)
        if time_mode == "offset":
            self.offset1 = nn.Parameter(0.1 * torch.randn(channels))
            self.offset2 = nn.Parameter(0.1 * torch.randn(channels))

    def _layer(self, m: int, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        conv = self.conv1 if m == 1 else self.conv2
        if self.time_mode == "concat":
            return apply_conv(conv, torch.cat([torch.ones_like(x[:, :1]) * t, x], dim=1), t)
        offset = self.offset1 if m == 1 else self.offset2
        return apply_conv(conv, x, t) + offset.view(1, -1, 1, 1) * t

    def forward(self, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        x = self._layer(1, self.act(self.norm1(h)), t)
        return self.norm3(self._layer(2, self.act(self.norm2(x)), t))

    def srf_layers(self) -> list[SRFConv2d]:
        return [m for m in (self.conv1, self.conv2) if isinstance(m, SRFConv2d)]

    @property
    def per_sample_time(self) -> bool:
        """Whether forward takes t as [B, 1, 1, 1], each image at its own time (not when SRF filters change
        with t: one filter bank per call)."""
        return not any(m.time_param for m in self.srf_layers())


class _CountedField:
    """The callable handed to torchdiffeq for one pass: counts evaluations and steps into one NFEStats, and owns
    the kernel-cache scope of this pass's adjoint backward solve."""

    def __init__(self, func, stats: NFEStats, adaptive: bool, cached_layers: list[SRFConv2d],
                 deadline: float | None = None):
        self.func, self.stats, self.cached_layers, self.backward = func, stats, cached_layers, False
        self.deadline = deadline
        self._scope: contextlib.ExitStack | None = None
        self.step_ends: list[torch.Tensor] = []  # end time of every accepted forward step (tensors: no host sync)
        if adaptive:
            self.callback_accept_step = self._count("accepted_steps", record=True)
            self.callback_reject_step = self._count("rejected_steps")
            self.callback_accept_step_adjoint = self._count("backward_accepted_steps")
            self.callback_reject_step_adjoint = self._count("backward_rejected_steps")
        else:
            self.callback_step = self._count("accepted_steps", record=True)
            self.callback_step_adjoint = self._count("backward_accepted_steps")

    def _count(self, field, record=False):
        def callback(t0, y0, dt):
            setattr(self.stats, field, getattr(self.stats, field) + 1)
            if record:
                self.step_ends.append((t0 + dt).detach())
        return callback

    def __call__(self, t, y):
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise OutOfTime("ODE solver stopped: out of its wall-clock time budget")
        if self.backward:
            self.stats.backward_nfe += 1
        else:
            self.stats.forward_nfe += 1
        return self.func(t, y)

    def kernel_scope(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        for layer in self.cached_layers:
            stack.enter_context(layer.cached_kernel())
        return stack

    def open_backward(self, *_):
        self.backward = True
        self.close_backward()
        self._scope = self.kernel_scope()

    def close_backward(self, *_):
        if self._scope is not None:
            self._scope.close()
            self._scope = None


def _adjoint_node(out: torch.Tensor):
    """The autograd node of torchdiffeq's adjoint solve behind ``out`` (a tuple state adds split/view nodes)."""
    node = out.grad_fn
    while node is not None and "OdeintAdjoint" not in type(node).__name__:
        node = node.next_functions[0][0] if node.next_functions else None
    return node


class ODEBlock(nn.Module):
    """Solves dh/dt = func(t, h) from h(0) = h0 and returns h(T).

    Args:
        func: the vector field (an ODEFunc, or any nn.Module called as func(t, h)).
        solver: SolverConfig, dict of its fields, or None (defaults: dopri5, rtol = atol = 1e-3, T = 2, adjoint).
        cache_kernels: build each t-independent SRF kernel once per solve instead of at every evaluation.

    ``nfe`` holds the NFEStats of the last pass (reset when a pass starts; the adjoint backward solve of that
    pass adds to it); ``reset_nfe()`` clears it; ``image_solves`` holds per-image NFE, solver states and
    status (ImageSolves). With ``limits`` set (a SolveLimits; the virtual cortex sets it while it sweeps a
    model), solves without gradient give every image its own adaptive steps (SOLVERS[method].per_image), so an
    image's h(t) does not depend on the other images of its batch, and a failure (too many steps, step-size
    underflow, a non-finite state, the deadline) is a per-image status with NaN states instead of an error;
    ``nfe`` then counts the batched field calls. An ODEBlock meets the virtual cortex's continuous-block
    protocol (T, trajectory, step_times or image_solves, interpolant; neurodcn.cortex.readout).

    Examples:
        dh/dt = -h from h(0) = 1 gives h(T) = exp(-T):

        >>> import math, torch, neurodcn as nd
        >>> class Decay(torch.nn.Module):
        ...     def forward(self, t, h):
        ...         return -h
        >>> block = nd.ODEBlock(Decay(), solver=nd.SolverConfig(T=1.0, adjoint=False))
        >>> h = block(torch.ones(1, 1, 2, 2))
        >>> round(h[0, 0, 0, 0].item(), 3), round(math.exp(-1), 3)
        (0.368, 0.368)
        >>> block.nfe.forward_nfe > 0
        True
    """

    def __init__(self, func: nn.Module, solver=None, cache_kernels: bool = True):
        super().__init__()
        self.func = check_type("func", func, nn.Module, "an nn.Module called as func(t, h)")
        self.solver = SolverConfig.coerce(solver)
        self.cache_kernels = check_bool("cache_kernels", cache_kernels)
        self.nfe = NFEStats()
        self._field: _CountedField | None = None
        self.regulariser: Regulariser | None = None  # set by neurodcn.nn.regularisation.regularised()
        self.regularisation: dict[str, torch.Tensor] = {}  # per-sample integrals [B] of the last regularised solve
        self.step_times: torch.Tensor | None = None  # the solver's own states of the last forward solve (model time)
        self.limits: SolveLimits | None = None  # bounds and per-image steps of solves without gradient
        self._image_solves: ImageSolves | None = None
        self._batch = 0

    @property
    def T(self) -> float:
        """The end time of forward (solver.T, model time units): h(T) is what the block hands on."""
        return self.solver.T

    @property
    def interpolant(self) -> str:
        """How trajectory returns states between the solver's own (SolverConfig.interpolant)."""
        return self.solver.interpolant

    def reset_nfe(self) -> None:
        """Start a fresh NFEStats and forget the last solve's states and per-image stats (a pending adjoint
        backward of an earlier pass keeps counting into the old NFEStats)."""
        self.nfe = NFEStats()
        self.step_times, self._image_solves = None, None

    def forward(self, h0: torch.Tensor, T: float | None = None) -> torch.Tensor:
        """h(T) [B, C, H, W] from h0 [B, C, H, W]; T defaults to solver.T (model time units)."""
        T = self.solver.T if T is None else check_real("T", T, lo=0, lo_open=True)
        return self._solve(h0, torch.tensor([0.0, T], dtype=h0.dtype, device=h0.device))[-1]

    def trajectory(self, h0: torch.Tensor, times) -> torch.Tensor:
        """h at the given times [len(times), B, C, H, W], from odeint's output grid (times: strictly increasing,
        >= 0, model time units; 0 is the initial condition and is added to the grid when missing)."""
        times = torch.as_tensor(times, dtype=h0.dtype, device=h0.device).flatten()
        check_increasing("times", times, 0)  # in h0's dtype, as the solver sees them
        if times[0] > 0:
            return self._solve(h0, torch.cat([times.new_zeros(1), times]))[1:]
        if times.numel() == 1:
            return h0.unsqueeze(0)
        return self._solve(h0, times)

    def _solve(self, h0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(h0) or not h0.is_floating_point():
            raise TypeError(f"h0 must be a floating-point tensor, got {type(h0).__name__}")
        if self._field is not None:  # a previous pass whose adjoint backward never finished
            self._field.close_backward()
        self.reset_nfe()
        self._batch = len(h0)
        if self.limits is not None and not torch.is_grad_enabled():
            return self._solve_limited(h0, t)
        out, self.step_times = self._odeint(h0, t, self.solver, self.nfe)
        return out

    def _cached_layers(self) -> list[SRFConv2d]:
        return self.func.srf_layers() if self.cache_kernels and isinstance(self.func, ODEFunc) else []

    def _odeint(self, h0: torch.Tensor, t: torch.Tensor, cfg: SolverConfig, stats: NFEStats,
                deadline: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """torchdiffeq's solve of the batch: (states [len(t), *h0.shape], model times of the solver's states)."""
        reg = self.regulariser if torch.is_grad_enabled() else None
        func, y0, options = self.func, h0, cfg.options()
        if reg is not None:
            func, y0, options = reg.field(self.func, h0), reg.initial_state(h0), dict(options, norm=reg.norm)
        field = _CountedField(func, stats, cfg.adaptive, self._cached_layers(), deadline)
        self._field = field
        kw = dict(rtol=cfg.rtol, atol=cfg.atol, method=cfg.method, options=options)
        with solver_errors(), field.kernel_scope():
            if cfg.adjoint and torch.is_grad_enabled():
                params = tuple(p for p in self.func.parameters() if p.requires_grad)
                adjoint_options = dict(options, norm="seminorm") if cfg.seminorm else dict(options)
                out = odeint_adjoint(field, y0, t, adjoint_params=params, adjoint_options=adjoint_options, **kw)
                node = _adjoint_node(out[0] if reg is not None else out)
                if node is not None:  # give the adjoint's backward solve its own kernel scope
                    node.register_prehook(field.open_backward)
                    node.register_hook(field.close_backward)
            else:
                out = odeint(field, y0, t, **kw)
        field.backward = True
        if reg is not None:
            self.regularisation = {name: integral[-1] for name, integral in zip(reg.names, out[1:], strict=True)}
            out = out[0]
        return out, torch.stack([t[0].detach(), *field.step_ends])

    def _solve_limited(self, h0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Under SolveLimits: every image its own steps and status (SOLVERS[method].per_image)."""
        cfg, limits = self.solver, self.limits
        caps = [c for c in (cfg.max_num_steps, limits.max_num_steps) if c is not None]
        cfg = cfg.replace(max_num_steps=min(caps)) if caps and cfg.adaptive else cfg
        how = cfg.facts.per_image
        if how == "torchode":
            field = _CountedField(self.func, self.nfe, True, self._cached_layers())
            with field.kernel_scope():
                sol = solve_per_image(field, h0, t, rtol=cfg.rtol, atol=cfg.atol, method=cfg.method,
                                      max_num_steps=cfg.max_num_steps, deadline=limits.deadline,
                                      per_sample_time=getattr(self.func, "per_sample_time", False))
            self._image_solves = ImageSolves(sol.nfe.cpu().numpy(), sol.accepted.cpu().numpy(),
                                             sol.rejected.cpu().numpy(), sol.step_times, sol.status)
            return sol.h.transpose(0, 1)
        groups = [slice(i, i + 1) for i in range(len(h0))] if how == "image by image" else [slice(None)]
        outs, parts = [], []
        for rows in groups:
            stats, part = NFEStats(), h0[rows]
            try:
                out, steps = self._odeint(part, t, cfg, stats, limits.deadline)
                bad = ~torch.isfinite(out).flatten(2).all(dim=2).all(dim=0)  # a fixed grid never checks
                done = dataclasses.replace(ImageSolves.shared(len(part), stats, steps.cpu().numpy()),
                                           status=tuple("non_finite" if b else "ok" for b in bad.tolist()))
            except SolverError as err:
                out = part.new_full((len(t), *part.shape), torch.nan)
                done = ImageSolves.shared(len(part), stats, np.array([float(t[0])]), err.reason)
            outs.append(out)
            parts.append(done)
            self.nfe.forward_nfe += stats.forward_nfe
        self._image_solves = ImageSolves.concat(parts)  # step_times stays None (reset_nfe): the states are per image
        return torch.cat(outs, dim=1)

    @property
    def image_solves(self) -> ImageSolves | None:
        """Per-image NFE, steps, solver states and status of the last forward solve (ImageSolves; without
        SolveLimits every image is credited with the batch's one solve), or None before any solve."""
        if self._image_solves is None and self.step_times is not None:
            return ImageSolves.shared(self._batch, self.nfe, self.step_times.detach().cpu().double().numpy())
        return self._image_solves

    def extra_repr(self) -> str:
        return f"solver={self.solver}, cache_kernels={self.cache_kernels}"
