"""Even kernels with "same" padding drift; a CC layer at scale 1 stays centred (CC paper Sec. 4, Fig. 6).

A white cross is blurred ``passes`` times (default 20) by the same continuous Gaussian (sigma 1 px, support 4
px) in two ways: (a) the 4 x 4 discrete kernel it gives at the half-integer offsets -1.5 .. 1.5 (the centre of
an even kernel lies between pixels), applied by F.conv2d(padding="same"); (b) a ContinuousConv2d at scale 1,
which samples the kernel at the offsets m - g_n of the projected grid (Eq. 2: g_n = n at scale 1). Both are
normalised to sum 1. The intensity centroid (pixels) is recorded after every pass.

Analytic drift of (a): for an even kernel K, PyTorch's "same" pads (K - 1) // 2 = 1 pixel before and K // 2 = 2
after, so output pixel i is a weighted mean of inputs i - 1 .. i + 2, centred on i + 0.5: the image moves by
-0.5 px (towards index 0) along each axis per pass. (b) samples offsets -2 .. 1 of an open support |d| < 2, so
its taps are K(-1), K(0), K(1) (K(-2) = 0): symmetric, no drift.

Writes <out>/cc_misalignment.nc and .png.

    python analyses/cc_misalignment.py [--quick] [--seed 0] [--out results/cc_misalignment]
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import xarray as xr
from matplotlib.figure import Figure

import neurodcn as nd
from neurodcn.analysis.plots import save_figure
from neurodcn.schema import stamp_provenance

try:
    from analyses.cc_kernels import GaussianKernel
except ImportError:  # run as a script: analyses/ itself is on sys.path
    from cc_kernels import GaussianKernel

__all__ = ["cross_image", "centroid", "even_kernel", "run", "main", "ANALYTIC_DRIFT_PX"]

ANALYTIC_DRIFT_PX = -0.5
"""Centroid shift per pass of a 4 x 4 kernel symmetric about its centre under F.conv2d(padding="same")."""


def cross_image(size: int = 81, arm: int = 5, width: int = 1) -> torch.Tensor:
    """A white cross on black, float64 [1, 1, size, size]: bars 2 arm + 1 long and ``width`` px wide, centred on
    pixel (size // 2, size // 2) (size odd, so the cross is symmetric about it)."""
    for name, v in (("size", size), ("arm", arm), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if size % 2 == 0 or 2 * arm + 1 > size or width % 2 == 0:
        raise ValueError(f"need an odd size, an odd width and 2 arm + 1 <= size; got size {size}, arm {arm}, "
                         f"width {width}")
    x = torch.zeros(1, 1, size, size, dtype=torch.float64)
    c, h = size // 2, width // 2
    x[..., c - h:c + h + 1, c - arm:c + arm + 1] = 1.0
    x[..., c - arm:c + arm + 1, c - h:c + h + 1] = 1.0
    return x


def centroid(x: torch.Tensor) -> tuple[float, float]:
    """Intensity centroid (row, column) in pixels of a non-negative image [..., H, W] (summed over leading dims)."""
    img = x.reshape(-1, *x.shape[-2:]).sum(0).double()
    total = img.sum()
    if not total > 0:
        raise ValueError("centroid needs an image with positive total intensity")
    rows = torch.arange(img.shape[0], dtype=torch.float64)
    cols = torch.arange(img.shape[1], dtype=torch.float64)
    return float((img.sum(1) * rows).sum() / total), float((img.sum(0) * cols).sum() / total)


def even_kernel(kernel: GaussianKernel) -> torch.Tensor:
    """The 4 x 4 discrete kernel of a continuous one: K at offsets -1.5, -0.5, 0.5, 1.5 per axis, summing to 1,
    as a conv2d weight float64 [1, 1, 4, 4]."""
    d = torch.arange(4, dtype=torch.float64) - 1.5
    w = kernel(d[:, None], d[None, :])[..., 0, 0]
    return (w / w.sum())[None, None]


def run(out="results/cc_misalignment", quick: bool = False, seed: int = 0, passes: int = 20, sigma: float = 1.0,
        size: int = 81) -> xr.Dataset:
    """Blur a cross ``passes`` times both ways, track the centroid; write .nc + .png to out. Deterministic: seed
    and quick (the same computation; it takes well under a second) are recorded only."""
    if isinstance(passes, bool) or not isinstance(passes, int) or passes < 1:
        raise ValueError(f"passes must be a positive integer, got {passes!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    kernel = GaussianKernel(sigma, support=4, normalize="window")
    weight = even_kernel(kernel)
    cc = nd.ContinuousConv2d(1, 1, kernel=kernel, padding="zeros", bias=False).double()
    image = cross_image(size)
    methods = ("conv2d_same", "cc")
    cy, cx = np.empty((2, passes + 1)), np.empty((2, passes + 1))
    finals = np.empty((2, size, size))
    with torch.no_grad():
        for m, method in enumerate(methods):
            x = image
            cy[m, 0], cx[m, 0] = centroid(x)
            for p in range(1, passes + 1):
                if method == "conv2d_same":
                    with warnings.catch_warnings():  # "same" with an even kernel pads a copy: what we measure
                        warnings.simplefilter("ignore", UserWarning)
                        x = F.conv2d(x, weight, padding="same")
                else:
                    x = cc(x)
                cy[m, p], cx[m, p] = centroid(x)
            finals[m] = x[0, 0].numpy()
    px = {"units": "px"}
    ds = xr.Dataset(
        {
            "centroid_y": (("method", "pass"), cy, dict(px, long_name="intensity centroid, row")),
            "centroid_x": (("method", "pass"), cx, dict(px, long_name="intensity centroid, column")),
            "shift_y": (("method", "pass"), cy - cy[:, :1], dict(px, long_name="centroid shift since pass 0, rows")),
            "shift_x": (("method", "pass"), cx - cx[:, :1],
                        dict(px, long_name="centroid shift since pass 0, columns")),
            "drift_per_pass_y": (("method",), (cy[:, -1] - cy[:, 0]) / passes,
                                 dict(px, long_name="mean centroid shift per pass, rows")),
            "drift_per_pass_x": (("method",), (cx[:, -1] - cx[:, 0]) / passes,
                                 dict(px, long_name="mean centroid shift per pass, columns")),
            "image": (("method", "y", "x"), finals, {"long_name": f"image after {passes} passes", "units": "1"}),
            "input_image": (("y", "x"), image[0, 0].numpy(), {"long_name": "input cross", "units": "1"}),
            "discrete_kernel": (("ky", "kx"), weight[0, 0].numpy(),
                                {"long_name": "4 x 4 kernel of the conv2d path", "units": "1"}),
        },
        coords={
            "method": ("method", list(methods), {"long_name": "how the kernel is applied", "units": "1"}),
            "pass": ("pass", np.arange(passes + 1), {"long_name": "number of blur passes", "units": "1"}),
            "y": ("y", np.arange(size), {"long_name": "image row", "units": "px"}),
            "x": ("x", np.arange(size), {"long_name": "image column", "units": "px"}),
            "ky": ("ky", np.arange(4) - 1.5, {"long_name": "kernel tap offset from its centre, rows", "units": "px"}),
            "kx": ("kx", np.arange(4) - 1.5,
                   {"long_name": "kernel tap offset from its centre, columns", "units": "px"}),
        },
    )
    ds = stamp_provenance(ds, "cc_misalignment", "ContinuousConv2d(gaussian) vs F.conv2d(padding='same')",
                          model_config={"sigma_px": sigma, "support_px": 4, "padding": "zeros"},
                          title="Misalignment of an even kernel with 'same' padding (CC paper Fig. 6)")
    ds.attrs.update(quick=int(quick), seed=seed, passes=passes, analytic_drift_conv2d_px=ANALYTIC_DRIFT_PX,
                    analytic_drift_cc_px=0.0)
    nd.save_dataset(ds, out / "cc_misalignment.nc", overwrite=True)
    save_figure(plot(ds), out / "cc_misalignment.png")
    return ds


def plot(ds: xr.Dataset) -> Figure:
    """Input, the two images after all passes (centroid marked), and the centroid shift against passes."""
    fig = Figure(figsize=(13, 3.4), layout="constrained")
    axes = fig.subplots(1, 4)
    c = ds.sizes["y"] // 2
    axes[0].imshow(ds["input_image"].values, cmap="gray")
    axes[0].set_title("input", fontsize=9)
    for ax, m in zip(axes[1:3], ds["method"].values, strict=True):
        ax.imshow(ds["image"].sel({"method": m}).values, cmap="gray")
        ax.plot(ds["centroid_x"].sel({"method": m})[-1], ds["centroid_y"].sel({"method": m})[-1], "r+", ms=10)
        ax.set_title(f"{m}, {ds.sizes['pass'] - 1} passes", fontsize=9)
    for ax in axes[:3]:
        ax.axhline(c, color="c", lw=0.5)
        ax.axvline(c, color="c", lw=0.5)
        ax.set_xlabel("x (px)")
        ax.set_ylabel("y (px)")
    for m in ds["method"].values:
        axes[3].plot(ds["pass"], ds["shift_y"].sel({"method": m}), label=f"{m} (rows)")
        axes[3].plot(ds["pass"], ds["shift_x"].sel({"method": m}), "--", label=f"{m} (columns)")
    axes[3].set_xlabel("pass")
    axes[3].set_ylabel("centroid shift (px)")
    axes[3].legend(fontsize=7)
    return fig


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="accepted for symmetry; the run is already quick")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="results/cc_misalignment")
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args(argv)
    ds = run(args.out, quick=args.quick, seed=args.seed, passes=args.passes)
    for i, m in enumerate(ds["method"].values):
        print(f"{m}: centroid drift per pass {float(ds.drift_per_pass_y[i]):+.6f} px (rows), "
              f"{float(ds.drift_per_pass_x[i]):+.6f} px (columns)")
    print(f"wrote {Path(args.out) / 'cc_misalignment.nc'} and .png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
