"""CF conventions of the datasets the experiments write: Conventions, units that UDUNITS reads, numeric flags.

Units are parsed by cf_units (UDUNITS-2, the units library the CF conventions name), independently of neurodcn.
"""

import math

import numpy as np
import pytest
import torch

import neurodcn as nd
from neurodcn.cortex.rf_size import theoretical_rf
from neurodcn.data.stimuli import grating_grid
from neurodcn.schema import CONVENTIONS, PIXELS, nodes

cf_units = pytest.importorskip("cf_units")


@pytest.fixture(scope="module")
def datasets():
    model = nd.build_model("dcn-sigma-ji", width=4, seed=0)
    vc = nd.VirtualCortex(model, image_size=16, visual_degrees=4.0, batch_size=16, progress=False)
    images, table = grating_grid(16, 4.0, [1.0], orientations=[0.0, 90.0], phases=[0.0], contrasts=[1.0])
    labels = torch.tensor([1, 2])
    rec = vc.record(images, times=[0.0, 1.0, 2.0], stimulus_table=table)
    curves, fits = vc.physiology(
        orientations=[0.0, 90.0], spatial_frequencies=[0.5, 1.0], phases=[0.0], aperture_diameters=[1.0, 2.0],
        size_contrasts=[1.0], contrasts=[0.2, 0.5, 1.0], times=[1.0, 2.0], blocks=[1],
    )  # fmt: skip
    return {
        "record": rec,
        "receptive_fields": vc.receptive_fields(),
        "contrast_sweep": vc.contrast_sweep(images, labels, contrasts=[0.5, 1.0], per_image=True),
        "pattern_completion": vc.pattern_completion(images, labels, mask_sizes=[0, 4], times=[0.0, 2.0]),
        "physiology": curves,
        "physiology_fits": fits,
        "rf_size": theoretical_rf(model, visual_degrees=4.0, image_width=16),
        "assembly": nd.to_assembly(rec, dict(block1="V1", block2="V2", block3="V4")).to_dataset(promote_attrs=True),
    }


def _variables(ds):
    for path, node in nodes(ds).items():
        for name, var in node.variables.items():
            yield f"{path.rstrip('/')}/{name}", var


def test_conventions_attribute(datasets):
    for name, ds in datasets.items():
        assert ds.attrs["Conventions"] == CONVENTIONS == "CF-1.10", name


def test_every_unit_is_one_udunits_reads(datasets):
    seen = set()
    for name, ds in datasets.items():
        for where, var in _variables(ds):
            if "units" in var.attrs:
                units = var.attrs["units"]
                seen.add(units)
                if units == PIXELS:  # UDUNITS has no pixel: the schema's one unit outside it
                    continue
                cf_units.Unit(units)  # raises ValueError for a unit UDUNITS does not know ("deg", "px", ...)
                if "_deg" in where.rsplit("/", 1)[-1] or where.endswith("/orientation"):
                    assert cf_units.Unit(units).convert(180.0, "radian") == pytest.approx(math.pi), (name, where)
    assert {"degree", "cycles/degree", "ms", "1", "pixel"} <= seen


def test_flag_values_are_numeric_of_the_variable_type(datasets, tmp_path):
    ds = datasets["contrast_sweep"]
    back = nd.load_dataset(nd.save_dataset(ds, tmp_path / "c.nc"))
    for name in ("solver_failed", "correct"):
        for d in (ds, back):
            values, var = d[name].attrs["flag_values"], d[name]
            assert isinstance(values, np.ndarray) and values.dtype == var.dtype, (name, type(values))
            assert len(values) == len(var.attrs["flag_meanings"].split())
    np.testing.assert_array_equal(back["correct"].attrs["flag_values"], [-1, 0, 1])
