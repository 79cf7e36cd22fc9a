"""Files: datasets to netCDF/zarr with atomic writes, attribute encoding, validation and streaming."""

from neurodcn.io.files import (
    ZarrStreamWriter,
    load_dataset,
    save_dataset,
    stamp_provenance,
    validate_dataset,
)

__all__ = ["save_dataset", "load_dataset", "validate_dataset", "stamp_provenance", "ZarrStreamWriter"]
