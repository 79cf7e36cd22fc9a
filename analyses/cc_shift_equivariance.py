"""Shift equivariance of the last conv/CC layer: ConvNet vs CC-Net (CC paper Sec. 6, Table 1).

Protocol (the paper's, after Zhang 2019): each input is fed twice, as is and shifted by an integer (dy, dx) drawn
uniformly from [-r, r]^2 for a maximum shift r of 2, 4 or 6 px (circularly: torch.roll, so no content is lost; the
wrapped border is cut below). The last conv/CC layer's output is 4 times smaller than the input, so it is shifted
back by (dy, dx) / 4 map pixels with cubic interpolation (Keys a = -0.5, neurodcn.nn.resize.cubic), 2 map pixels
are cut from every side, and the cosine similarity of the two maps (over channels and positions) is taken per
input. Inputs: CIFAR-10 test images (normalised per channel with the training images' mean and SD, as the
paper's training does) and white Gaussian noise N(0, 1) in the same normalised space. r = 0 is included as a
check (similarity 1 exactly: the shift-back is then the identity).

Models: "convnet" and "ccnet" from the zoo (CC paper Table 3), initialised with --seed, untrained
(--train-epochs 0, the default with --quick) or trained briefly here (Adam, weight decay 5e-4, lr 1e-3 / 5e-4,
batch 64, crop + flip: the paper's recipe for far fewer epochs), or trained models given as checkpoints. The
paper's numbers (trained 400 epochs on the full CIFAR-10) are stored beside ours as ``paper_cosine`` for
comparison, not as results of this run.

Untrained control. Untrained networks are already close to equivariant (cosine near 0.99), and the two trained
networks differ in accuracy, so a trained network's score is set beside that of its own untrained copy (the same
architecture, neurodcn.cortex.baselines.untrained_copy of its config: its own initialisation where the config
records a seed, else seed 0) on the same inputs and shifts: the change trained - untrained of the mean cosine,
with a paired percentile-bootstrap 95 % interval over the inputs, and the ratio of misalignments (1 - trained) /
(1 - untrained) (below 1: training made the map more equivariant than its initialisation), beside the test
accuracy of both. Untrained runs measure each model once: it is its own copy (change 0, ratio 1).

Writes <out>/cc_shift_equivariance.nc, .png and .csv (the table: one row per model, input and maximum shift).
Data: --data, else $NEURODCN_CIFAR10, else ../shared/data/cifar-10-subset next to the repository.

    python analyses/cc_shift_equivariance.py [--quick] [--seed 0] [--out results/cc_shift_equivariance]
        [--data DIR] [--images 200] [--train-epochs 0] [--checkpoint CONVNET.pt CCNET.pt] [--bootstrap 2000]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
import xarray as xr
from matplotlib.figure import Figure

import neurodcn as nd
from neurodcn.analysis.plots import save_figure
from neurodcn.analysis.plots.style import band, bootstrap_ci
from neurodcn.cortex.baselines import untrained_copy
from neurodcn.data.augment import random_crop_flip
from neurodcn.data.cifar10 import batches, epoch_generator
from neurodcn.io.atomic import write_text
from neurodcn.nn.resize import cubic
from neurodcn.progress import tqdm
from neurodcn.schema import stamp_provenance
from neurodcn.train.checkpoint import load_checkpoint
from neurodcn.validate import check_int

try:
    from analyses import common
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common

__all__ = ["MAX_SHIFTS", "PAPER_TABLE1", "MODELS", "TABLE", "shift_back", "shift_cosine", "train_briefly",
           "relative_to_untrained", "table", "run", "main"]

MAX_SHIFTS = (0, 2, 4, 6)
MODELS = {"convnet": 1e-3, "ccnet": 5e-4}
"""Zoo name -> Adam learning rate of the paper's recipe."""
PAPER_TABLE1 = {  # (input, model) -> cosine similarity at max shift 2, 4, 6 (CC paper Table 1)
    ("cifar10", "convnet"): (0.90, 0.78, 0.65), ("cifar10", "ccnet"): (0.92, 0.85, 0.77),
    ("noise", "convnet"): (0.80, 0.67, 0.56), ("noise", "ccnet"): (0.91, 0.85, 0.85),
}
FACTOR, CROP = 4, 2
ALIGNED = 1e-6
"""A misalignment 1 - cosine at most this is float32 rounding of a perfect alignment (max shift 0)."""
TABLE = ("test_accuracy", "untrained_test_accuracy", "mean_cosine", "untrained_mean_cosine", "cosine_change",
         "cosine_change_low", "cosine_change_high", "misalignment_ratio", "paper_cosine")
"""The columns of :func:`table` after model, input and max_shift."""


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


