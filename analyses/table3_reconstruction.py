"""DCN paper Table 3: reconstructing CIFAR-10 images from the block-3 features of dcn-ode, odenet and
resnet-blocks encoders.

Per encoder (--models) and seed: the classifier comes from --encoder-checkpoint (a checkpoint per model;
the shared --checkpoint counts as one more) or is trained here first (analyses/training.train_and_test).
neurodcn.nn.build_reconstruction puts a decoder with its own blocks on the frozen encoder (the reference
shares the encoder's blocks, and so trains the encoder too), and the decoder is trained on the training
images (no augmentation; SGD momentum 0.9, lr 0.1 * batch / 128, lr x 0.1 at 50 % and 80 % of the epochs
as the reference's 25 and 40 of 50) to minimise the MSE against the centre 28 x 28 crop
(reconstruction_loss). Reported: the MSE over the test split (pixel values in [0, 1]). The paper's Table 3
"reconstruction loss (%)" (3 runs, full CIFAR-10) is stored beside ours as paper_loss_percent, for
comparison only (its scale is the paper's). Writes table3_reconstruction.csv, .nc and .png (test images
and their reconstructions); each trained net is saved as <out>/table3_reconstruction_runs/<model>-nall-s<seed>.pt
(load_checkpoint(path, builder=build_reconstruction) restores it).

    python analyses/table3_reconstruction.py [--quick] [--encoder-checkpoint A.pt B.pt] [--seeds 0 1 2]
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from neurodcn.progress import tqdm

try:
    from analyses import common, training
except ImportError:  # run as a script: analyses/ itself is on sys.path
    import common
    import training

from neurodcn.data.cifar10 import CIFAR10, batches, num_batches
from neurodcn.nn.reconstruction import (
    RECONSTRUCTION_ENCODERS,
    build_reconstruction,
    center_crop,
    reconstruction_loss,
)
from neurodcn.train.checkpoint import load_checkpoint, save_checkpoint

__all__ = ["run", "main", "MODELS", "PAPER_TABLE3", "train_decoder", "reconstruction_mse"]

NAME = "table3_reconstruction"
MODELS = RECONSTRUCTION_ENCODERS
PAPER_TABLE3 = {"resnet-blocks": (21.0, 0.4), "odenet": (20.2, 1.3), "dcn-ode": (17.1, 0.3)}
"""DCN paper Table 3: reconstruction loss in % (mean, SD over 3 runs), as printed."""

SHOWN = 6


def reconstruction_mse(net: torch.nn.Module, data: CIFAR10, batch_size: int = 500) -> float:
    """Mean squared error per pixel value of net(images) against their centre crops, over all of ``data``."""
    net.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for (x,) in batches(data.images, batch_size=batch_size, shuffle=False):
            out = net(x)
            total += float(reconstruction_loss(out, x)) * out.numel()
            count += out.numel()
    return total / count


def train_decoder(net: torch.nn.Module, data: CIFAR10, epochs: int, batch_size: int, seed: int,
                  progress: bool = False) -> list[float]:
    """Train the trainable parameters of ``net`` (the decoder) on ``data`` by MSE; returns the mean training
    loss of every epoch."""
    batch_size = min(batch_size, len(data))
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=0.1 * batch_size / 128, momentum=0.9)
    milestones = sorted({m for m in (round(0.5 * epochs), round(0.8 * epochs)) if 1 <= m < epochs})
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, 0.1)
    history = []
    for epoch in range(epochs):
        net.train()
        losses = []
        order = batches(data.images, batch_size=batch_size, seed=seed, epoch=epoch, drop_last=True)
        for (x,) in tqdm(order, total=num_batches(len(data), batch_size, True), disable=not progress,
                         desc=f"decoder epoch {epoch + 1}/{epochs}", leave=False):
            optimizer.zero_grad(set_to_none=True)
            loss = reconstruction_loss(net(x), x)
            if not torch.isfinite(loss):
                raise RuntimeError(f"decoder training diverged at epoch {epoch + 1} (loss {float(loss)})")
            loss.backward()
            optimizer.step()
            losses.append(float(loss.detach()))
        scheduler.step()
        history.append(float(np.mean(losses)))
    return history


def _encoders(models, checkpoints) -> dict:
    """model name -> checkpoint path, from the given checkpoints' cards; each model at most once."""
    found = {}
    for path in checkpoints:
        name = load_checkpoint(path)[0].config.get("name")
        if name not in models:
            raise ValueError(f"encoder checkpoint {path!r} holds a {name!r}; encoders are {list(models)}")
        if name in found:
            raise ValueError(f"two encoder checkpoints for {name!r}: {found[name]!r} and {path!r}")
        found[name] = path
    return found


