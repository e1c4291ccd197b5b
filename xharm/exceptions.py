"""The xharm error tree.

Every error xharm raises on bad input is an :class:`XharmError`. Each class also
subclasses the builtin exception users already catch (``ValueError``, ``KeyError``,
``FileNotFoundError``, ``ImportError``), so ``except ValueError`` keeps working.

Messages follow one pattern: what is at fault (band, dim, file), what was expected
next to what was found, and how to fix it. Build them with :func:`describe`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArgumentError",
    "BandError",
    "CRSError",
    "CatalogError",
    "ConfigError",
    "CorruptProductError",
    "DimensionError",
    "DuplicateBandError",
    "EmptyDataError",
    "GridError",
    "MissingBandError",
    "MissingDependencyError",
    "MissingHintsError",
    "ProductError",
    "ProductNotFoundError",
    "SchedulerError",
    "SensorError",
    "StorageError",
    "UnitsError",
    "UnknownBandError",
    "XharmError",
    "describe",
]


def describe(problem: str, *, expected: Any = None, found: Any = None, fix: str | None = None) -> str:
    """Format an error message as problem / expected / found / fix lines.

    Parameters
    ----------
    problem
        One sentence naming what is wrong and where (band, dim, file).
    expected, found
        What xharm expected and what it found; omitted when ``None``.
    fix
        How the user can fix it.

    Examples
    --------
    >>> print(describe("band 'B13' is unknown", expected="one of B02, B03", found="B13"))
    band 'B13' is unknown
      expected: one of B02, B03
      found:    B13
    """
    lines = [problem]
    if expected is not None:
        lines.append(f"  expected: {expected}")
    if found is not None:
        lines.append(f"  found:    {found}")
    if fix:
        lines.append(f"  fix:      {fix}")
    return "\n".join(lines)


class XharmError(Exception):
    """Base class of every error xharm raises on bad input."""

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return str(self.args[0]) if self.args else self.__class__.__name__


class BandError(XharmError, KeyError):
    """A band is missing, unknown or duplicated."""


class MissingBandError(BandError):
    """A band the operation needs is not in the cube."""


class UnknownBandError(BandError):
    """A band name matches neither a sensor band id nor a STAC common name."""


class DuplicateBandError(BandError, ValueError):
    """The same band appears twice (possibly under two names)."""


class DimensionError(XharmError, ValueError):
    """Dimensions are missing, unexpected, or in an order xharm cannot normalize."""


class CRSError(XharmError, ValueError):
    """A CRS is missing, or two cubes that must share one do not."""


class GridError(XharmError, ValueError):
    """The pixel grid is not regular, or two grids do not nest or align."""


class UnitsError(XharmError, ValueError):
    """Values are in the wrong units (e.g. integer DN where reflectance is expected)."""


class EmptyDataError(XharmError, ValueError):
    """The input has no usable data (zero size, all NaN, empty catalog)."""


class SensorError(XharmError, ValueError):
    """A sensor or platform is unknown, or cannot be inferred and was not given."""


class ProductError(XharmError, ValueError):
    """A product file or its metadata is not what the reader expects."""


class MissingHintsError(ProductError, SensorError):
    """A reader cannot tell several facts (platform, date, baseline) and lists every one at once."""


class ProductNotFoundError(XharmError, FileNotFoundError):
    """A product file or folder does not exist."""


class CorruptProductError(ProductError):
    """A product file exists but cannot be decoded (truncated or not a raster)."""


class CatalogError(XharmError, ValueError):
    """A STAC catalog is empty or its items lack what the reader needs."""


class ConfigError(XharmError, ValueError):
    """A model or training configuration is inconsistent."""


class MissingDependencyError(XharmError, ImportError):
    """An optional dependency is not installed."""


class ArgumentError(XharmError, ValueError):
    """An argument has the wrong type or an impossible value (``batch_size=-3``, ``samples=2.7``)."""


class StorageError(XharmError, OSError):
    """An output cannot be written: no permission, a file in the way, the disk is full."""


class SchedulerError(XharmError, ConnectionError):
    """A Dask scheduler cannot be reached, or a cluster cannot be started."""
