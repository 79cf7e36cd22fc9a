"""ODE solver: direct backprop vs adjoint vs adjoint with seminorm, for dcn-ode.

One forward+backward (cross-entropy) of dcn-ode on a batch of random CIFAR-sized images (3 x 32 x 32), dopri5 at
rtol = atol = 1e-3 over [0, 2]. The three modes run interleaved in one process on the same model and batch;
wall times are medians over --repeats; NFE are summed over the three ODE blocks (forward solve + adjoint
backward solve). Ratios are relative to direct backprop.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from benchmarks.results_file import markdown_table, write_section
from neurodcn import SolverConfig, build_model

MODES = {
    "direct backprop": SolverConfig(adjoint=False),
    "adjoint": SolverConfig(adjoint=True),
    "adjoint + seminorm": SolverConfig(adjoint=True, seminorm=True),
}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def step(model, x, y):
    """One forward+backward pass; returns (seconds, total NFE stats of the pass)."""
    model.zero_grad(set_to_none=True)
    _sync(x.device)
    start = time.perf_counter()
    F.cross_entropy(model(x), y).backward()
    _sync(x.device)
    return time.perf_counter() - start, model.total_nfe()


def run(width=16, batch=32, repeats=3, warmup=1, seed=0, device="cpu", write=True) -> str:
    device = torch.device(device)
    model = build_model("dcn-ode", width=width, seed=seed).to(device)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    times = {name: [] for name in MODES}
    nfe = {}
    for r in range(warmup + repeats):  # round-robin, so that machine drift hits every mode alike
        for name, solver in MODES.items():
            model.set_solver(solver)
            seconds, stats = step(model, x, y)
            if r >= warmup:
                times[name].append(seconds)
            nfe[name] = stats  # deterministic: same model, batch and tolerances every repeat
    base_t = statistics.median(times["direct backprop"])
    base_nfe = nfe["direct backprop"].total_nfe
    rows = []
    for name in MODES:
        t, s = statistics.median(times[name]), nfe[name]
        rows.append([name, f"{t:.2f}", f"{t / base_t:.2f}", s.forward_nfe, s.backward_nfe, s.total_nfe,
                     f"{s.total_nfe / base_nfe:.2f}"])
    table = markdown_table(["mode", "seconds (median)", "time ratio", "forward NFE", "backward NFE", "total NFE",
                            "NFE ratio"], rows)
    note = "" if width == 32 else "; the paper model has width 32, too slow to run here on CPU"
    body = (f"dcn-ode at width {width} (stages {width}/{2 * width}/{4 * width}{note}), batch {batch} of random "
            f"3 x 32 x 32 images, dopri5 rtol = atol = 1e-3, T = 2, one forward+backward, median of {repeats} "
            f"(interleaved, after {warmup} warm-up round), device {device.type}. NFE summed over the 3 ODE blocks; "
            f"direct backprop has no backward solve (it backpropagates through the stored solver graph).\n\n{table}")
    if write:
        write_section("ODE solver: direct vs adjoint vs seminorm (dcn-ode)", body)
    return body


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=32,
                   help="base channel count (default 32, the paper's)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1, help="untimed rounds before measuring")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md alone")
    args = p.parse_args(argv)
    print(run(args.width, args.batch, args.repeats, args.warmup, device=args.device, write=not args.no_write))


if __name__ == "__main__":
    main()
