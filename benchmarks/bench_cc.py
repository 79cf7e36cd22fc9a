"""ContinuousConv2d paths vs nn.Conv2d, the CC paper's Appendix B configuration (Table 5).

One layer, batch 50, 32 -> 32 channels, support 3 (Internal-Net of Table 2), scale 2/3; nn.Conv2d 3x3 stride 1.
Forward+backward time (median of interleaved repeats) and peak memory (bytes allocated during the step beyond
what was live before it, from torch.profiler memory events, so it works for CPU tensors) per path:
standard (direct, one chunk), chunked (direct, automatic chunks recomputed in backward), by discrete convs.
Targets (issue): by-convs <= 1.0x the Conv2d time at every size; chunked direct <= 5x with peak <= 1 GiB at 128.

Network level (``network``): one training step (forward, backward, Adam step) of CC-Net with the Appendix A
scale augmentation vs the ConvNet of Table 3, batch 64 of 3 x 32 x 32 inputs; target CC-Net <= 5x ConvNet.
"""

from __future__ import annotations

import argparse
import os

import torch
from torch.profiler import profile

from benchmarks.results_file import markdown_table, write_section
from benchmarks.timing import median_times
from neurodcn import ContinuousConv2d
from neurodcn.nn.ccnet import CCNet, ConvNet

PAPER_V100 = {  # Table 5 of the CC paper: (ms, GiB) for standard, chunked, by convs, conv
    32: ((8.7, 0.9), (19.7, 1.8), (3.5, 0.1), (0.8, 0.1)),
    64: ((30.0, 3.4), (76.1, 3.7), (3.6, 0.2), (1.3, 0.2)),
    96: ((72.3, 7.6), (155.4, 3.9), (5.1, 0.4), (2.7, 0.5)),
    128: ((131.5, 13.6), (285.9, 4.1), (7.6, 0.7), (4.0, 0.4)),
}
GIB = 2**30


def peak_bytes(fn) -> int:
    """Peak of the running sum of allocations minus frees (torch.profiler memory events) during fn()."""
    with profile(profile_memory=True) as prof:
        fn()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    total = peak = 0
    for e in events:
        total += e.nbytes()
        peak = max(peak, total)
    return peak


def run(sizes=(32, 64, 96, 128), repeats=3, batch=50, channels=32, scale=2 / 3, write=True):
    torch.manual_seed(0)
    cc = ContinuousConv2d(channels, channels, support=3)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
    rows, load = [], os.getloadavg()[0]
    for size in sizes:
        x = torch.randn(batch, channels, size, size, requires_grad=True)

        def conv_step(x=x):
            conv(x).sum().backward()

        def cc_with(path, chunk, x=x):
            def go():
                cc.path, cc.chunk_size = path, chunk
                cc(x, scale=scale).sum().backward()
            return go

        candidates = {"standard": cc_with("direct", 10**9), "chunked": cc_with("direct", None),
                      "convs": cc_with("convs", None), "conv": conv_step}
        times = median_times(candidates, repeats=repeats)
        peaks = {name: peak_bytes(fn) for name, fn in candidates.items()}
        ref = times["conv"]
        paper = PAPER_V100.get(size)
        row = [f"{size}^2"]
        for i, name in enumerate(candidates):
            cell = f"{1e3 * times[name]:.0f} ms / {peaks[name] / GIB:.2f} GiB ({times[name] / ref:.2f}x)"
            if paper:
                cell += f"; V100 {paper[i][0] / paper[3][0]:.1f}x"
            row.append(cell)
        convs_ok = times["convs"] <= ref
        direct_ok = times["chunked"] <= 5 * ref and (size != 128 or peaks["chunked"] <= GIB)
        row.append(f"convs <= 1x: {'met' if convs_ok else 'NOT met'}; chunked <= 5x"
                   + (" and <= 1 GiB" if size == 128 else "") + f": {'met' if direct_ok else 'NOT met'}")
        rows.append(row)
        print(" | ".join(row), flush=True)
    columns = ["input", "CC standard", "CC chunked", "CC by convs", "Conv2d 3x3 s1", "targets"]
    body = (f"One layer forward+backward, batch {batch}, {channels} -> {channels} channels, support 3, scale "
            f"{scale:.4g}, float32, torch threads: {torch.get_num_threads()}, median of {repeats} interleaved "
            f"repeats (load average {load:.1f} on {os.cpu_count()} cores when it started: a CC-Net training run "
            "and other jobs shared the CPU, which inflates absolute times; the ratios, measured side by side, are "
            "the figure); peak = bytes allocated during the step beyond the live input and parameters "
            "(torch.profiler memory events). Ratios are to Conv2d measured "
            "in the same process; `V100` is the paper's Table 5 ratio for the same column.\n\n"
            + markdown_table(columns, rows))
    if write:
        write_section("Continuous convolution (CC paper Appendix B)", body)
    return rows


