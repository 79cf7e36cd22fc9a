"""The optional libraries of the comparison (pip install "neurodcn[compare]")."""

from __future__ import annotations

import importlib

__all__ = ["optional"]


def optional(module: str):
    """Import ``module`` (rsatoolbox or a scikit-learn module); ImportError saying how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(
            f"{module} is needed for the model-brain comparison: pip install \"neurodcn[compare]\" "
            "(rsatoolbox and scikit-learn)"
        ) from exc
