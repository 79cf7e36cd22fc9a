"""Training paths of dcn-ode side by side: seconds per step, NFE, and accuracy after a short fixed time budget.

Every path trains its own copy of the same model (built with the same seed) in one process; paths take turns step
by step, so machine drift hits all alike.
- Step table: the median seconds of one training step (forward, backward, SGD) from the same starting weights on
  the same batch, the forward and backward NFE of that step summed over the three ODE blocks, and the time
  relative to the first path.
- Budget table (--budget SECONDS, with --data): each path trains on shuffled, augmented CIFAR-10 batches until its
  own training time reaches the budget, then is evaluated in float32 with its training solver and with dopri5
  (rtol = atol = 1e-3) on the test images of --test-data (default: --data's test split).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch

from benchmarks.results_file import markdown_table, write_section
from neurodcn import SolverConfig, build_model
from neurodcn.data.augment import random_crop_flip
from neurodcn.data.cifar10 import batches, epoch_generator, load_cifar10
from neurodcn.train.trainer import TrainConfig, evaluate, flushed_denormals, scale_field_output, step_loss

DIRECT = dict(adjoint=False)
DOPRI5 = SolverConfig(**DIRECT)
RK4 = SolverConfig(method="rk4", step_size=0.5, **DIRECT)
OLD = {"kinetic": 0.1, "field_gain": 0.1}  # the subset zoo's recipe (slow fields an adaptive solver steps through)
NEW = {"kinetic": 0.01}  # the full-data recipe (reference field gain)
PATHS = {  # name -> (solver, TrainConfig changes)
    "dopri5, kinetic 0.1, gain 0.1, fp32": (DOPRI5, OLD),
    "dopri5, kinetic 0.1, gain 0.1, bf16": (DOPRI5, {**OLD, "precision": "bf16"}),
    "dopri5, kinetic 0.01, gain 1, fp32": (DOPRI5, NEW),
    "rk4 step 0.5, kinetic 0.01, gain 1, fp32": (RK4, NEW),
    "rk4 step 0.5, kinetic 0.01, gain 1, bf16": (RK4, {**NEW, "precision": "bf16"}),
    "rk4 step 0.5, kinetic 0.01, gain 1, fp16": (RK4, {**NEW, "precision": "fp16"}),
    "rk4 step 1, kinetic 0.01, gain 1, bf16": (SolverConfig(method="rk4", step_size=1.0, **DIRECT),
                                               {**NEW, "precision": "bf16"}),
}


def _setup(base, solver, changes, batch):
    model = copy.deepcopy(base)
    model.set_solver(solver)
    config = TrainConfig(batch_size=batch, weight_decay=5e-4, **changes)
    scale_field_output(model, config.field_gain)
    return model, config, config.make_optimizer(model)


def _step(model, config, optimizer, x, y, generator) -> tuple[float, int, int]:
    optimizer.zero_grad(set_to_none=True)
    model.reset_nfe()
    start = time.perf_counter()
    _, _, objective, _ = step_loss(model, model, x, y, config, generator)
    objective.backward()
    optimizer.step()
    seconds = time.perf_counter() - start
    nfe = model.total_nfe()
    return seconds, nfe.forward_nfe, nfe.backward_nfe


def step_table(base, paths, x, y, repeats) -> str:
    """Median seconds and NFE of one step from the same weights, paths interleaved."""
    setups = {n: _setup(base, *PATHS[n], len(y)) for n in paths}
    weights = copy.deepcopy(base.state_dict())
    times, nfe = {n: [] for n in paths}, {}
    for r in range(repeats + 1):  # round 0 warms up
        for n in paths:
            model, config, optimizer = setups[n]
            model.load_state_dict(weights)
            scale_field_output(model, config.field_gain)
            optimizer.state.clear()
            seconds, fwd, bwd = _step(model, config, optimizer, x, y, epoch_generator(0, 0, "bench"))
            if r:
                times[n].append(seconds)
            nfe[n] = (fwd, bwd)
    first = statistics.median(times[paths[0]])
    rows = [[n, f"{statistics.median(times[n]):.2f}", nfe[n][0], nfe[n][1],
             f"{first / statistics.median(times[n]):.2f}"] for n in paths]
    return markdown_table(["path", "s / step", "forward NFE", "backward NFE", "speed-up vs first"], rows)


def budget_table(base, paths, train, test, batch, budget, seed=0) -> str:
    """Each path trains until its own training time reaches ``budget`` seconds; accuracy on ``test`` after it."""
    setups = {n: _setup(base, *PATHS[n], batch) for n in paths}
    spent, steps = dict.fromkeys(paths, 0.0), dict.fromkeys(paths, 0)
    order = {n: iter(()) for n in paths}
    epoch = dict.fromkeys(paths, -1)
    while any(spent[n] < budget for n in paths):
        for n in paths:
            if spent[n] >= budget:
                continue
            batch_xy = next(order[n], None)
            if batch_xy is None:
                epoch[n] += 1
                order[n] = iter(batches(train.images, train.labels, batch_size=batch, seed=seed, epoch=epoch[n],
                                        drop_last=True))
                batch_xy = next(order[n])
            x = random_crop_flip(batch_xy[0], 4, generator=epoch_generator(seed, epoch[n], f"augment-{steps[n]}"))
            model, config, optimizer = setups[n]
            model.train()
            seconds, _, _ = _step(model, config, optimizer, x, batch_xy[1], epoch_generator(seed, 0, "bench"))
            spent[n] += seconds
            steps[n] += 1
    rows = []
    for n in paths:
        model, _, _ = setups[n]
        own = evaluate(model, test, 500)["accuracy"]
        trained_with = model.blocks[0].solver
        model.set_solver(DOPRI5)
        faithful = evaluate(model, test, 500)["accuracy"]
        model.set_solver(trained_with)
        rows.append([n, steps[n], f"{steps[n] * batch:,}", f"{100 * own:.1f}", f"{100 * faithful:.1f}"])
    return markdown_table(["path", "steps", "images seen", "test accuracy, own solver (%)",
                           "test accuracy, dopri5 (%)"], rows)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", help="cifar-10-batches-py folder (default: uniform noise images, no budget table)")
    p.add_argument("--test-data", help="cifar-10-batches-py folder whose test split scores the budget table")
    p.add_argument("--budget", type=float, default=0.0, help="seconds of training per path (0: no budget table)")
    p.add_argument("--paths", nargs="+", choices=list(PATHS), default=list(PATHS), help="a subset of the paths")
    p.add_argument("--no-write", action="store_true", help="print only; do not update RESULTS.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = build_model("dcn-ode", width=args.width, seed=0)
    if args.data:
        train = load_cifar10(args.data, "train")
        x, y = train.images[:args.batch], train.labels[:args.batch]
    else:
        g = torch.Generator().manual_seed(0)
        x, y = torch.rand(args.batch, 3, 32, 32, generator=g), torch.randint(0, 10, (args.batch,), generator=g)
    setting = (f"dcn-ode width {args.width} at initialisation (seed 0), batch {args.batch}, "
               f"{torch.get_num_threads()} thread(s), denormals flushed, weight decay 5e-4")
    with flushed_denormals():
        body = (f"{setting}; median of {args.repeats} steps after one warm-up, paths interleaved.\n\n"
                f"{step_table(base, args.paths, x, y, args.repeats)}")
        print(body, flush=True)
        if not args.no_write:
            write_section("Training paths: one step", body)
        if args.data and args.budget > 0:
            test = load_cifar10(args.test_data or args.data, "test")
            body = (f"{setting}; each path trains for {args.budget:.0f} s of its own step time on {args.data} "
                    f"(shuffled, crop + flip), then is scored on the {len(test)} test images of "
                    f"{args.test_data or args.data} in float32.\n\n"
                    f"{budget_table(base, args.paths, train, test, args.batch, args.budget)}")
            print(body, flush=True)
            if not args.no_write:
                write_section("Training paths: accuracy after a fixed time budget", body)


if __name__ == "__main__":
    main()
