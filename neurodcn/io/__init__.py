"""Files: datasets to netCDF/zarr with atomic writes, attribute encoding and streaming; exports to NWB and
Brain-Score-style assemblies; a lab's spike recordings (NWB, pynapple) in as such assemblies. (The schema,
its validation and provenance stamping live in neurodcn.schema.)"""

from neurodcn.io.assembly import to_assembly
from neurodcn.io.files import ZarrStreamWriter, load_dataset, save_dataset
from neurodcn.io.lab_recordings import from_pynapple, load_lab_nwb
from neurodcn.io.nwb import read_nwb, to_nwb

__all__ = ["save_dataset", "load_dataset", "ZarrStreamWriter", "to_nwb", "read_nwb", "to_assembly",
           "load_lab_nwb", "from_pynapple"]