def where_time_goes(sizes=(32, 64), steps=3, batch=50, channels=32, scale=2 / 3, top=7, write=True) -> str:
    """torch.profiler self CPU time per operator of one by-convs forward+backward beside the stride-1 Conv2d's,
    milliseconds per step (mean of ``steps`` after two warm-ups); the ``top`` operators of by-convs."""
    torch.manual_seed(0)
    cc = ContinuousConv2d(channels, channels, support=3)
    cc.path = "convs"
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1)
    parts = []
    for size in sizes:
        x = torch.randn(batch, channels, size, size, requires_grad=True)
        per_op = {}
        for name, fn in (("by convs", lambda x=x: cc(x, scale=scale).sum().backward()),
                         ("Conv2d", lambda x=x: conv(x).sum().backward())):
            for _ in range(2):
                fn()
            with profile() as prof:
                for _ in range(steps):
                    fn()
            per_op[name] = {e.key: e.self_cpu_time_total / 1e3 / steps for e in prof.key_averages()}
        ops = sorted(per_op["by convs"], key=per_op["by convs"].get, reverse=True)[:top]
        rows = [[op, f"{per_op['by convs'][op]:.1f}", f"{per_op['Conv2d'].get(op, 0.0):.1f}"] for op in ops]
        rows.append(["total", *(f"{sum(per_op[n].values()):.1f}" for n in ("by convs", "Conv2d"))])
        parts.append(f"**{size}^2:**\n\n" + markdown_table(["operator (self CPU)", "by convs (ms / step)",
                                                              "Conv2d (ms / step)"], rows))
    body = (f"Where a by-convs step's time goes: torch.profiler self CPU time per operator, one layer forward+backward"
            f" (batch {batch}, {channels} -> {channels} channels, scale {scale:.4g}, one thread), mean of {steps} "
            "steps, beside the stride-1 Conv2d. For by convs, `mkldnn_convolution` is the merged phase convolution "
            "forward, `_convolution` the transposed convolution that gives the input gradient, "
            "`convolution_backward` the weight gradient; `copy_` and `fill_` are the interleave of the phases and "
            "the channels-last layout of the input and its gradient; `add_` accumulates gradients; the two "
            "`...Backward` rows are the Python of the custom autograd functions. The by-convs "
            "convolution does 0.84x the multiply-adds of the stride-1 Conv2d (2 x 2 phases of a 4 x 4 merged "
            "window at stride 3 against a 3 x 3 window at every pixel); the rest is layout.\n\n" + "\n\n".join(parts))
    print(body, flush=True)
    if write:
        write_section("CC by convs: where the time goes", body)
    return body


def network(repeats=5, batch=64, write=True):
    """Seconds per training step of CC-Net (scale augmentation) and ConvNet, interleaved; returns the row."""
    torch.manual_seed(0)
    x, y = torch.rand(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    steps = {}
    for name, net, lr in (("convnet", ConvNet(), 1e-3), ("ccnet", CCNet(), 5e-4)):
        opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=5e-4)
        net.train()

        def step(net=net, opt=opt):
            opt.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(net(x), y).backward()
            opt.step()
        steps[name] = step
    times = median_times(steps, repeats=repeats)
    ratio = times["ccnet"] / times["convnet"]
    row = [str(batch), f"{times['convnet']:.3f}", f"{times['ccnet']:.3f}", f"{ratio:.2f}x",
           f"<= 5x: {'met' if ratio <= 5 else 'NOT met'}"]
    print(" | ".join(row), flush=True)
    if write:
        body = ("One training step (forward, backward, Adam) on random 3 x 32 x 32 inputs, CC-Net with the "
                f"Appendix A scale augmentation (a fresh scale sequence each step), median of {repeats} "
                f"interleaved repeats (CC-Net and ConvNet alternate, so both see the same load and the median spans "
                f"{repeats} scale sequences), torch threads: {torch.get_num_threads()}; load average "
                f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores when it started (a CC-Net training run and other "
                "jobs shared the CPU: absolute times are inflated, the ratio is the figure). The paper quotes 6 s vs "
                "90 s per epoch on a GPU (15x).\n\n"
                + markdown_table(["batch", "ConvNet (s)", "CC-Net (s)", "ratio", "target"], [row]))
        write_section("CC-Net vs ConvNet training step (CC paper Table 3 networks)", body)
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 64, 96, 128])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--network-only", action="store_true", help="only the CC-Net vs ConvNet step")
    parser.add_argument("--network-repeats", type=int, default=9, help="training steps per network (one scale "
                        "sequence each)")
    parser.add_argument("--profile-only", action="store_true", help="only the per-operator profile of by convs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the targets are for one)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.profile_only:
        where_time_goes(write=not args.no_write)
        return
    if not args.network_only:
        run(tuple(args.sizes), args.repeats, write=not args.no_write)
        where_time_goes(write=not args.no_write)
    network(args.network_repeats, write=not args.no_write)


if __name__ == "__main__":
    main()
