"""Shift equivariance of the last conv/CC layer: ConvNet vs CC-Net (CC paper Sec. 6, Table 1).

Protocol (the paper's, after Zhang 2019): each input is fed twice, as is and shifted by an integer (dy, dx) drawn
uniformly from [-r, r]^2 for a maximum shift r of 2, 4 or 6 px (circularly: torch.roll, so no content is lost; the
wrapped border is cut below). The last conv/CC layer's output is 4 times smaller than the input, so it is shifted
back by (dy, dx) / 4 map pixels with cubic interpolation (Keys a = -0.5, neurodcn.nn.resize.cubic), 2 map pixels
are cut from every side, and the cosine similarity of the two maps (over channels and positions) is taken per
input. Inputs: CIFAR-10 test images (normalised per channel with the training images' mean and SD, as the
paper's training does) and white Gaussian noise N(0, 1) in the same normalised space. r = 0 is included as a
check (similarity 1 exactly: the shift-back is then the identity).

Models: "convnet" and "ccnet" from the zoo (CC paper Table 3), untrained (--train-epochs 0, the default with
--quick) or trained briefly here (Adam, weight decay 5e-4, lr 1e-3 / 5e-4, batch 64, crop + flip: the paper's
recipe for far fewer epochs). The paper's numbers (trained 400 epochs on the full CIFAR-10) are stored beside
ours as ``paper_cosine`` for comparison, not as results of this run.

Writes <out>/cc_shift_equivariance.nc and .png. Data: --data, else $NEURODCN_CIFAR10, else
../shared/data/cifar-10-subset next to the repository.

    python analyses/cc_shift_equivariance.py [--quick] [--seed 0] [--out results/cc_shift_equivariance]
        [--data DIR] [--images 200] [--train-epochs 0] [--checkpoint CONVNET.pt CCNET.pt]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from matplotlib.figure import Figure

import neurodcn as nd
from neurodcn.analysis.plots import save_figure
from neurodcn.analysis.plots.style import band
from neurodcn.data.augment import random_crop_flip
from neurodcn.data.cifar10 import batches, epoch_generator
from neurodcn.nn.resize import cubic
from neurodcn.progress import tqdm
from neurodcn.schema import stamp_provenance
from neurodcn.train.checkpoint import load_checkpoint

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

__all__ = ["MAX_SHIFTS", "PAPER_TABLE1", "MODELS", "shift_back", "shift_cosine", "train_briefly",
           "run", "main"]

MAX_SHIFTS = (0, 2, 4, 6)
MODELS = {"convnet": 1e-3, "ccnet": 5e-4}
"""Zoo name -> Adam learning rate of the paper's recipe."""
PAPER_TABLE1 = {  # (input, model) -> cosine similarity at max shift 2, 4, 6 (CC paper Table 1)
    ("cifar10", "convnet"): (0.90, 0.78, 0.65), ("cifar10", "ccnet"): (0.92, 0.85, 0.77),
    ("noise", "convnet"): (0.80, 0.67, 0.56), ("noise", "ccnet"): (0.91, 0.85, 0.85),
}
FACTOR, CROP = 4, 2


def shift_back(maps: torch.Tensor, ty: float, tx: float) -> torch.Tensor:
    """Sample maps [B, C, H, W] at (i + ty, j + tx) with cubic interpolation (Keys a = -0.5; edges replicated):
    out[..., i, j] = sum_m maps[..., m, j] k(m - i - ty), likewise along columns."""
    out = maps
    for axis, t in ((-2, ty), (-1, tx)):
        if t == 0:
            continue
        base = math.floor(t)
        taps = torch.arange(base - 1, base + 3, dtype=maps.dtype, device=maps.device)  # k vanishes beyond
        w = cubic(taps - t)
        pad = max(abs(base - 1), abs(base + 2))
        x = out.movedim(axis, -1)
        shape = x.shape
        x = F.pad(x.reshape(-1, 1, shape[-1]), (pad, pad), mode="replicate")
        start = pad + base - 1  # output i reads x[i + base - 1 .. i + base + 2]
        y = sum(w[a] * x[..., start + a:start + a + shape[-1]] for a in range(4))
        out = y.reshape(shape).movedim(-1, axis)
    return out


