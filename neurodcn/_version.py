"""The package version: the installed distribution's, or "0+unknown" in a source tree that is not installed."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("neurodcn")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"
