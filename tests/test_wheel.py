"""The installed package stands alone: build a wheel, install it into a fresh venv (torch pinned as the
Makefile's TORCH, passed as $NEURODCN_TORCH), and from a folder outside the checkout run `neurodcn demo`,
VirtualCortex.pretrained(), one recording, to_nwb (read back with pynwb), the biology tables, and the README's
examples. pip's cache is reused; it may reach the package index for the dependencies."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from test_readme import run_readme

REPO = Path(__file__).resolve().parents[1]
SKIP = shutil.ignore_patterns(
    ".git", ".venv", "results", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "shared"
)
CHECK = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import pynwb

    import neurodcn as nd
    from neurodcn.analysis.biology import load_devalois1982_peak_sf

    assert Path(nd.__file__).is_relative_to(Path(sys.prefix)), nd.__file__  # the wheel, not the checkout
    vc = nd.VirtualCortex.pretrained("dcn-ode", progress=False)
    stim = nd.load_stimuli("cifar10-demo", num_images=4)
    ds = vc.record(stim.images, times=[0, 1, 2], stimulus_table=stim.table)
    nd.to_nwb(ds, "check.nwb")  # the README writes h.nwb in the same folder
    with pynwb.NWBHDF5IO("check.nwb", "r") as io:
        assert io.read().processing[nd.io.nwb.MODULE_NAME] is not None
    assert load_devalois1982_peak_sf()["count"].sum() > 0
    print("wheel ok", vc.name, dict(ds.sizes)["stimulus"])
    """
)


def _run(args, cwd, env, timeout=900):
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    return result


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_demo_and_the_readme_from_elsewhere(tmp_path):
    torch_pin = os.environ.get("NEURODCN_TORCH") or f"torch=={torch.__version__.split('+')[0]}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["MPLBACKEND"] = "Agg"
    source = tmp_path / "source"  # a copy, so the build writes nothing into the checkout
    shutil.copytree(REPO, source, ignore=SKIP)
    _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist")],
         source, env)
    (wheel,) = (tmp_path / "dist").glob("neurodcn-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    python = str(venv / "bin" / "python")
    _run([python, "-m", "pip", "install", "--quiet", torch_pin], tmp_path, env)
    _run([python, "-m", "pip", "install", "--quiet", f"{wheel}[nwb,compare]"], tmp_path, env)  # the README uses both
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    demo = _run([str(venv / "bin" / "neurodcn"), "demo", "--quick", "--out", "res", "--no-progress"], elsewhere, env)
    assert "wrote 18 files" in demo.stdout and (elsewhere / "res" / "fig5_contrast.png").is_file()
    (elsewhere / "check.py").write_text(CHECK)
    assert "wheel ok dcn-ode 4" in _run([python, "check.py"], elsewhere, env).stdout
    readme = run_readme(python, elsewhere, env)
    assert readme.returncode == 0, readme.stderr[-4000:]
