"""SRFConv2d forward+backward vs F.conv2d with a precomputed weight of the same size.

Batch 64, 64 -> 64 channels, 32 x 32 inputs, sigma in {0.5, 1, 1.5, 2, 3} pixels. Targets (issue 2): ratio of the
automatic path to the plain convolution <= 1.10 where K <= 7; at sigma = 3 (K = 15) at least 2x faster than the
direct 15 x 15 convolution.
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F

from benchmarks.results_file import markdown_table, write_section
from benchmarks.timing import median_times
from neurodcn import SRFConv2d
from neurodcn.nn.srf import SEPARABLE_MIN_SIZE


def step(fn, x):
    """One forward+backward pass through fn."""
    fn(x).sum().backward()


def run(sigmas, batch=64, channels=64, size=32, repeats=5, write=True):
    torch.manual_seed(0)
    x = torch.randn(batch, channels, size, size, requires_grad=True)
    rows = []
    for sigma in sigmas:
        layers = {}
        for path in ("auto", "direct", "separable"):
            layer = SRFConv2d(channels, channels, path=path)
            layer.log2_sigma.data.fill_(math.log2(sigma))
            layers[path] = layer
        h = layers["auto"].half_width_at()
        weight = layers["auto"].kernel().detach().clone().requires_grad_()
        t = median_times({
            "conv": lambda w=weight, h=h: step(lambda z: F.conv2d(z, w, padding=h), x),
            **{p: (lambda m=m: step(m, x)) for p, m in layers.items()},
        }, repeats=repeats)
        k = 2 * h + 1
        auto = layers["auto"].resolve_path(h)
        ratio = t["auto"] / t["conv"]
        speedup = t["conv"] / t["auto"]
        target = ("<= 1.10: " + ("met" if ratio <= 1.10 else "NOT met")) if k <= 7 else (
            (">= 2x faster: " + ("met" if speedup >= 2 else "NOT met")) if k == 15 else "-")
        rows.append([sigma, k, f"{1e3 * t['conv']:.1f}", f"{1e3 * t['direct']:.1f}", f"{1e3 * t['separable']:.1f}",
                     auto, f"{t['direct'] / t['conv']:.2f}", f"{t['separable'] / t['conv']:.2f}", f"{ratio:.2f}",
                     target])
        print(rows[-1], flush=True)
    columns = ["sigma (px)", "K", "conv2d (ms)", "SRF direct (ms)", "SRF separable (ms)", "auto picks",
               "direct / conv", "separable / conv", "auto / conv", "target"]
    body = (f"Forward+backward, batch {batch}, {channels} -> {channels} channels, {size}x{size}, float32, median of "
            f"{repeats} interleaved repeats. `conv2d` is F.conv2d with a precomputed K x K weight (the cost SRF "
            f"adds is building the kernel). `auto` takes the separable path from K = {SEPARABLE_MIN_SIZE}.\n\n"
            + markdown_table(columns, rows))
    if write:
        write_section("SRFConv2d vs conv2d (issue 2)", body)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sigmas", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    a = p.parse_args(argv)
    run(a.sigmas, repeats=a.repeats, write=not a.no_write)


if __name__ == "__main__":
    main()
