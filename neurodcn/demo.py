"""The demo job (``neurodcn demo --out results [--quick]``, ``make demo``): the paper's analyses on the
bundled model and stimuli, in a few minutes on a CPU.

Runs the paper functions of :mod:`neurodcn.paper` in order (:data:`neurodcn.paper.DEMO_ORDER`):
table1_parameters (parameter counts of the zoo), fig3_sigma (learned sigma), fig4_pattern_completion (accuracy
against mask size, D(t)) and fig5_contrast (accuracy and NFE against contrast in three regimes), on the
checkpoint (default: the bundled dcn-ode) and the bundled stimulus set "cifar10-demo" (the first 128 CIFAR-10
test images). Every result is a netCDF dataset (.nc) with its figure (.png); ``<out>/README.md`` lists every
file of the folder with one line on what it holds. Everything it needs ships with the package.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from neurodcn.paper import DEMO_ORDER
from neurodcn.paper.inputs import DEFAULT_STIMULI, checkpoint_label, load_cortex, parameter_count
from neurodcn.paper.results import write_readme
from neurodcn.validate import check_bool

__all__ = ["DEMO_SETTINGS", "run_demo", "add_arguments", "run_command", "main"]

DEMO_SETTINGS = {
    "fig4_pattern_completion": {"num_images": 64, "mask_sizes": [0, 4, 8, 12, 14, 16, 20], "num_times": 11},
    "fig5_contrast": {"num_images": 32, "contrasts": [2.0**k for k in range(-5, 2)]},
}
"""Settings of the full demo (``quick`` uses each function's quick settings instead): Fig. 4 on 64 of the 128
bundled images (drawn with seed 0); Fig. 5 on 32 of them, because its images run one at a time (adaptive NFE per
image), at contrasts 1/32 ... 2 in factors of 2 (1/16 ~ the 0.06 of the paper's 102 -> 60 NFE claim). Sized so
the whole demo takes under 3 minutes on a 2-core CPU."""

HELP = "run the paper's analyses on the bundled model and stimuli; writes .nc, .png and a README"


def run_demo(out="results", quick: bool = False, checkpoint=None, progress: bool = True, echo=print) -> dict:
    """Run every paper function of DEMO_ORDER into folder ``out`` and write its README.md; returns {analysis: Result}
    (fig3_sigma is skipped for a model without SRF layers, e.g. odenet; fig5_contrast solves a model trained with
    fixed steps, like the bundled dcn-ode, with dopri5 at its tolerances, so that NFE can follow the contrast).

    quick: each function's quick settings (a smoke run), else DEMO_SETTINGS. checkpoint: default the bundled
    dcn-ode. echo: where the summary lines go (print; None for silence)."""
    from neurodcn.cortex.receptive_fields import srf_layers
    from neurodcn.cortex.sweep import ode_blocks

    check_bool("quick", quick)
    check_bool("progress", progress)
    echo = echo or (lambda *a, **k: None)
    vc = load_cortex(checkpoint, progress=progress)
    card = vc.card or {}
    n_params = parameter_count(vc.model)
    test = card.get("test") or {}
    source = checkpoint_label(checkpoint)
    echo(f"neurodcn demo: model {vc.name}, {n_params:,} parameters ({source})")
    if card.get("dataset"):
        accuracy = test.get("accuracy")
        tested = f"; test accuracy {accuracy:.4f} ({test.get('num_images')} images)" if accuracy else ""
        echo(f"  trained on {card['dataset']}{tested}")
    fixed_step = any(not b.solver.adaptive for b in ode_blocks(vc.model))
    start = time.perf_counter()
    results, skipped = {}, []
    for name in DEMO_ORDER:
        if name == "fig3_sigma" and not srf_layers(vc.model):
            skipped.append(f"fig3_sigma skipped: {vc.name} has no SRF layers (no learned sigma)")
            echo(skipped[-1])
            continue
        options = {} if quick or name not in DEMO_SETTINGS else dict(DEMO_SETTINGS[name])
        if name == "fig5_contrast" and fixed_step:
            options["solver"] = "dopri5"  # solver effort against contrast needs an adaptive solver
        results[name] = importlib.import_module(f"neurodcn.paper.{name}").run(
            checkpoint=checkpoint, out=out, quick=quick, progress=progress, **options
        )
        for line in results[name].summary:
            echo(line)
    written = {n for r in results.values() for n in r.files}
    preamble = [
        f"Model `{vc.name}` ({n_params:,} parameters) from `{source}`; stimuli: "
        f"the bundled set {DEFAULT_STIMULI!r}; {'quick' if quick else 'demo'} settings. Open the .nc files with "
        "`neurodcn.load_dataset` (or xarray); every variable has long_name and units.",
        *(f"\n{line}." for line in skipped),
    ]
    readme = write_readme(out, written, preamble=preamble)
    echo(f"wrote {len(written) + 2} files to {out} in {time.perf_counter() - start:.0f} s; see {readme}")
    return results


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The demo's command-line options."""
    p.add_argument("--out", default="results", help="results folder (default: results)")
    p.add_argument("--quick", action="store_true", help="smoke-run settings (well under a minute)")
    p.add_argument(
        "--checkpoint", default=None, help="checkpoint (default: the bundled dcn-ode)"
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def run_command(args: argparse.Namespace) -> int:
    """Run the demo from parsed options; exit code 0."""
    run_demo(args.out, quick=args.quick, checkpoint=args.checkpoint, progress=args.progress)
    return 0


def main(argv=None) -> int:
    """``python -m neurodcn.demo [--out DIR] [--quick]``."""
    p = argparse.ArgumentParser(prog="neurodcn demo", description=HELP)
    add_arguments(p)
    try:
        return run_command(p.parse_args(argv))
    except (ValueError, TypeError, FileNotFoundError) as err:
        print(f"neurodcn demo: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