def shift_cosine(features, inputs: torch.Tensor, shifts: np.ndarray, ref: torch.Tensor | None = None) -> np.ndarray:
    """Cosine similarity per input between features(input), cut by CROP map px per side, and features(input
    rolled by shifts[n] = (dy, dx) px) shifted back by shifts / FACTOR map px and cut alike: [N].
    ref: features(inputs) when already computed."""
    with torch.no_grad():
        ref = features(inputs) if ref is None else ref
        moved = torch.stack([torch.roll(x, (int(dy), int(dx)), dims=(-2, -1)) for x, (dy, dx)
                             in zip(inputs, shifts, strict=True)])
        out = features(moved)
        back = torch.cat([shift_back(o[None], dy / FACTOR, dx / FACTOR) for o, (dy, dx)
                          in zip(out, shifts, strict=True)])
        cut = (slice(None), slice(None), slice(CROP, -CROP), slice(CROP, -CROP))
        return F.cosine_similarity(ref[cut].flatten(1), back[cut].flatten(1), dim=1).double().numpy()


def train_briefly(model, images: torch.Tensor, labels: torch.Tensor, epochs: int, lr: float, seed: int,
                  progress: bool = False) -> list[float]:
    """The paper's recipe for ``epochs`` epochs: Adam (weight decay 5e-4), batch 64, crop (padding 4) + flip;
    images already normalised. Returns the mean training loss of each epoch."""
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    model.train()
    history = []
    for epoch in range(epochs):
        total, count = 0.0, 0
        gen = epoch_generator(seed, epoch, "augment")
        for x, y in tqdm(list(batches(images, labels, batch_size=64, seed=seed, epoch=epoch, drop_last=True)),
                         disable=not progress, desc=f"{type(model).__name__} epoch {epoch + 1}", leave=False):
            opt.zero_grad()
            loss = F.cross_entropy(model(random_crop_flip(x, 4, generator=gen)), y)
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(y), count + len(y)
        history.append(total / max(count, 1))
    model.eval()
    return history


def _accuracy(model, images, labels) -> float:
    with torch.no_grad():
        preds = torch.cat([model(x).argmax(1) for (x,) in batches(images, batch_size=256, shuffle=False)])
    return float((preds == labels).double().mean())


