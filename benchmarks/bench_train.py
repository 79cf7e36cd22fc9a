"""One training step of dcn-ode (forward + backward + SGD step), seconds and NFE, for several solver settings.

Each configuration trains its own copy of the same model (built with the same seed, or loaded from
--checkpoint) on the same batch of CIFAR-sized images (the CIFAR-10 subset when --data is given, else uniform
noise). Configurations run round-robin in one process, so machine drift hits all alike; the table gives the
median seconds per step (each from the same starting weights), the NFE of that step (forward and backward,
summed over the three ODE blocks), and the time relative to Euler step 1. "gain 0.1" starts the vector
fields slow (TrainConfig.field_gain); "compile" is torch.compile on every vector field (train(compile=True)).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from benchmarks.results_file import markdown_table, write_section
from neurodcn import SolverConfig, build_model, load_checkpoint
from neurodcn.data.cifar10 import epoch_generator, load_cifar10
from neurodcn.nn.dynamics import ODEFunc
from neurodcn.train.trainer import TrainConfig, scale_field_output, step_loss

DIRECT = dict(adjoint=False)
CONFIGS = {  # name -> (solver, TrainConfig changes, compile)
    "euler, step 1": (SolverConfig(method="euler", step_size=1.0, **DIRECT), {}, False),
    "rk4, step 0.5": (SolverConfig(method="rk4", step_size=0.5, **DIRECT), {}, False),
    "dopri5": (SolverConfig(**DIRECT), {}, False),
    "dopri5 + kinetic": (SolverConfig(**DIRECT), {"kinetic": 0.1}, False),
    "dopri5 + kinetic + Jacobian": (SolverConfig(**DIRECT), {"kinetic": 0.1, "jacobian": 0.1}, False),
    "dopri5 + kinetic, gain 0.1": (SolverConfig(**DIRECT), {"kinetic": 0.1, "field_gain": 0.1}, False),
    "dopri5 + kinetic, gain 0.1, compile": (SolverConfig(**DIRECT), {"kinetic": 0.1, "field_gain": 0.1}, True),
}


def _batch(batch: int, data: str | None, seed: int):
    if data:
        d = load_cifar10(data, "train")
        return d.images[:batch], d.labels[:batch]
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)


def _setup(base, solver, changes, compile_fields, checkpoint):
    model = copy.deepcopy(base)
    model.set_solver(solver)
    config = TrainConfig(**changes)
    if config.field_gain != 1.0 and checkpoint is None:
        scale_field_output(model, config.field_gain)
    if compile_fields:
        for m in model.modules():
            if isinstance(m, ODEFunc):
                m.compile()
    optimizer = config.make_optimizer(model.parameters())
    return model, config, optimizer, copy.deepcopy(model.state_dict())


def _step(model, config, optimizer, weights, x, y):
    """One step from the same weights every time (restored first, untimed), so NFE are comparable."""
    model.load_state_dict(weights)
    optimizer.state.clear()
    optimizer.zero_grad(set_to_none=True)
    start = time.perf_counter()
    _, _, objective, _ = step_loss(model, model, x, y, config, epoch_generator(0, 0, "bench"))
    objective.backward()
    optimizer.step()
    seconds = time.perf_counter() - start
    nfe = model.total_nfe()
    return seconds, nfe.forward_nfe, nfe.backward_nfe


def run(width=16, batch=64, repeats=3, data=None, checkpoint=None, configs=None, seed=0, write=True) -> str:
    if checkpoint:
        base, _ = load_checkpoint(checkpoint)
        width = base.config.get("width", width)
    else:
        base = build_model("dcn-ode", width=width, seed=seed)
    x, y = _batch(batch, data, seed)
    names = list(configs or CONFIGS)
    setups = {n: _setup(base, *CONFIGS[n], checkpoint) for n in names}
    times, nfe = {n: [] for n in names}, {}
    for r in range(repeats + 1):  # round 0 warms up (and compiles)
        for n in names:
            torch.manual_seed(seed)
            seconds, fwd, bwd = _step(*setups[n], x, y)
            if r:
                times[n].append(seconds)
            nfe[n] = (fwd, bwd)
    base_name = names[0]
    base_t = statistics.median(times[base_name])
    rows = [[n, f"{statistics.median(times[n]):.2f}", nfe[n][0], nfe[n][1],
             f"{statistics.median(times[n]) / base_t:.2f}"] for n in names]
    what = f"trained checkpoint {checkpoint}" if checkpoint else f"initialisation (seed {seed})"
    table = markdown_table(["configuration", "s / step", "forward NFE", "backward NFE",
                            f"time / {base_name}"], rows)
    body = (f"dcn-ode width {width}, batch {batch}, {torch.get_num_threads()} thread(s), weights at {what}; "
            f"median of {repeats} steps after one warm-up, configurations interleaved.\n\n{table}")
    if write:
        write_section(f"Training step, dcn-ode width {width} ({'trained' if checkpoint else 'init'})", body)
    return body


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, nargs="+", default=[16, 32])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", help="cifar-10-batches-py folder (default: uniform noise images)")
    p.add_argument("--checkpoint", help="time steps on these trained weights instead of a fresh model")
    p.add_argument("--configs", nargs="+", choices=list(CONFIGS), help="a subset of the configurations")
    p.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    for width in ([None] if args.checkpoint else args.width):
        print(run(width or 16, args.batch, args.repeats, args.data, args.checkpoint, args.configs,
                  write=not args.no_write))


if __name__ == "__main__":
    main()
