"""dcn-cc at step orders it was not trained with: each order alone and as a scale ensemble, and its receptive
fields beside dcn-ode's in the virtual cortex.

dcn-cc halves its maps in three CC steps (trained in the order 4/5, 5/6, 3/4). Every order of the same steps
halves them too, through other intermediate sizes (Eq. 4 from 30 px: 24, 20, 15 for the trained order; 23, 18,
15 for 3/4, 4/5, 5/6), so the network runs at test time at orders it never saw, with its learned kernels
resampled. Averaging the logits of several orders is a scale ensemble (CC paper Sec. 4) without scale
augmentation in training. Logits of each order: neurodcn.cortex.ensembles.step_order_logits; test accuracy
with 95 % bootstrap intervals over test images (seeded) and the paired gain over the single, trained-order pass:
neurodcn.analysis.ensembles; members are the orders in neurodcn.nn.dcn_cc.step_orders, trained first.
Receptive fields: VirtualCortex.receptive_fields of dcn-cc and of --compare (default the bundled dcn-ode),
learned sigma per SRF layer in degrees of visual angle.

Writes <out>/dcn_cc_step_orders.nc, <out>/dcn_cc_receptive_fields.nc and <out>/dcn_cc_step_orders.png.

    python analyses/dcn_cc_step_orders.py --checkpoint runs/dcn-cc-dopri5/best.pt [--compare CKPT]
        [--data DIR] [--members 1 2 3 6] [--seed 0] [--bootstrap 2000] [--limit N] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr
from matplotlib.ticker import FuncFormatter

import neurodcn as nd
from neurodcn.analysis.ensembles import ensemble_accuracy
from neurodcn.analysis.plots import plot_ensemble_accuracy
from neurodcn.analysis.plots.style import colors, new_figure, save_figure
from neurodcn.cortex.ensembles import step_order_logits
from neurodcn.nn.dcn_cc import gradual_downsamples, step_orders
from neurodcn.schema import DEGREE, PIXELS

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

__all__ = ["step_sigmas", "run", "main"]

EXPERIMENT = "dcn_cc_step_orders"


def step_sigmas(vc) -> xr.Dataset:
    """Learned sigma of the N-jet kernel of every CC step of vc.model, dims [transition, step]: in pixels of the
    step's input map (``cc_sigma_px``) and in degrees (``cc_sigma_deg``: times that map's stride in input pixels,
    vc.layer_strides)."""
    deg_per_px = vc.visual_degrees / vc.image_size[1]
    transitions = gradual_downsamples(vc.model)
    px = np.array([[conv.kernel.sigma_summary() for conv in t.convs] for t in transitions])
    stride = np.array([[vc.layer_strides[id(conv)] for conv in t.convs] for t in transitions])
    return xr.Dataset(
        {"cc_sigma_px": (("transition", "step"), px, {"long_name": "sigma of the CC step's N-jet kernel, in pixels "
                                                                   "of the step's input map", "units": PIXELS}),
         "cc_sigma_deg": (("transition", "step"), px * stride * deg_per_px,
                          {"long_name": "sigma of the CC step's N-jet kernel in visual angle", "units": DEGREE})},
        coords={"transition": np.arange(1, len(transitions) + 1), "step": np.arange(1, px.shape[1] + 1),
                "step_scale": ("step", [str(s) for s in transitions[0].scales],
                               {"long_name": "trained scale of the step"})})


def _name(order) -> str:
    return ", ".join(str(s) for s in order)


def run(checkpoint, out="results/dcn_cc_step_orders", compare=None, data=None, members=(1, 2, 3, 6), seed: int = 0,
        bootstrap: int = 2000, limit: int | None = None, progress: bool = True) -> tuple[xr.Dataset, xr.Dataset]:
    """(step-order ensembles, receptive fields of dcn-cc and the comparison model); both written to out."""
    vc = nd.VirtualCortex.from_checkpoint(checkpoint, progress=progress)
    other = nd.VirtualCortex.from_checkpoint(compare, progress=progress) if compare else nd.VirtualCortex.pretrained(
        "dcn-ode", progress=progress)
    orders = step_orders(vc.model)
    test = nd.load_cifar10(common.default_data_root(data), "test")
    images, labels = test.images, test.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    logits = step_order_logits(vc.model, images, orders, progress=progress)
    ds = ensemble_accuracy(logits, logits[0], labels.numpy(), members, [_name(o) for o in orders],
                           n_boot=bootstrap, seed=seed)
    ds = vc.stamp(ds, EXPERIMENT, title="dcn-cc at other step orders: each alone and as a scale ensemble")
    ds.attrs.update(checkpoint=str(checkpoint), data=test.source, seed=seed)
    rf = xr.concat([v.receptive_fields().expand_dims(model=[v.name]) for v in (vc, other)], dim="model",
                   combine_attrs="drop_conflicts")
    rf = rf.merge(step_sigmas(vc), combine_attrs="override")
    rf.attrs.update(title="receptive fields of dcn-cc and its comparison model", checkpoints=str(
        [str(checkpoint), str(compare or "bundled dcn-ode")]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nd.save_dataset(ds, out / f"{EXPERIMENT}.nc", overwrite=True)
    nd.save_dataset(rf, out / "dcn_cc_receptive_fields.nc", overwrite=True)
    save_figure(_figure(ds, rf), out / f"{EXPERIMENT}.png")
    return ds, rf


def _figure(ds: xr.Dataset, rf: xr.Dataset):
    fig, axes = new_figure(ncols=3, width=4.0)
    plot_ensemble_accuracy(ds, axes=axes[:2])
    sigma = axes[2]
    for name, color in zip(rf["model"].values, colors(rf.sizes["model"]), strict=True):
        r = rf.sel(model=name)
        sigma.plot(r["depth"].values, r["sigma_deg"].values, "o-", color=color, label=f"{name}: SRF layers")
    steps = rf["cc_sigma_deg"]
    m = steps.sizes["step"]
    for t in range(steps.sizes["transition"]):  # transition t+1 lies between SRF layers 2(t+1) and 2(t+1) + 1
        sigma.plot(2 * (t + 1) + np.arange(1, m + 1) / (m + 1), steps.values[t], "^", mfc="none",
                   color=colors(1)[0], label="dcn-cc: CC steps" if t == 0 else None)
    sigma.set_yscale("log")
    sigma.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.2g}"))
    sigma.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:.2g}" if f"{v:.1e}"[0] in "235" else ""))
    sigma.set_xlabel("depth (SRF layer)")
    sigma.set_ylabel("learned sigma (deg)")
    sigma.set_xticks(rf["depth"].values)
    sigma.legend(frameon=False, fontsize="small")
    fig.suptitle(f"dcn-cc: step orders at test time ({ds.attrs['test_images']} test images) and receptive fields")
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a dcn-cc checkpoint written by neurodcn train")
    parser.add_argument("--compare", default=None, help="checkpoint to compare receptive fields with "
                        "(default: the bundled dcn-ode)")
    parser.add_argument("--data", default=None, help="cifar-10-batches-py folder")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 2, 3, 6])
    parser.add_argument("--seed", type=int, default=0, help="bootstrap resamples")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="only the first N test images")
    parser.add_argument("--out", default="results/dcn_cc_step_orders")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    args = parser.parse_args(argv)
    ds, rf = run(args.checkpoint, args.out, args.compare, args.data, args.members, args.seed, args.bootstrap,
                 args.limit, args.progress)
    lo, hi = ds.attrs["single_pass_interval"]
    print(f"trained order: {ds.attrs['single_pass_accuracy']:.2f} % [{lo:.2f}, {hi:.2f}]")
    for name in ds["member"].values:
        m = ds.sel(member=name)
        print(f"  order {name}: {float(m['member_accuracy']):.2f} % [{float(m['member_accuracy_low']):.2f}, "
              f"{float(m['member_accuracy_high']):.2f}]")
    for k in ds["members"].values:
        m = ds.sel(members=k)
        print(f"{k} order(s): {float(m['accuracy']):.2f} %; gain {float(m['gain']):+.2f} "
              f"[{float(m['gain_low']):+.2f}, {float(m['gain_high']):+.2f}] points")
    for name in rf["model"].values:
        sigma = ", ".join(f"{v:.3g}" for v in rf["sigma_deg"].sel(model=name).values)
        print(f"{name}: sigma (deg) per SRF layer {sigma}")
    for t in rf["transition"].values:
        steps = ", ".join(f"{float(v):.3g} px" for v in rf["cc_sigma_px"].sel(transition=t).values)
        print(f"dcn-cc transition {t}: sigma of the CC steps ({', '.join(rf['step_scale'].values)}) {steps}")
    print(f"wrote {Path(args.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