def _figure(images: torch.Tensor, recon: dict) -> Figure:
    rows = 1 + len(recon)
    fig = Figure(figsize=(1.3 * len(images), 1.4 * rows), layout="constrained")
    axes = fig.subplots(rows, len(images), squeeze=False)
    shown = [("centre crop (target)", center_crop(images, 28))] + list(recon.items())
    for r, (label, imgs) in enumerate(shown):
        for c in range(len(images)):
            axes[r, c].imshow(imgs[c].permute(1, 2, 0).clamp(0, 1).numpy())
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=7)
    fig.suptitle("DCN paper Table 3: test images and reconstructions (first seed)")
    return fig


def run(out="results", quick: bool = False, progress: bool = True, checkpoint=None, encoder_checkpoints=None,
        data=None, seeds=None, epochs=None, width=None, models=None, solver=None) -> common.Result:
    """Reconstruct with every (encoder, seed); write the table, dataset and figure to ``out``."""
    models = training.check_models(MODELS if models is None else models, MODELS)
    paths = list(encoder_checkpoints or []) + ([checkpoint] if checkpoint is not None else [])
    given = _encoders(models, paths)
    settings, seeds = training.settings_from_args(quick, epochs, width, seeds, solver)
    train_split, test = training.load_splits(data)
    shown = test.images[:SHOWN]
    rows, recon = [], {}
    for model in models:
        for seed in seeds:
            if model in given:
                encoder, source = load_checkpoint(given[model])[0], str(given[model])
            else:
                r = training.train_and_test(model, train_split, test, None, seed, settings,
                                            training.run_dir(out, NAME, model, None, seed), progress)
                encoder, source = r["model"], "trained here"
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                net = build_reconstruction(encoder)
            history = train_decoder(net, train_split, settings.epochs, settings.batch_size, seed, progress)
            mse = reconstruction_mse(net, test)
            path = training.run_dir(out, NAME, model, None, seed).with_suffix(".pt")
            path.parent.mkdir(parents=True, exist_ok=True)
            save_checkpoint(net, path, {"model": {"name": "reconstruction", "config": net.config},
                                        "test_mse": mse, "encoder": source})
            if seed == seeds[0]:
                with torch.no_grad():
                    recon[model] = net.eval()(shown)
            mean, sd = PAPER_TABLE3[model]
            rows.append({"model": model, "seed": seed, "test_mse": mse, "train_mse_last_epoch": history[-1],
                         "epochs": len(history), "encoder": source, "paper_loss_percent_mean": mean,
                         "paper_loss_percent_sd": sd})
    table = pd.DataFrame(rows)
    ds = training.results_dataset(
        table, ["model", "seed"],
        {"test_mse": ("1", "mean squared error against the centre 28 x 28 crop, test split, pixels in [0, 1]"),
         "train_mse_last_epoch": ("1", "mean training MSE of the last decoder epoch"),
         "epochs": ("count", "decoder epochs"),
         "paper_loss_percent_mean": ("percent", "DCN paper Table 3 reconstruction loss (full CIFAR-10)"),
         "paper_loss_percent_sd": ("percent", "DCN paper Table 3 SD over 3 runs")},
        {"model": ("1", "encoder model name"), "seed": ("1", "random seed")},
        NAME, models, settings, "DCN paper Table 3: image reconstruction", train_split.source)
    outputs = common.Outputs(out, NAME)
    outputs.dataset(ds, f"{NAME}.nc", "test reconstruction MSE per encoder and seed, with the paper's")
    outputs.table(table, f"{NAME}.csv", "the same as a tidy CSV table")
    outputs.figure(_figure(shown, recon), f"{NAME}.png", "test images (centre crops) and reconstructions")
    stats = training.mean_sd(table, ["model"], "test_mse")
    summary = [f"{NAME}: {m}: test MSE {a:.4f} (sd {s:.4f}, {k} runs)"
               for m, a, s, k in stats[["model", "mean", "sd", "runs"]].itertuples(index=False)]
    return training.finish_common(outputs, settings, seeds, train_split.source,
                                  {"models": models, "encoders": {m: str(p) for m, p in given.items()}}, summary)


def main(argv=None) -> int:
    p = training.add_arguments(common.parser(NAME, __doc__.splitlines()[0], images=False), list(MODELS))
    p.add_argument("--encoder-checkpoint", dest="encoder_checkpoints", nargs="+", default=None,
                   help="trained classifier checkpoints to use as encoders (one per model; others are trained)")
    return common.main(run, p, argv)


if __name__ == "__main__":
    sys.exit(main())