def relative_to_untrained(trained, untrained, n_boot: int = 2000, seed: int = 0):
    """A trained net's cosine similarities against its untrained copy's on the same inputs, [..., N] each (N
    inputs last). Returns (change, low, high, ratio), each [...]: change = mean over the inputs of trained -
    untrained; low, high = its 95 % percentile-bootstrap interval, the inputs resampled with both their values
    (paired; neurodcn.analysis.plots.style.bootstrap_ci, seeded); ratio = (1 - mean trained) / (1 - mean
    untrained), the misalignment left after training, NaN where the untrained one is within float32 rounding
    of 0 (:data:`ALIGNED`; no shift). With one input the interval is NaN."""
    t, u = np.asarray(trained, dtype=np.float64), np.asarray(untrained, dtype=np.float64)
    if t.shape != u.shape or t.ndim == 0 or t.shape[-1] == 0:
        raise ValueError(f"trained and untrained must have one shape [..., N] with N >= 1 inputs, got {t.shape} "
                         f"and {u.shape}")
    diff = t - u
    low, high = bootstrap_ci(diff, axis=-1, n_resamples=check_int("n_boot", n_boot, minimum=1), seed=seed)
    left_t, left_u = 1.0 - t.mean(-1), 1.0 - u.mean(-1)
    ratio = np.divide(left_t, left_u, out=np.full(left_u.shape, np.nan), where=np.abs(left_u) > ALIGNED)
    return diff.mean(-1), low, high, ratio


def table(ds: xr.Dataset) -> pd.DataFrame:
    """Table 1 with its controls: one row per model, input and maximum shift of a cc_shift_equivariance dataset,
    columns model, input, max_shift and :data:`TABLE` (accuracies per model, repeated on its rows)."""
    return ds[list(TABLE)].to_dataframe().reset_index()[["model", "input", "max_shift", *TABLE]]


def _cosines(model, inputs: dict, shifts: np.ndarray) -> np.ndarray:
    """shift_cosine of ``model``'s features for every input kind and maximum shift: [input, max_shift, sample]."""
    model.eval()
    out = np.empty((len(inputs), *shifts.shape[:2]))
    for k, x in enumerate(inputs.values()):
        with torch.no_grad():
            ref = model.features(x)
        for r in range(shifts.shape[0]):
            out[k, r] = shift_cosine(model.features, x, shifts[r], ref)
    return out


def _accuracy(model, images, labels) -> float:
    with torch.no_grad():
        preds = torch.cat([model(x).argmax(1) for (x,) in batches(images, batch_size=256, shuffle=False)])
    return float((preds == labels).double().mean())


def run(out="results/cc_shift_equivariance", quick: bool = False, seed: int = 0, data=None,
        images: int | None = None, train_epochs: int = 0, progress: bool = True, checkpoints=None,
        bootstrap: int = 2000) -> xr.Dataset:
    """Measure Table 1 for convnet and ccnet, trained ones beside their untrained copies; write .nc, .png and .csv
    to out. images: inputs of each kind (default 200, quick 4); train_epochs: brief training on the training
    split (0: untrained models, a control). checkpoints: paths of models trained by ``neurodcn train`` (e.g. a
    convnet's and a ccnet's best.pt), measured instead; they were trained on images in [0, 1], so they get the
    inputs in that space (the noise is the same N(0, 1) of the normalised space, mapped back with the training
    images' mean and SD). bootstrap: resamples of the interval of the change over the untrained copy."""
    bootstrap = check_int("bootstrap", bootstrap, minimum=1)
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
        names, models = list(MODELS), {name: untrained_copy({"name": name}, seed) for name in MODELS}
        space = lambda x: (x - mean) / std  # noqa: E731
    trained = bool(train_epochs or checkpoints)
    configs = {}
    cos = np.empty((len(names), len(inputs), len(MAX_SHIFTS), len(pick)))
    cos_untrained = np.empty_like(cos)
    accuracy, final_loss = np.full(len(names), np.nan), np.full(len(names), np.nan)
    accuracy_untrained = np.full(len(names), np.nan)
    for m, name in enumerate(names):
        model = models[name]
        configs[name] = model.config
        if train_epochs:
            history = train_briefly(model, space(train.images), train.labels, train_epochs, MODELS[name],
                                    seed, progress)
            final_loss[m] = history[-1]
        cos[m] = _cosines(model, inputs, shifts)
        if trained:
            copy = untrained_copy(model.config)
            accuracy[m] = _accuracy(model.eval(), space(test.images), test.labels)
            accuracy_untrained[m] = _accuracy(copy, space(test.images), test.labels)
            cos_untrained[m] = _cosines(copy, inputs, shifts)
        else:
            cos_untrained[m] = cos[m]
    change, change_low, change_high, ratio = relative_to_untrained(cos, cos_untrained, bootstrap, seed)
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
            "untrained_cosine": (("model", "input", "max_shift", "sample"), cos_untrained,
                                 dict(one, long_name="cosine similarity of the model's untrained copy, same inputs "
                                                     "and shifts")),
            "untrained_mean_cosine": (("model", "input", "max_shift"), cos_untrained.mean(-1),
                                      dict(one, long_name="mean cosine similarity of the untrained copy")),
            "cosine_change": (("model", "input", "max_shift"), change,
                              dict(one, long_name="mean over the inputs of cosine - untrained copy's cosine")),
            "cosine_change_low": (("model", "input", "max_shift"), change_low,
                                  dict(one, long_name="cosine_change: paired 95 % bootstrap interval over the "
                                                      "inputs, low")),
            "cosine_change_high": (("model", "input", "max_shift"), change_high,
                                   dict(one, long_name="cosine_change: paired 95 % bootstrap interval over the "
                                                       "inputs, high")),
            "misalignment_ratio": (("model", "input", "max_shift"), ratio,
                                   dict(one, long_name="(1 - mean_cosine) / (1 - untrained_mean_cosine); NaN "
                                                       "without shift")),
            "paper_cosine": (("model", "input", "max_shift"), paper,
                             dict(one, long_name="CC paper Table 1 (trained 400 epochs on full CIFAR-10; quoted, "
                                                 "not measured here)")),
            "shift_y": (("max_shift", "sample"), shifts[..., 0], {"long_name": "input shift, rows", "units": "px"}),
            "shift_x": (("max_shift", "sample"), shifts[..., 1],
                        {"long_name": "input shift, columns", "units": "px"}),
            "test_accuracy": (("model",), accuracy,
                              dict(one, long_name=f"accuracy on the {len(test)} test images of the data folder "
                                                  "(NaN: untrained, not measured)")),
            "untrained_test_accuracy": (("model",), accuracy_untrained,
                                        dict(one, long_name="accuracy of the untrained copy on the same test images "
                                                            "(NaN: the model itself is untrained)")),
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
                    untrained_copy="neurodcn.cortex.baselines.untrained_copy of each model's config (its seed, "
                                   "else 0)" if trained else "the model itself (untrained)",
                    bootstrap=bootstrap,
                    shift="circular (torch.roll), integer px, uniform in [-r, r] per axis",
                    shift_back="cubic (Keys a = -0.5), edges replicated, by shift / 4 map px",
                    normalisation="images in [0, 1] as the trainer feeds them" if checkpoints else
                    "per-channel mean and SD of the training images")
    nd.save_dataset(ds, out / "cc_shift_equivariance.nc", overwrite=True)
    save_figure(plot(ds), out / "cc_shift_equivariance.png")
    write_text(out / "cc_shift_equivariance.csv", table(ds).to_csv(index=False))
    return ds


