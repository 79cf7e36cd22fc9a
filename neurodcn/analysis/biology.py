"""Published V1 measurements: histograms of single-cell properties (macaque V1) and pRF sizes (human).

The tables ship with the package (``neurodcn/_data/bio``; its README.md gives sources and units); set the
environment variable ``NEURODCN_BIO_DATA`` to a folder holding the same CSVs to use another copy.

Model and biology are compared by :mod:`neurodcn.analysis.property_score` (the Marques et al. 2021
score: binned KS similarity, ceiling, neuron-matched bootstrap) on the histograms loaded here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from neurodcn.data.bundled import bundled_dir
from neurodcn.schema import CYCLES_PER_DEGREE, DEGREE
from neurodcn.validate import check_choice

__all__ = [
    "PROPERTIES",
    "Histogram",
    "bio_data_dir",
    "load_devalois1982_peak_sf",
    "load_schiller1976_sf_bandwidth",
    "load_cavanaugh2002_size",
    "load_prf_size_vs_eccentricity",
    "prf_size",
    "reference_histogram",
    "as_histogram",
]

_DEVALOIS = "De Valois, Albrecht & Thorell 1982, Vision Res 22:545"
_SCHILLER = "Schiller, Finlay & Volman 1976, J Neurophysiol 39:1334"
_CAVANAUGH = "Cavanaugh, Bair & Movshon 2002, J Neurophysiol 88:2530"
_BRAINSCORE = "brain-score/vision brainscore_vision/data/marques2020/data_packaging (as digitised there)"
_PRF_SOURCES = {
    "wandell2015": "Wandell & Winawer 2015 (TiCS)",
    "kay2013": "Kay et al. 2013 (J Neurophysiol 110:481)",
    "kay2013_hermes": "Kay et al. 2013 Fig 7A (read by D. Hermes 2018)",
    "harvey2011": "Harvey & Dumoulin 2011 Fig 4 (recreated)",
}
_CAVANAUGH_UNITS = {
    "surround_suppression_index": "1",
    "grating_summation_field": DEGREE,
    "surround_diameter": DEGREE,
    "surround_to_gsf_ratio": "1",
    "strongly_suppressed": "1",
}


class Histogram(NamedTuple):
    """A binned distribution: ``edges`` [K + 1] increasing, ``counts`` [K] >= 0 with a positive sum."""

    edges: np.ndarray
    counts: np.ndarray


def bio_data_dir() -> Path:
    """The folder holding the biology CSVs: $NEURODCN_BIO_DATA, else the bundled tables."""
    env = os.environ.get("NEURODCN_BIO_DATA")
    if not env:
        return bundled_dir("bio")
    folder = Path(env)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"biology tables not found at {folder} (NEURODCN_BIO_DATA): unset it to use the bundled tables or "
            "point it at a folder holding the CSVs"
        )
    return folder


def _read(name: str) -> pd.DataFrame:
    path = bio_data_dir() / name
    if not path.is_file():
        raise FileNotFoundError(f"biology table {name} is missing from {path.parent}")
    return pd.read_csv(path)


def _tidy(wide: pd.DataFrame, groups: list[str], prop: str, units: str, attrs: dict) -> pd.DataFrame:
    if not (wide[groups].sum(axis=1) == wide["total"]).all():
        raise ValueError(f"{attrs['file']}: per-group counts do not add up to the total column")
    tidy = wide.melt(id_vars=["bin_lo", "bin_hi"], value_vars=groups, var_name="group", value_name="count")
    tidy.insert(0, "property", prop)
    tidy["units"] = units
    tidy = tidy[["property", "group", "bin_lo", "bin_hi", "count", "units"]]
    tidy.attrs = dict(attrs, n=int(tidy["count"].sum()))
    return tidy


def load_devalois1982_peak_sf() -> pd.DataFrame:
    """Peak spatial frequency of macaque V1 cells (cycles/deg), tidy: one row per bin and group.

    Columns property, group (simple_foveal, complex_foveal, simple_parafoveal, complex_parafoveal), bin_lo,
    bin_hi, count, units; attrs citation, source, file, n (363).
    """
    wide = _read("devalois1982b_peak_sf_hist.csv").rename(columns={"bin_lo_cpd": "bin_lo", "bin_hi_cpd": "bin_hi"})
    groups = ["simple_foveal", "complex_foveal", "simple_parafoveal", "complex_parafoveal"]
    attrs = dict(citation=_DEVALOIS, source=_BRAINSCORE, file="devalois1982b_peak_sf_hist.csv")
    return _tidy(wide, groups, "peak_spatial_frequency", CYCLES_PER_DEGREE, attrs)


def load_schiller1976_sf_bandwidth() -> pd.DataFrame:
    """Spatial-frequency bandwidth of macaque V1 cells, percent (100 f_low / f_high at 1/sqrt 2 of the peak).

    Tidy like :func:`load_devalois1982_peak_sf`, groups simple and complex; attrs n (73 measured) and
    n_recorded (87; 14 cells were not SF selective).
    """
    wide = _read("schiller1976c_sf_bandwidth_hist.csv")
    attrs = dict(citation=_SCHILLER, source=_BRAINSCORE, file="schiller1976c_sf_bandwidth_hist.csv", n_recorded=87)
    return _tidy(wide, ["simple", "complex"], "spatial_frequency_bandwidth", "percent", attrs)


def load_cavanaugh2002_size() -> pd.DataFrame:
    """Size tuning of macaque V1 cells: one row per property and bin (group "all").

    Properties grating_summation_field and surround_diameter (deg, diameters), surround_to_gsf_ratio,
    surround_suppression_index and strongly_suppressed (dimensionless); a ``note`` column gives each n.
    """
    raw = _read("cavanaugh2002a_size_hist.csv")
    unknown = set(raw["property"]) - set(_CAVANAUGH_UNITS)
    if unknown:
        raise ValueError(f"cavanaugh2002a_size_hist.csv: unexpected properties {sorted(unknown)}")
    tidy = raw.assign(group="all", units=raw["property"].map(_CAVANAUGH_UNITS))
    tidy = tidy[["property", "group", "bin_lo", "bin_hi", "count", "units", "note"]]
    tidy.attrs = dict(citation=_CAVANAUGH, source=_BRAINSCORE, file="cavanaugh2002a_size_hist.csv")
    return tidy


def load_prf_size_vs_eccentricity() -> pd.DataFrame:
    """Human pRF size = slope * eccentricity + intercept (deg) per visual area and source.

    Columns source_key (wandell2015, kay2013, kay2013_hermes, harvey2011), source, area, slope, intercept,
    unit, where_found.
    """
    table = _read("prf_size_vs_eccentricity.csv")
    keys = {v: k for k, v in _PRF_SOURCES.items()}
    if not set(table["source"]) <= set(keys):
        raise ValueError(f"prf_size_vs_eccentricity.csv: unexpected sources {sorted(set(table['source']) - set(keys))}")
    table.insert(0, "source_key", table["source"].map(keys))
    table.attrs = dict(file="prf_size_vs_eccentricity.csv", units=DEGREE)
    return table


def prf_size(eccentricity, area: str = "V1", source: str = "wandell2015") -> np.ndarray:
    """Human pRF size (Gaussian SD, deg) at ``eccentricity`` (deg, >= 0) for one area and source key."""
    ecc = np.asarray(eccentricity, dtype=np.float64)
    if not np.all(np.isfinite(ecc)) or np.any(ecc < 0):
        raise ValueError(f"eccentricity must be finite and >= 0 deg, got {eccentricity!r}")
    check_choice("source", source, sorted(_PRF_SOURCES))
    table = load_prf_size_vs_eccentricity()
    rows = table[(table["source_key"] == source) & (table["area"] == area)]
    if rows.empty:
        areas = sorted(table.loc[table["source_key"] == source, "area"])
        raise ValueError(f"area must be one of {areas} for source {source!r}, got {area!r}")
    row = rows.iloc[0]
    return row["slope"] * ecc + row["intercept"]


PROPERTIES = {
    "peak_spatial_frequency": dict(
        loader=load_devalois1982_peak_sf,
        units=CYCLES_PER_DEGREE,
        scale="log",
        long_name="preferred (peak) spatial frequency",
    ),
    "spatial_frequency_bandwidth": dict(
        loader=load_schiller1976_sf_bandwidth,
        units="percent",
        scale="linear",
        long_name="spatial frequency bandwidth (100 f_low / f_high)",
    ),
    "grating_summation_field": dict(
        loader=load_cavanaugh2002_size, units=DEGREE, scale="log", long_name="grating summation field diameter"
    ),
    "surround_diameter": dict(
        loader=load_cavanaugh2002_size, units=DEGREE, scale="log", long_name="suppressive surround diameter"
    ),
    "surround_to_gsf_ratio": dict(
        loader=load_cavanaugh2002_size,
        units="1",
        scale="log",
        long_name="surround diameter / grating summation field diameter",
    ),
    "surround_suppression_index": dict(
        loader=load_cavanaugh2002_size, units="1", scale="linear", long_name="surround suppression index"
    ),
}
"""Published V1 properties: loader, units, scale of the bins (log: octave-spaced, geometric bin centres),
long name."""


def _check_property(name) -> dict:
    return PROPERTIES[check_choice("property_name", name, sorted(PROPERTIES))]


def reference_histogram(property_name: str) -> tuple[Histogram, pd.DataFrame]:
    """The published histogram of a property (all groups summed) and its tidy source table."""
    meta = _check_property(property_name)
    table = meta["loader"]()
    rows = table[table["property"] == property_name]
    per_bin = rows.groupby(["bin_lo", "bin_hi"], sort=True)["count"].sum().reset_index()
    return as_histogram(per_bin), table


def as_histogram(ref) -> Histogram:
    """A validated Histogram from a Histogram, an (edges, counts) pair or a DataFrame with bin_lo, bin_hi and
    count columns (contiguous bins)."""
    if isinstance(ref, pd.DataFrame):
        if not {"bin_lo", "bin_hi", "count"} <= set(ref.columns):
            raise ValueError(f"a histogram DataFrame needs bin_lo, bin_hi and count columns, got {list(ref.columns)}")
        ref = ref.sort_values("bin_lo")
        lo, hi = ref["bin_lo"].to_numpy(float), ref["bin_hi"].to_numpy(float)
        if not np.allclose(lo[1:], hi[:-1]):
            raise ValueError("histogram bins must be contiguous (each bin_lo equal to the previous bin_hi)")
        ref = (np.append(lo, hi[-1]), ref["count"].to_numpy(float))
    edges, counts = (np.asarray(v, dtype=np.float64) for v in ref)
    if edges.ndim != 1 or counts.ndim != 1 or edges.size != counts.size + 1 or counts.size < 1:
        raise ValueError(f"histogram needs edges [K + 1] and counts [K], got shapes {edges.shape}, {counts.shape}")
    if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
        raise ValueError(f"histogram edges must be finite and strictly increasing, got {edges.tolist()}")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0) or counts.sum() <= 0:
        raise ValueError(f"histogram counts must be finite, >= 0, with a positive sum, got {counts.tolist()}")
    return Histogram(edges, counts)
