"""Visual stimuli in physical units: sinusoidal gratings, Gabor patches and CC0/public-domain natural images.

Geometry. An image of H x W pixels spans ``visual_degrees`` degrees horizontally; pixels are square, so one
pixel is ``visual_degrees / W`` degrees. Positions are measured at pixel centres from the image centre, x to
the right and y **up**, in degrees. Orientation theta (deg) is the direction of the grating's wave vector,
counter-clockwise from +x: theta = 0 gives vertical bars (luminance varies along x), theta = 90 horizontal
bars. Phase phi (deg) is the phase of the cosine at the stimulus centre ``center`` (x, y in degrees).

Luminance. L = 0.5 (1 + contrast * envelope * cos(2 pi f (x' cos theta + y' sin theta) + phi)), with
(x', y') relative to ``center``, f in cycles/degree and contrast the Michelson contrast in [0, 1]. Outside a
circular aperture (diameter in degrees) the image is the mean luminance 0.5. The Nyquist limit is 0.5
cycles/pixel, i.e. 0.5 W / visual_degrees cycles/degree.

Builders return ``(images, table)``: images a float tensor [N, 3, H, W] in [0, 1] (grey replicated to three
channels) and table a pandas DataFrame with a ``stimulus_id`` column and one column per parameter, units in
``table.attrs["units"]``; neurodcn.schema.stimulus_coords turns it into xarray coordinates on the stimulus dim.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from neurodcn.schema import CYCLES_PER_DEGREE, DEGREE, PIXELS
from neurodcn.validate import check_int, check_pair, check_real

__all__ = [
    "MEAN_LUMINANCE",
    "NATURAL_IMAGES",
    "nyquist_frequency",
    "circular_aperture",
    "grating_image",
    "gabor_image",
    "grating_grid",
    "drifting_grating",
    "gabor_grid",
    "natural_images",
]

MEAN_LUMINANCE = 0.5
"""Mean (background) luminance of every synthetic stimulus, in [0, 1] image units."""

NATURAL_IMAGES = {
    "astronaut": "public domain (NASA Great Images; Eileen Collins)",
    "camera": "CC0 (photographer Lav Varshney)",
    "coffee": "CC0 (photographer Rachel Michetti, courtesy of Pikolo Espresso Bar)",
    "chelsea": "CC0 (photographer Stefan van der Walt)",
    "brick": "CC0 (CC0Textures Bricks25)",
    "grass": "CC0 (DeviantArt linolafett, Grass-01)",
    "gravel": "CC0 (CC0Textures Gravel04)",
}
"""The scikit-image sample images we use, with the licence their skimage.data docstrings give."""

_UNITS = {
    "stimulus_id": "1",
    "orientation": DEGREE,
    "spatial_frequency": CYCLES_PER_DEGREE,
    "phase": DEGREE,
    "contrast": "1",
    "aperture_diameter": DEGREE,
    "envelope_sigma": DEGREE,
    "center_x": DEGREE,
    "center_y": DEGREE,
    "visual_degrees": DEGREE,
    "frame": "1",
    "original_height": PIXELS,
    "original_width": PIXELS,
}
_LONG_NAMES = {
    "stimulus_id": "stimulus identifier",
    "kind": "stimulus kind",
    "orientation": "orientation of the wave vector, counter-clockwise from +x (0 = vertical bars)",
    "spatial_frequency": "spatial frequency",
    "phase": "phase of the cosine at the stimulus centre",
    "contrast": "Michelson contrast",
    "aperture_diameter": "circular aperture diameter (NaN: full field)",
    "envelope_sigma": "standard deviation of the Gaussian envelope",
    "center_x": "horizontal position of the stimulus centre from the image centre",
    "center_y": "vertical position of the stimulus centre from the image centre (up)",
    "visual_degrees": "image width in degrees of visual angle",
    "frame": "frame index within a drifting sequence",
    "image_name": "scikit-image sample image",
    "licence": "licence of the image",
    "original_height": "height of the image before cropping and resizing, in pixels",
    "original_width": "width of the image before cropping and resizing, in pixels",
}


def nyquist_frequency(size, visual_degrees: float) -> float:
    """The highest representable spatial frequency, 0.5 cycles/pixel, in cycles/degree."""
    _, w = check_pair("size", size, minimum=2)
    return 0.5 * w / check_real("visual_degrees", visual_degrees, lo=0.0, lo_open=True)


def _coordinates(size, visual_degrees, center):
    """x (right) and y (up) of every pixel centre relative to ``center``, in degrees: two [H, W] tensors."""
    h, w = check_pair("size", size, minimum=2)
    deg_per_px = visual_degrees / w
    cx = check_real("center[0] (x, deg)", center[0])
    cy = check_real("center[1] (y, deg)", center[1])
    if abs(cx) > visual_degrees / 2 or abs(cy) > h * deg_per_px / 2:
        raise ValueError(
            f"center must lie inside the image (|x| <= {visual_degrees / 2:g}, "
            f"|y| <= {h * deg_per_px / 2:g} deg), got {tuple(center)!r}"
        )
    cols = (torch.arange(w, dtype=torch.float64) - (w - 1) / 2) * deg_per_px
    rows = ((h - 1) / 2 - torch.arange(h, dtype=torch.float64)) * deg_per_px
    y, x = torch.meshgrid(rows - cy, cols - cx, indexing="ij")
    return x, y


def circular_aperture(size, visual_degrees: float, diameter: float, center=(0.0, 0.0)) -> torch.Tensor:
    """Boolean mask [H, W]: pixel centres within ``diameter`` / 2 degrees of ``center`` (degrees).

    The circle must lie inside the image.
    """
    h, w = check_pair("size", size, minimum=2)
    vd = check_real("visual_degrees", visual_degrees, lo=0.0, lo_open=True)
    height_deg = h * vd / w
    d = check_real("aperture_diameter", diameter, lo=0.0, lo_open=True)
    x, y = _coordinates((h, w), vd, center)
    cx, cy = float(center[0]), float(center[1])
    if abs(cx) + d / 2 > vd / 2 + 1e-12 or abs(cy) + d / 2 > height_deg / 2 + 1e-12:
        raise ValueError(
            f"aperture_diameter must keep the aperture inside the {vd:g} x {height_deg:g} deg image: with "
            f"center {(cx, cy)!r} it must be <= {2 * min(vd / 2 - abs(cx), height_deg / 2 - abs(cy)):g} deg, "
            f"got {diameter!r}"
        )
    return x * x + y * y <= (d / 2) ** 2


def _carrier(size, visual_degrees, spatial_frequency, orientation, phase, contrast, center):
    vd = check_real("visual_degrees", visual_degrees, lo=0.0, lo_open=True)
    nyq = nyquist_frequency(size, vd)
    f = check_real(
        f"spatial_frequency (cycles/deg; Nyquist {nyq:g} at this size)", spatial_frequency, lo=0.0, hi=nyq, lo_open=True
    )
    theta = math.radians(check_real("orientation (deg)", orientation))
    phi = math.radians(check_real("phase (deg)", phase))
    c = check_real("contrast", contrast, lo=0.0, hi=1.0)
    x, y = _coordinates(size, vd, center)
    return c * torch.cos(2 * math.pi * f * (x * math.cos(theta) + y * math.sin(theta)) + phi), x, y


def grating_image(
    size,
    visual_degrees: float,
    spatial_frequency: float,
    orientation: float = 0.0,
    phase: float = 0.0,
    contrast: float = 1.0,
    aperture_diameter: float | None = None,
    center=(0.0, 0.0),
) -> torch.Tensor:
    """One sinusoidal grating, float64 [H, W] in [0, 1]; see the module docstring for units and conventions.

    ``aperture_diameter`` (deg) None is full field; otherwise the image is mean grey outside the circle.
    """
    modulation, _, _ = _carrier(size, visual_degrees, spatial_frequency, orientation, phase, contrast, center)
    if aperture_diameter is not None:
        modulation = modulation * circular_aperture(size, visual_degrees, aperture_diameter, center)
    return MEAN_LUMINANCE * (1.0 + modulation)


def gabor_image(
    size,
    visual_degrees: float,
    spatial_frequency: float,
    envelope_sigma: float,
    orientation: float = 0.0,
    phase: float = 0.0,
    contrast: float = 1.0,
    center=(0.0, 0.0),
) -> torch.Tensor:
    """One Gabor patch, float64 [H, W] in [0, 1]: the grating times exp(-r^2 / (2 envelope_sigma^2)).

    ``envelope_sigma`` is the SD of the isotropic Gaussian envelope in degrees; r is measured from ``center``.
    """
    s = check_real("envelope_sigma (deg)", envelope_sigma, lo=0.0, lo_open=True)
    modulation, x, y = _carrier(size, visual_degrees, spatial_frequency, orientation, phase, contrast, center)
    return MEAN_LUMINANCE * (1.0 + modulation * torch.exp(-(x * x + y * y) / (2 * s * s)))


def _table(rows: list[dict], prefix: str) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    table.insert(0, "stimulus_id", [f"{prefix}-{i:05d}" for i in range(len(table))])
    table.attrs["units"] = {k: v for k, v in _UNITS.items() if k in table.columns}
    table.attrs["long_names"] = {k: v for k, v in _LONG_NAMES.items() if k in table.columns}
    return table


def _stack(images: list[torch.Tensor], dtype) -> torch.Tensor:
    grey = torch.stack(images).to(dtype).unsqueeze(1)
    return grey.repeat(1, 3, 1, 1)


def _values(name: str, values) -> list:
    vals = list(values) if isinstance(values, Sequence | np.ndarray | torch.Tensor) else [values]
    if not vals:
        raise ValueError(f"{name} must hold at least one value, got an empty sequence")
    return [v.item() if isinstance(v, np.generic | torch.Tensor) else v for v in vals]


def _grid(kind: str, draw, factors, column: str, visual_degrees: float, center, dtype):
    """(images [N, 3, H, W] of ``dtype``, table) of every combination of ``factors`` = (orientations (deg),
    spatial frequencies (cycles/deg), phases (deg), contrasts, values of table column ``column``), in
    itertools.product order; ``draw(ori, sf, phase, contrast, value)`` makes one image [H, W]. A None value of
    ``column`` appears as NaN in the table."""
    names = ("orientations", "spatial_frequencies", "phases", "contrasts", f"{column}s")
    grid = itertools.product(*(_values(n, v) for n, v in zip(names, factors, strict=True)))
    images, rows = [], []
    for ori, sf, ph, con, x in grid:
        images.append(draw(ori, sf, ph, con, x))
        rows.append(
            {
                "kind": kind,
                "orientation": float(ori),
                "spatial_frequency": float(sf),
                "phase": float(ph),
                "contrast": float(con),
                column: float("nan") if x is None else float(x),
                "center_x": float(center[0]),
                "center_y": float(center[1]),
                "visual_degrees": float(visual_degrees),
            }
        )
    return _stack(images, dtype), _table(rows, kind)


def grating_grid(
    size,
    visual_degrees: float,
    spatial_frequencies,
    orientations=(0.0,),
    phases=(0.0,),
    contrasts=(1.0,),
    aperture_diameters=(None,),
    center=(0.0, 0.0),
    dtype=torch.float32,
) -> tuple[torch.Tensor, pd.DataFrame]:
    """All combinations orientations x spatial_frequencies x phases x contrasts x aperture_diameters.

    Returns images [N, 3, H, W] (``dtype``) and their parameter table, in itertools.product order (the last
    factor varies fastest). Aperture None (full field) appears as NaN in the table.
    """
    h, w = check_pair("size", size, minimum=2)

    def draw(ori, sf, ph, con, ap):
        return grating_image((h, w), visual_degrees, sf, ori, ph, con, ap, center)

    factors = (orientations, spatial_frequencies, phases, contrasts, aperture_diameters)
    return _grid("grating", draw, factors, "aperture_diameter", visual_degrees, center, dtype)


def drifting_grating(
    size,
    visual_degrees: float,
    spatial_frequency: float,
    orientation: float = 0.0,
    contrast: float = 1.0,
    aperture_diameter: float | None = None,
    n_frames: int = 8,
    cycles: float = 1.0,
    start_phase: float = 0.0,
    center=(0.0, 0.0),
    dtype=torch.float32,
) -> tuple[torch.Tensor, pd.DataFrame]:
    """A grating drifting along its wave vector: ``n_frames`` frames whose phase steps by 360 cycles/n_frames.

    Frame k has phase start_phase + 360 * cycles * k / n_frames (deg); with cycles = 1 the frames sample one
    full temporal period evenly (as needed for an F1/F0 modulation ratio). Returns frames [n_frames, 3, H, W]
    and the table (with a ``frame`` column).
    """
    n_frames = check_int("n_frames", n_frames, minimum=1)
    cyc = check_real("cycles", cycles, lo=0.0, lo_open=True)
    phases = [check_real("start_phase (deg)", start_phase) + 360.0 * cyc * k / n_frames for k in range(n_frames)]
    images, table = grating_grid(
        size, visual_degrees, [spatial_frequency], [orientation], phases, [contrast], [aperture_diameter], center, dtype
    )
    table.insert(1, "frame", np.arange(n_frames))
    table.attrs["units"]["frame"] = _UNITS["frame"]
    table.attrs["long_names"]["frame"] = _LONG_NAMES["frame"]
    return images, table


def gabor_grid(
    size,
    visual_degrees: float,
    spatial_frequencies,
    envelope_sigmas,
    orientations=(0.0,),
    phases=(0.0,),
    contrasts=(1.0,),
    center=(0.0, 0.0),
    dtype=torch.float32,
) -> tuple[torch.Tensor, pd.DataFrame]:
    """All combinations orientations x spatial_frequencies x phases x contrasts x envelope_sigmas of Gabors.

    Returns images [N, 3, H, W] and their parameter table, in itertools.product order.
    """
    h, w = check_pair("size", size, minimum=2)

    def draw(ori, sf, ph, con, sig):
        return gabor_image((h, w), visual_degrees, sf, sig, ori, ph, con, center)

    factors = (orientations, spatial_frequencies, phases, contrasts, envelope_sigmas)
    return _grid("gabor", draw, factors, "envelope_sigma", visual_degrees, center, dtype)


def natural_images(names=None, size=64, dtype=torch.float32) -> tuple[torch.Tensor, pd.DataFrame]:
    """scikit-image sample photographs (all bundled with skimage, CC0 or public domain; see NATURAL_IMAGES).

    Each image is centre-cropped to the aspect ratio of ``size`` (int or (height, width)) and resized with
    anti-aliasing (skimage.transform.resize, order 1) unless it already has that size; grey images are
    replicated to three channels. Returns images [N, 3, H, W] in [0, 1] and a table with the image name,
    licence and original height/width (pixels).
    """
    from skimage import data as skdata
    from skimage.transform import resize

    chosen = list(NATURAL_IMAGES) if names is None else _values("names", [names] if isinstance(names, str) else names)
    unknown = [n for n in chosen if n not in NATURAL_IMAGES]
    if unknown:
        raise ValueError(f"names must be among {sorted(NATURAL_IMAGES)}, got {unknown!r}")
    h, w = check_pair("size", size, minimum=2)
    images, rows = [], []
    for name in chosen:
        raw = getattr(skdata, name)()
        img = raw.astype(np.float64) / 255.0
        img = np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else img[..., :3]
        rh, rw = img.shape[:2]
        crop_h, crop_w = min(rh, round(rw * h / w)), min(rw, round(rh * w / h))
        top, left = (rh - crop_h) // 2, (rw - crop_w) // 2
        img = img[top : top + crop_h, left : left + crop_w]
        if img.shape[:2] != (h, w):
            img = np.clip(resize(img, (h, w), order=1, anti_aliasing=True), 0.0, 1.0)
        images.append(torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))
        rows.append(
            dict(kind="natural", image_name=name, licence=NATURAL_IMAGES[name], original_height=rh, original_width=rw)
        )
    table = _table(rows, "natural")
    return torch.stack(images).to(dtype), table
