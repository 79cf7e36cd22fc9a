import math

import numpy as np
import pytest
import torch
import xarray as xr

from neurodcn.data.stimuli import (
    MEAN_LUMINANCE,
    NATURAL_IMAGES,
    circular_aperture,
    drifting_grating,
    gabor_grid,
    gabor_image,
    grating_grid,
    grating_image,
    natural_images,
    nyquist_frequency,
)
from neurodcn.schema import stimulus_coords


def _peak(img: torch.Tensor) -> tuple[int, int]:
    """Signed (row, col) frequency bin of the largest non-DC FFT magnitude, in cycles per image."""
    spec = torch.fft.fft2(img - img.mean()).abs()
    r, c = np.unravel_index(int(spec.argmax()), spec.shape)
    h, w = img.shape
    return (r if r <= h // 2 else r - h), (c if c <= w // 2 else c - w)


def test_spatial_frequency_is_exact_in_cycles_per_degree():
    # 64 px over 8 deg, 1.5 cycles/deg -> exactly 12 cycles across the image
    img = grating_image(64, visual_degrees=8.0, spatial_frequency=1.5, orientation=0.0, phase=30.0)
    spec = torch.fft.fft2(img - img.mean()).abs()
    assert _peak(img) in {(0, 12), (0, -12)}
    # a pure sinusoid: all energy in the two conjugate bins (Parseval)
    energy = (spec**2).sum()
    assert float((spec[0, 12] ** 2 + spec[0, -12] ** 2) / energy) == pytest.approx(1.0, abs=1e-12)


def test_orientation_of_the_fft_peak():
    # 4 cycles along x and 3 along y (y up): f = 5 cycles / 8 deg, theta = atan2(3, 4)
    theta = math.degrees(math.atan2(3, 4))
    img = grating_image(64, 8.0, 5 / 8, orientation=theta)
    kr, kc = _peak(img)
    assert (kr, kc) in {(-3, 4), (3, -4)}  # rows run downward, so y frequency appears with a minus sign
    assert math.degrees(math.atan2(-kr, kc)) % 180 == pytest.approx(theta)
    # theta = 90: horizontal bars, luminance constant along each row
    horiz = grating_image(32, 4.0, 1.0, orientation=90.0)
    assert torch.allclose(horiz, horiz[:, :1].expand_as(horiz))


@pytest.mark.parametrize("contrast", [0.05, 0.4, 1.0])
def test_michelson_contrast(contrast):
    # odd size: the centre pixel is x = 0 (peak); period 8 px puts a trough 4 px away
    img = grating_image(33, visual_degrees=33.0, spatial_frequency=1 / 8, contrast=contrast)
    lmax, lmin = float(img.max()), float(img.min())
    assert (lmax - lmin) / (lmax + lmin) == pytest.approx(contrast, rel=1e-12)
    # the mean over whole periods (32 px = 4 periods) is the mean luminance
    assert float(img[0, :32].mean()) == pytest.approx(MEAN_LUMINANCE, abs=1e-12)


def test_phase_shifts_the_cosine_at_the_centre():
    img = grating_image(33, 33.0, 1 / 8, phase=90.0, contrast=0.5)
    assert float(img[16, 16]) == pytest.approx(0.5 * (1 + 0.5 * math.cos(math.pi / 2)), abs=1e-12)
    img = grating_image(33, 33.0, 1 / 8, phase=180.0, contrast=0.5)
    assert float(img[16, 16]) == pytest.approx(0.25, abs=1e-12)


def test_aperture_area_is_pi_r_squared():
    # 201 px over 20.1 deg (0.1 deg/px), diameter 16 deg -> r = 80 px
    mask = circular_aperture(201, 20.1, 16.0)
    assert float(mask.sum()) == pytest.approx(math.pi * 80**2, rel=2e-3)
    img = grating_image(201, 20.1, 0.5, aperture_diameter=16.0, phase=45.0)
    outside = img[~mask]
    assert torch.all(outside == MEAN_LUMINANCE)
    assert torch.all(img[mask] != MEAN_LUMINANCE)


def test_gabor_is_grating_times_gaussian_envelope():
    size, vd, sigma = 41, 4.1, 0.6
    grat = grating_image(size, vd, 2.0, orientation=30.0, phase=20.0, contrast=0.8)
    gab = gabor_image(size, vd, 2.0, sigma, orientation=30.0, phase=20.0, contrast=0.8)
    coords = (torch.arange(size, dtype=torch.float64) - 20) * 0.1
    r2 = coords[:, None] ** 2 + coords[None, :] ** 2
    envelope = torch.exp(-r2 / (2 * sigma**2))
    torch.testing.assert_close(gab - 0.5, (grat - 0.5) * envelope, rtol=0, atol=1e-14)


def test_grid_is_full_factorial_with_table():
    images, table = grating_grid(
        16,
        4.0,
        [1.0, 2.0],
        orientations=[0.0, 45.0, 90.0],
        phases=[0.0, 180.0],
        contrasts=[0.5],
        aperture_diameters=[None, 2.0],
    )
    assert images.shape == (24, 3, 16, 16) and images.dtype == torch.float32
    assert len(table) == 24 and table["stimulus_id"].is_unique
    assert torch.all(images[:, 0] == images[:, 1]) and torch.all(images[:, 0] == images[:, 2])
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    # itertools.product order: aperture varies fastest, orientation slowest
    assert list(table["orientation"][:8]) == [0.0] * 8
    assert np.isnan(table["aperture_diameter"][0]) and table["aperture_diameter"][1] == 2.0
    row = table.iloc[13]
    expected = grating_image(
        16,
        4.0,
        row.spatial_frequency,
        row.orientation,
        row.phase,
        row.contrast,
        None if np.isnan(row.aperture_diameter) else row.aperture_diameter,
    )
    torch.testing.assert_close(images[13, 0], expected.float())
    assert table.attrs["units"]["spatial_frequency"] == "cycles/degree"


def test_drifting_grating_phases_cover_one_period():
    frames, table = drifting_grating(16, 4.0, 1.0, n_frames=4, start_phase=10.0)
    assert frames.shape == (4, 3, 16, 16)
    assert list(table["frame"]) == [0, 1, 2, 3]
    np.testing.assert_allclose(table["phase"], [10.0, 100.0, 190.0, 280.0])
    # frames half a period apart are mirror images around the mean
    torch.testing.assert_close(frames[0] - 0.5, -(frames[2] - 0.5), rtol=0, atol=1e-6)


def test_gabor_grid_table_and_peak():
    images, table = gabor_grid(32, 4.0, [2.0], envelope_sigmas=[0.5, 1.0], contrasts=[1.0, 0.5])
    assert images.shape == (4, 3, 32, 32) and len(table) == 4
    assert set(table["envelope_sigma"]) == {0.5, 1.0}
    assert table.attrs["units"]["envelope_sigma"] == "degree"


def test_natural_images_match_skimage():
    from skimage import data

    images, table = natural_images(["camera", "astronaut"], size=512)
    assert images.shape == (2, 3, 512, 512)
    expected = torch.from_numpy(data.camera() / 255.0).float()
    for ch in range(3):
        torch.testing.assert_close(images[0, ch], expected)
    torch.testing.assert_close(images[1], torch.from_numpy(data.astronaut() / 255.0).permute(2, 0, 1).float())
    assert list(table["image_name"]) == ["camera", "astronaut"]
    assert table["licence"].str.contains("CC0|public domain").all()


def test_natural_images_all_resize_and_crop():
    images, table = natural_images(size=(24, 32))
    assert images.shape == (len(NATURAL_IMAGES), 3, 24, 32)
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    assert set(table["image_name"]) == set(NATURAL_IMAGES)
    coffee = table.index[table["image_name"] == "coffee"][0]
    assert (table["original_height"][coffee], table["original_width"][coffee]) == (400, 600)


def test_stimulus_coords_build_a_dataset():
    images, table = grating_grid(8, 2.0, [1.0], contrasts=[0.1, 1.0])
    coords = stimulus_coords(len(table), table)
    ds = xr.Dataset({"mean": ("stimulus", images.mean(dim=(1, 2, 3)).numpy())}, coords=coords)
    assert ds["contrast"].attrs["units"] == "1"
    assert ds["spatial_frequency"].attrs["units"] == "cycles/degree"
    assert list(ds["stimulus_id"].values) == list(table["stimulus_id"])


def test_nyquist_frequency():
    assert nyquist_frequency(32, 8.0) == 2.0
    grating_image(32, 8.0, 2.0)  # exactly at Nyquist is allowed


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(spatial_frequency=-1.0), "spatial_frequency"),
        (dict(spatial_frequency=0.0), "spatial_frequency"),
        (dict(spatial_frequency=2.5), r"Nyquist 2"),
        (dict(contrast=1.5), r"contrast must be a finite number in \[0, 1\], got 1.5"),
        (dict(contrast=-0.1), "contrast"),
        (dict(aperture_diameter=8.5), r"aperture_diameter .* <= 8 deg, got 8.5"),
        (dict(aperture_diameter=0.0), "aperture_diameter"),
        (dict(size=1), "size"),
        (dict(size=(32, 0)), "size"),
        (dict(size=2.5), "size"),
        (dict(visual_degrees=0.0), "visual_degrees"),
        (dict(visual_degrees=float("nan")), "visual_degrees"),
        (dict(center=(5.0, 0.0)), "center"),
    ],
)
def test_grating_rejects_bad_arguments(kwargs, match):
    args = dict(size=32, visual_degrees=8.0, spatial_frequency=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        grating_image(**args)


def test_other_errors():
    with pytest.raises(ValueError, match="envelope_sigma"):
        gabor_image(16, 4.0, 1.0, envelope_sigma=0.0)
    with pytest.raises(ValueError, match="n_frames"):
        drifting_grating(16, 4.0, 1.0, n_frames=0)
    with pytest.raises(ValueError, match="orientations must hold at least one"):
        grating_grid(16, 4.0, [1.0], orientations=[])
    with pytest.raises(ValueError, match="names must be among"):
        natural_images(["lena"])
    with pytest.raises(TypeError, match="contrast"):
        grating_image(16, 4.0, 1.0, contrast="high")
