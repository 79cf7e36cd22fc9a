"""Per-image adaptive solves: one batched torchode call against torchdiffeq, on a bundled model's ODE block.

The block's input h(0) for N test images (the bundled demo stimuli) is solved over [0, T] with dopri5 at the
model's tolerances in three ways, interleaved in one process: torchdiffeq on the whole batch (one step sequence
for all), torchdiffeq once per image (the virtual cortex's per-image loop), and neurodcn.nn.per_image_solve
(each image its own steps, one batched call). Reported: median seconds, and how far an image's h(T) inside the
batch lies from the same image solved alone (relative L2), per engine.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torchdiffeq import odeint

from benchmarks.results_file import markdown_table, write_section
from benchmarks.timing import median_times
from neurodcn import VirtualCortex, load_stimuli
from neurodcn.nn.per_image_solve import solve_per_image


def block_input(model, images, block: int) -> torch.Tensor:
    """h(0) of ODE block ``block`` (0-based) for ``images``, through the stem and the transitions before it."""
    with torch.no_grad():
        h = model.stem(images)
        for i in range(block):
            h = model.transitions[i](model.blocks[i](h))
    return h


def _rel(a, b) -> np.ndarray:
    return ((a - b).flatten(1).norm(dim=1) / b.flatten(1).norm(dim=1)).numpy()


def run(model_name="dcn-ode", num_images=64, block=0, repeats=3, write=True) -> str:
    vc = VirtualCortex.pretrained(model_name, progress=False)
    model = vc.model.eval()
    solver = model.blocks[block].solver
    func = model.blocks[block].func
    h0 = block_input(model, load_stimuli("cifar10-demo", num_images=num_images).images, block)
    t = torch.tensor([0.0, solver.T])
    tol = dict(rtol=solver.rtol, atol=solver.atol)

    def batched():
        with torch.no_grad():
            return odeint(func, h0, t, method="dopri5", **tol)[-1]

    def loop():
        with torch.no_grad():
            return torch.cat([odeint(func, h0[i:i + 1], t, method="dopri5", **tol)[-1] for i in range(len(h0))])

    def per_image():
        return solve_per_image(func, h0, t, **tol).h[:, -1]

    seconds = median_times({"torchdiffeq, whole batch": batched, "torchdiffeq, one solve per image": loop,
                            "per_image_solve, one batched call": per_image}, repeats=repeats)
    alone_td, alone_pi = loop(), torch.cat([solve_per_image(func, h0[i:i + 1], t, **tol).h[:, -1]
                                            for i in range(len(h0))])
    drift = {"torchdiffeq, whole batch": _rel(batched(), alone_td), "torchdiffeq, one solve per image": None,
             "per_image_solve, one batched call": _rel(per_image(), alone_pi)}
    loop_s = seconds["torchdiffeq, one solve per image"]
    rows = []
    for name, s in seconds.items():
        d = drift[name]
        rows.append([name, f"{s:.2f}", f"{loop_s / s:.1f}", "-" if d is None else f"{100 * np.median(d):.3f}",
                     "-" if d is None else f"{100 * d.max():.3f}"])
    table = markdown_table(["engine", "s", "speed-up vs the per-image loop", "batch vs alone, median (%)",
                            "batch vs alone, max (%)"], rows)
    body = (f"Bundled {model_name}, ODE block {block + 1}, {num_images} demo images, dopri5 rtol = atol = "
            f"{solver.rtol:g} over [0, {solver.T:g}], {torch.get_num_threads()} thread(s); median of {repeats} "
            f"interleaved runs.\n\n{table}")
    if write:
        write_section("Per-image adaptive solves (one batched call)", body)
    return body


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="dcn-ode")
    p.add_argument("--num-images", type=int, default=64)
    p.add_argument("--block", type=int, default=0, help="0-based ODE block")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(run(args.model, args.num_images, args.block, args.repeats, write=not args.no_write))


if __name__ == "__main__":
    main()
