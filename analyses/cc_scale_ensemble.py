"""Scale ensembles of a trained CC-Net (CC paper Sec. 4): test accuracy of 1, 2, 3, 5 members vs a single pass.

A member is one forward pass at a scale sequence drawn as in training (Appendix A: layer 1 at scale 1, the others
~ N(0.25^(1/7), 0.01) rounded to fractions with denominator <= 10, one layer completing the product 1/4); an
ensemble of k members averages the logits of the first k sequences drawn from a generator seeded by --seed (so
the ensembles are nested, as CCNet.scale_ensemble draws them). The single pass is the network's deterministic
default sequence (eval mode). Accuracy on the test split with 95 % bootstrap intervals over test images (seeded),
and the paired gain of each ensemble over the single pass with its own interval (neurodcn.analysis.ensembles).
The paper reports +1.7 / +2.4 percentage points for 2 / 3 members (full CIFAR-10, 400 epochs): quoted, not
measured here.

Inputs are fed as the trainer feeds them (images in [0, 1]). Writes <out>/cc_scale_ensemble.nc and .png.

    python analyses/cc_scale_ensemble.py --checkpoint runs/ccnet/best.pt [--data DIR] [--members 1 2 3 5]
        [--seed 0] [--bootstrap 2000] [--out results/cc_scale_ensemble] [--limit N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import xarray as xr

import neurodcn as nd
from neurodcn.analysis.ensembles import ensemble_accuracy
from neurodcn.analysis.plots import plot_ensemble_accuracy
from neurodcn.analysis.plots.style import save_figure
from neurodcn.data.cifar10 import batches
from neurodcn.schema import stamp_provenance
from neurodcn.train.checkpoint import load_checkpoint

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

__all__ = ["PAPER_GAIN", "member_logits", "run", "main"]

PAPER_GAIN = {2: 1.7, 3: 2.4}
"""Members -> accuracy gain over a single pass in percentage points (CC paper; quoted, not measured here)."""


def member_logits(model, images: torch.Tensor, members: int, seed: int, batch_size: int = 250):
    """Logits of the single pass [N, classes] and of ``members`` scale sequences [members, N, classes]."""
    model.eval()
    gen = torch.Generator().manual_seed(int(seed))
    sequences = [model.sample_scales(gen) for _ in range(members)]
    single, each = [], []
    with torch.no_grad():
        for (x,) in batches(images, batch_size=batch_size, shuffle=False):
            single.append(model(x))
            each.append(torch.stack([model(x, s) for s in sequences]))
    return torch.cat(single), torch.cat(each, dim=1), sequences


def run(checkpoint, out="results/cc_scale_ensemble", data=None, members=(1, 2, 3, 5), seed: int = 0,
        bootstrap: int = 2000, limit: int | None = None) -> xr.Dataset:
    """Accuracy of the single pass and of each ensemble size on the test split; written to out."""
    members = sorted({int(k) for k in members})
    if not members or members[0] < 1:
        raise ValueError(f"members must list positive ensemble sizes, got {members!r}")
    model, card = load_checkpoint(checkpoint)
    if not hasattr(model, "scale_ensemble"):
        raise ValueError(f"{checkpoint} holds a {type(model).__name__}; a scale ensemble needs a CC-Net")
    test = nd.load_cifar10(common.default_data_root(data), "test")
    images, labels = test.images, test.labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    single, each, sequences = member_logits(model, images, members[-1], seed)
    names = [f"draw {i + 1}" for i in range(len(sequences))]
    ds = ensemble_accuracy(each, single, labels.numpy(), members, names, n_boot=bootstrap, seed=seed)
    ds.attrs["sequences"] = str({n: "-".join(f"{sy}" if sy == sx else f"{sy}x{sx}" for sy, sx in s)
                                 for n, s in zip(names, sequences, strict=True)})
    ds["paper_gain"] = ("members", [PAPER_GAIN.get(k, np.nan) for k in members],
                        {"units": "percent", "long_name": "CC paper's gain (full CIFAR-10; quoted, not measured here)"})
    ds = stamp_provenance(ds, "cc_scale_ensemble", str(card.get("model", {}).get("name", "ccnet")),
                          model_config=card.get("model", {}).get("config"),
                          title="Scale ensembles of CC-Net (CC paper Sec. 4)")
    ds.attrs.update(seed=seed, checkpoint=str(checkpoint), data=test.source)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    nd.save_dataset(ds, out / "cc_scale_ensemble.nc", overwrite=True)
    fig = plot_ensemble_accuracy(ds)
    fig.suptitle(f"CC-Net scale ensembles ({len(labels)} test images)")
    save_figure(fig, out / "cc_scale_ensemble.png")
    return ds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a CC-Net checkpoint written by neurodcn train")
    parser.add_argument("--data", default=None, help="cifar-10-batches-py folder")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 2, 3, 5])
    parser.add_argument("--seed", type=int, default=0, help="scale sequences and bootstrap resamples")
    parser.add_argument("--bootstrap", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="only the first N test images")
    parser.add_argument("--out", default="results/cc_scale_ensemble")
    args = parser.parse_args(argv)
    ds = run(args.checkpoint, args.out, args.data, args.members, args.seed, args.bootstrap, args.limit)
    lo, hi = ds.attrs["single_pass_interval"]
    print(f"single pass: {ds.attrs['single_pass_accuracy']:.2f} % [{lo:.2f}, {hi:.2f}]")
    for i, k in enumerate(ds["members"].values):
        print(f"{k} member(s): {ds['accuracy'].values[i]:.2f} % [{ds['accuracy_low'].values[i]:.2f}, "
              f"{ds['accuracy_high'].values[i]:.2f}]; gain {ds['gain'].values[i]:+.2f} "
              f"[{ds['gain_low'].values[i]:+.2f}, {ds['gain_high'].values[i]:+.2f}] points")
    print(f"wrote {Path(args.out) / 'cc_scale_ensemble.nc'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