def plot(ds: xr.Dataset) -> Figure:
    """Mean cosine similarity against the maximum shift, per input kind, with the 10-90 % range over the inputs
    as a band; the paper's values dashed; for trained models their untrained copies' dotted."""
    trained = not str(ds.attrs.get("models", "")).startswith("untrained")
    fig = Figure(figsize=(9, 3.5), layout="constrained")
    axes = fig.subplots(1, ds.sizes["input"], squeeze=False)[0]
    kinds = {"cifar10": "CIFAR-10 test images", "noise": "white noise"}
    for ax, (k, kind) in zip(axes, enumerate(ds["input"].values), strict=True):
        for m, name in enumerate(ds["model"].values):
            low, high = np.quantile(ds["cosine"].values[m, k], [0.1, 0.9], axis=-1)
            band(ax, ds["max_shift"].values, low, high, f"C{m}")
            ax.plot(ds["max_shift"], ds["mean_cosine"].values[m, k], "o-", color=f"C{m}",
                    label=f"{name} (here: mean, 10-90 % of {ds.sizes['sample']} inputs)")
            if trained:
                ax.plot(ds["max_shift"], ds["untrained_mean_cosine"].values[m, k], "^:", color=f"C{m}",
                        label=f"{name}, untrained copy (mean)")
            ax.plot(ds["max_shift"], ds["paper_cosine"].values[m, k], "s--", color=f"C{m}", alpha=0.6,
                    label=f"{name} (paper)")
        ax.set_title(kinds.get(str(kind), str(kind)))
        ax.set_xlabel("maximum shift (px)")
        ax.set_ylabel("cosine similarity")
        ax.legend(fontsize=7, frameon=False)
    fig.suptitle("Shift equivariance of the last conv / CC layer" + (
        " (trained models)" if trained else " (untrained: a control)"))
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
    parser.add_argument("--bootstrap", type=int, default=2000,
                        help="resamples of the interval of the change over the untrained copy (default 2000)")
    args = parser.parse_args(argv)
    ds = run(args.out, quick=args.quick, seed=args.seed, data=args.data, images=args.images,
             train_epochs=args.train_epochs, checkpoints=args.checkpoint, bootstrap=args.bootstrap)
    print(f"models: {ds.attrs['models']}; untrained copies: {ds.attrs['untrained_copy']}")
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print(table(ds).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"wrote {Path(args.out) / 'cc_shift_equivariance.nc'}, .png and .csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
