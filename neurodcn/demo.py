"""The demo job (``neurodcn demo --out results [--quick]``, ``make demo``): the paper's analyses on the
bundled model and stimuli, in a few minutes on a CPU.

Runs the scripts of the repository's ``analyses/`` folder in order: table1_parameters (parameter counts of the
zoo), fig3_sigma (learned sigma), fig4_pattern_completion (accuracy against mask size, D(t)) and fig5_contrast
(accuracy and NFE against contrast in three regimes), on the checkpoint (default: the bundled
data/checkpoints/dcn-ode.pt) and the bundled stimulus set (data/stimuli: the first 128 CIFAR-10 test images).
Every result is a netCDF dataset (.nc) with its figure (.png); ``<out>/README.md`` lists every file of the
folder with one line on what it holds. Needs a source checkout: the analyses and the bundled data live beside
the package, not inside it.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType

from neurodcn.io.atomic import write_text

__all__ = [
    "ANALYSES",
    "DEMO_SETTINGS",
    "REPO_ROOT",
    "load_analysis",
    "run_demo",
    "write_readme",
    "add_arguments",
    "run_command",
    "main",
]

REPO_ROOT = Path(__file__).resolve().parents[1]
"""The source checkout holding analyses/ and data/."""

ANALYSES = ("table1_parameters", "fig3_sigma", "fig4_pattern_completion", "fig5_contrast")
"""The analysis scripts the demo runs, in order."""

DEMO_SETTINGS = {
    "fig4_pattern_completion": {"num_images": 64, "mask_sizes": [0, 4, 8, 12, 14, 16, 20], "num_times": 11},
    "fig5_contrast": {"num_images": 64, "contrasts": [2.0**k for k in range(-5, 2)]},
}
"""Settings of the full demo (``quick`` uses each script's quick settings instead): 64 of the 128 bundled
images (drawn with seed 0); contrasts 1/32 ... 2 in factors of 2 (1/16 ~ the 0.06 of the paper's
102 -> 60 NFE claim)."""

HELP = "run the paper's analyses on the bundled model and stimuli; writes .nc, .png and a README"


def load_analysis(name: str) -> ModuleType:
    """The module ``analyses.<name>`` of the source checkout (imported from REPO_ROOT/analyses even when the
    repository root is not on sys.path); ``name`` is "common" or one of ANALYSES."""
    if name not in ("common", *ANALYSES):
        raise ValueError(f"name must be 'common' or one of {list(ANALYSES)}, got {name!r}")
    folder = REPO_ROOT / "analyses"
    if not (folder / "__init__.py").is_file():
        raise FileNotFoundError(f"{folder} does not exist: the demo needs a source checkout of neurodcn")
    package = sys.modules.get("analyses")
    if folder.resolve() not in [Path(p).resolve() for p in getattr(package, "__path__", [])]:
        spec = importlib.util.spec_from_file_location(
            "analyses", folder / "__init__.py", submodule_search_locations=[str(folder)]
        )
        package = importlib.util.module_from_spec(spec)
        sys.modules["analyses"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"analyses.{name}")


def write_readme(out, this_run=(), title: str = "neurodcn demo results", preamble=()) -> Path:
    """Write ``<out>/README.md``: one line per file of the folder (from the results index; ``this_run``:
    the names written by this run, others are marked as older or foreign), then each analysis's summary."""
    common = load_analysis("common")
    out = Path(out)
    index = common.read_index(out)
    own = {
        "README.md": "this file",
        common.INDEX_NAME: "the results index: every file's analysis, description and "
        "creation time, and each analysis's settings and summary (JSON)",
    }
    present = sorted(p.name for p in out.iterdir() if p.is_file() and not p.name.startswith("."))
    present = sorted(set(present) | {"README.md"})
    lines = [f"# {title}", "", *preamble, "", "| file | what it holds |", "|---|---|"]
    for name in present:
        entry = index["files"].get(name)
        if name in own:
            what = own[name]
        elif entry is None:
            what = "not written by the neurodcn analyses"
        else:
            what = f"{entry['description']} ({entry['analysis']})"
            if this_run and name not in this_run:
                what += f"; from an earlier run ({entry['created']})"
        lines.append(f"| `{name}` | {what.replace('|', '/')} |")
    for analysis, run in index["runs"].items():
        lines += [
            "",
            f"## {analysis}",
            "",
            *(f"    {s}" for s in run.get("summary", [])),
            "",
            f"Run {run.get('created')}, {run.get('seconds')} s; settings:",
            f"`{json.dumps(run.get('settings'))}`",
        ]
    return write_text(out / "README.md", "\n".join(lines) + "\n")


def run_demo(out="results", quick: bool = False, checkpoint=None, progress: bool = True, echo=print) -> dict:
    """Run every analysis of ANALYSES into folder ``out`` and write its README.md; returns {analysis: Result}
    (fig3_sigma is skipped for a model without SRF layers, e.g. odenet).

    quick: each script's quick settings (a smoke run), else DEMO_SETTINGS. checkpoint: default the bundled
    dcn-ode. echo: where the summary lines go (print; None for silence)."""
    from neurodcn.cortex.receptive_fields import srf_layers

    if not isinstance(quick, bool):
        raise TypeError(f"quick must be True or False, got {quick!r}")
    common = load_analysis("common")
    echo = echo or (lambda *a, **k: None)
    vc = common.load_cortex(checkpoint, progress=progress)
    card = vc.card or {}
    n_params = common.parameter_count(vc.model)
    test = card.get("test") or {}
    source = checkpoint or common.DEFAULT_CHECKPOINT
    echo(f"neurodcn demo: model {vc.name}, {n_params:,} parameters ({source})")
    if card.get("dataset"):
        accuracy = test.get("accuracy")
        tested = f"; test accuracy {accuracy:.4f} ({test.get('num_images')} images)" if accuracy else ""
        echo(f"  trained on {card['dataset']}{tested}")
    start = time.perf_counter()
    results, skipped = {}, []
    for name in ANALYSES:
        if name == "fig3_sigma" and not srf_layers(vc.model):
            skipped.append(f"fig3_sigma skipped: {vc.name} has no SRF layers (no learned sigma)")
            echo(skipped[-1])
            continue
        options = {} if quick or name not in DEMO_SETTINGS else dict(DEMO_SETTINGS[name])
        results[name] = load_analysis(name).run(
            checkpoint=checkpoint, out=out, quick=quick, progress=progress, **options
        )
        for line in results[name].summary:
            echo(line)
    written = {n for r in results.values() for n in r.files}
    preamble = [
        f"Model `{vc.name}` ({n_params:,} parameters) from `{source}`; stimuli: "
        f"{common.load_stimuli().source}; {'quick' if quick else 'demo'} settings. Open the .nc files with "
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
        "--checkpoint", default=None, help="checkpoint (default: the bundled data/checkpoints/dcn-ode.pt)"
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