def run(out="results/cc_shift_equivariance", quick: bool = False, seed: int = 0, data=None,
        images: int | None = None, train_epochs: int = 0, progress: bool = True, checkpoints=None) -> xr.Dataset:
    """Measure Table 1 for convnet and ccnet; write .nc + .png to out. images: inputs of each kind (default 200,
    quick 4); train_epochs: brief training on the training split (0: untrained models, a control).
    checkpoints: paths of models trained by ``neurodcn train`` (e.g. a convnet's and a ccnet's best.pt), measured
    instead; they were trained on images in [0, 1], so they get the inputs in that space (the noise is the same
    N(0, 1) of the normalised space, mapped back with the training images' mean and SD)."""
    n = images or (4 if quick else 200)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"images must be a positive integer, got {images!r}")
    if isinstance(train_epochs, bool) or not isinstance(train_epochs, int) or train_epochs < 0:
        raise ValueError(f"train_epochs must be an integer >= 0, got {train_epochs!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    root = common.default_data_root(data)
    train, test = nd.load_cifar10(root, "train"), nd.load_cifar10(root, "test")
    mean = train.images.mean(dim=(0, 2, 3), keepdim=True)
    std = train.images.std(dim=(0, 2, 3), keepdim=True)
    gen = torch.Generator().manual_seed(seed)
    pick = torch.randperm(len(test), generator=gen)[:n]
    inputs = {"cifar10": (test.images[pick] - mean) / std,
              "noise": torch.randn(len(pick), 3, 32, 32, generator=gen)}
    shifts = np.stack([torch.randint(-r, r + 1, (len(pick), 2), generator=gen).numpy() for r in MAX_SHIFTS])
    if checkpoints:
        if train_epochs:
            raise ValueError("train_epochs and checkpoints exclude each other: checkpoints are already trained")
        loaded = [load_checkpoint(p) for p in checkpoints]
        names = [card["model"]["name"] for _, card in loaded]
        models = dict(zip(names, (m for m, _ in loaded), strict=True))
        if len(models) != len(names):
            raise ValueError(f"checkpoints must hold different models, got {names}")
        inputs = {kind: x * std + mean for kind, x in inputs.items()}  # the trainer's input space, [0, 1]
        space = lambda x: x  # noqa: E731
    else:
        names, models = list(MODELS), {name: _seeded(name, seed) for name in MODELS}
        space = lambda x: (x - mean) / std  # noqa: E731
    configs = {}
    cos = np.empty((len(names), len(inputs), len(MAX_SHIFTS), len(pick)))
    accuracy, final_loss = np.full(len(names), np.nan), np.full(len(names), np.nan)
    for m, name in enumerate(names):
        model = models[name]
        configs[name] = model.config
        if train_epochs:
            history = train_briefly(model, space(train.images), train.labels, train_epochs, MODELS[name],
                                    seed, progress)
            final_loss[m] = history[-1]
        if train_epochs or checkpoints:
            accuracy[m] = _accuracy(model.eval(), space(test.images), test.labels)
        model.eval()
        for k, x in enumerate(inputs.values()):
            with torch.no_grad():
                ref = model.features(x)
            for r in range(len(MAX_SHIFTS)):
                cos[m, k, r] = shift_cosine(model.features, x, shifts[r], ref)
    paper = np.full((len(names), len(inputs), len(MAX_SHIFTS)), np.nan)
    for (kind, name), values in PAPER_TABLE1.items():
        if name in names:
            paper[names.index(name), list(inputs).index(kind), 1:] = values
    one = {"units": "1"}
    ds = xr.Dataset(
        {
            "cosine": (("model", "input", "max_shift", "sample"), cos,
                       dict(one, long_name="cosine similarity of the last conv map and the shifted-back map of "
                                           "the shifted input (2 map px cut per side)")),
            "mean_cosine": (("model", "input", "max_shift"), cos.mean(-1),
                            dict(one, long_name="mean cosine similarity over the inputs")),
            "paper_cosine": (("model", "input", "max_shift"), paper,
                             dict(one, long_name="CC paper Table 1 (trained 400 epochs on full CIFAR-10; quoted, "
                                                 "not measured here)")),
            "shift_y": (("max_shift", "sample"), shifts[..., 0], {"long_name": "input shift, rows", "units": "px"}),
            "shift_x": (("max_shift", "sample"), shifts[..., 1],
                        {"long_name": "input shift, columns", "units": "px"}),
            "test_accuracy": (("model",), accuracy,
                              dict(one, long_name=f"accuracy on the {len(test)} test images of the data folder "
                                                  "(NaN: untrained, not measured)")),
            "final_train_loss": (("model",), final_loss,
                                 dict(one, long_name="mean cross-entropy of the last training epoch (NaN: untrained)")),
        },
        coords={
            "model": ("model", names, dict(one, long_name="zoo model")),
            "input": ("input", list(inputs), dict(one, long_name="input kind")),
            "max_shift": ("max_shift", list(MAX_SHIFTS), {"long_name": "maximum input shift per axis", "units": "px"}),
            "sample": ("sample", np.arange(len(pick)), dict(one, long_name="input index")),
            "test_index": ("sample", pick.numpy(), dict(one, long_name="index of the CIFAR image in the test split")),
        },
    )
    state = (f"trained by neurodcn train: {', '.join(str(p) for p in checkpoints)}" if checkpoints else
             f"trained {train_epochs} epoch(s) here on {len(train)} images" if train_epochs else
             "untrained (random initialisation): a control, not the paper's measurement")
    ds = stamp_provenance(ds, "cc_shift_equivariance", "convnet vs ccnet",
                          model_config=configs,
                          title="Shift equivariance of ConvNet and CC-Net (CC paper Table 1)")
    ds.attrs.update(quick=int(quick), seed=seed, models=state, train_epochs=train_epochs, data=test.source,
                    shift="circular (torch.roll), integer px, uniform in [-r, r] per axis",
                    shift_back="cubic (Keys a = -0.5), edges replicated, by shift / 4 map px",
                    normalisation="images in [0, 1] as the trainer feeds them" if checkpoints else
                    "per-channel mean and SD of the training images")
    nd.save_dataset(ds, out / "cc_shift_equivariance.nc", overwrite=True)
    save_figure(plot(ds), out / "cc_shift_equivariance.png")
    return ds


def _seeded(name: str, seed: int):
    """A zoo model without a seed option, built under a forked, seeded RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nd.build_model(name)


def plot(ds: xr.Dataset) -> Figure:
    """Mean cosine similarity against the maximum shift, per input kind, with the 10-90 % range over the inputs
    as a band; the paper's values dashed."""
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    axes = fig.subplots(1, ds.sizes["input"], squeeze=False)[0]
    kinds = {"cifar10": "CIFAR-10 test images", "noise": "white noise"}
    for ax, (k, kind) in zip(axes, enumerate(ds["input"].values), strict=True):
        for m, name in enumerate(ds["model"].values):
            low, high = np.quantile(ds["cosine"].values[m, k], [0.1, 0.9], axis=-1)
            band(ax, ds["max_shift"].values, low, high, f"C{m}")
            ax.plot(ds["max_shift"], ds["mean_cosine"].values[m, k], "o-", color=f"C{m}",
                    label=f"{name} (here: mean, 10-90 % of {ds.sizes['sample']} inputs)")
            ax.plot(ds["max_shift"], ds["paper_cosine"].values[m, k], "s--", color=f"C{m}", alpha=0.6,
                    label=f"{name} (paper)")
        ax.set_title(kinds.get(str(kind), str(kind)))
        ax.set_xlabel("maximum shift (px)")
        ax.set_ylabel("cosine similarity")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Shift equivariance of the last conv / CC layer" + (
        " (trained models)" if "trained" in str(ds.attrs.get("models", "")) else " (untrained: a control)"))
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 inputs per kind, untrained models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/cc_shift_equivariance")
    parser.add_argument("--data", default=None, help="cifar-10-batches-py folder")
    parser.add_argument("--images", type=int, default=None, help="inputs of each kind (default 200)")
    parser.add_argument("--train-epochs", type=int, default=0, help="brief training first (0: untrained)")
    parser.add_argument("--checkpoint", nargs="+", default=None,
                        help="trained checkpoints (neurodcn train's best.pt of convnet and ccnet) to measure")
    args = parser.parse_args(argv)
    ds = run(args.out, quick=args.quick, seed=args.seed, data=args.data, images=args.images,
             train_epochs=args.train_epochs, checkpoints=args.checkpoint)
    print(f"models: {ds.attrs['models']}")
    for m, name in enumerate(ds["model"].values):
        for k, kind in enumerate(ds["input"].values):
            vals = " ".join(f"+-{r}: {v:.3f}" for r, v in zip(ds["max_shift"].values, ds["mean_cosine"].values[m, k],
                                                                   strict=True))
            print(f"{name:8s} {kind:8s} {vals}")
    print(f"wrote {Path(args.out) / 'cc_shift_equivariance.nc'} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
