"""xharm: harmonize dense satellite time series held as xarray datacubes."""

from . import accessor as _accessor  # noqa: F401  (registers .harmonize)
from .exceptions import XharmError

__version__ = "0.1.0"
__all__ = ["XharmError", "__version__"]
