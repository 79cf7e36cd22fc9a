"""Files: datasets to netCDF/zarr with atomic writes, attribute encoding, validation and streaming; exports to
NWB and Brain-Score-style assemblies."""

from neurodcn.io.assembly import to_assembly
from neurodcn.io.files import (
    ZarrStreamWriter,
    load_dataset,
    save_dataset,
    stamp_provenance,
    validate_dataset,
)
from neurodcn.io.nwb import read_nwb, to_nwb

__all__ = ["save_dataset", "load_dataset", "validate_dataset", "stamp_provenance", "ZarrStreamWriter"]
__all__ += ["to_nwb", "read_nwb", "to_assembly"]
