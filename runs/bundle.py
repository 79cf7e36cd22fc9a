"""Bundle a finished full-CIFAR-10 run as a package checkpoint, with its test accuracies in the card.

The card's "test" is the exact 932 test images of the CIFAR-10 subset (what `neurodcn evaluate` reproduces, and
what Table 1 compares); "test_jpeg" is all 10,000 JPEG-degraded test images. The run's metrics.csv is copied
beside it. Nothing is replaced unless --replace is given.

    python runs/bundle.py runs/dcn-ode-c10 dcn-ode --subset ../shared/data/cifar-10-subset \
        --jpeg data/cifar-10-jpeg [--replace]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from neurodcn.data.bundled import bundled_dir
from neurodcn.data.cifar10 import load_cifar10
from neurodcn.train.checkpoint import load_checkpoint, save_checkpoint
from neurodcn.train.trainer import evaluate


def test_entry(model, root: Path, batch: int) -> dict:
    """The card's test entry of ``model`` on the test split under ``root`` (with seconds of evaluation)."""
    data = load_cifar10(root, "test")
    tick = time.perf_counter()
    res = evaluate(model, data, batch, progress=True)
    print(f"  {data.source}: accuracy {res['accuracy']:.4f} ({res['correct']}/{res['num_images']}), "
          f"{time.perf_counter() - tick:.0f} s")
    return {**res, "split": "test", "data": data.describe()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path, help="the run folder (holds best.pt and metrics.csv)")
    p.add_argument("name", help="the bundled name, e.g. dcn-ode")
    p.add_argument("--subset", type=Path, required=True, help="the CIFAR-10 subset (exact 932 test images)")
    p.add_argument("--jpeg", type=Path, required=True, help="the JPEG-degraded CIFAR-10 built by make_batches.py")
    p.add_argument("--replace", action="store_true", help="replace a bundled model of that name")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = bundled_dir("checkpoints") / f"{args.name}.pt"
    if out.exists() and not args.replace:
        raise SystemExit(f"{out} exists: pass --replace to replace it")
    model, card = load_checkpoint(args.run / "best.pt")
    batch = (card.get("schedule") or {}).get("eval_batch_size", 1000)
    print(f"{args.name} from {args.run / 'best.pt'} (best epoch {card['best_epoch']}):")
    card = {**card, "test": test_entry(model, args.subset, batch), "test_jpeg": test_entry(model, args.jpeg, batch),
            "run": str(args.run)}
    save_checkpoint(model, out, card)
    shutil.copyfile(args.run / "metrics.csv", out.with_suffix(".metrics.csv"))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
