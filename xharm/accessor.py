"""The ``.harmonize`` accessor: binds xharm's public functions to xarray objects.

It holds no state and no logic: each method calls the public function with the
object as first argument, and carries that function's docstring.

Examples
--------
>>> import xharm  # registers the accessor
>>> cube = s2.harmonize.canonical("sentinel-2b")              # doctest: +SKIP
>>> l8like = cube.harmonize.to_landsat(method="hls")          # doctest: +SKIP
>>> scores = l8like.harmonize.metrics(l8_reference)           # doctest: +SKIP
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import xarray as xr

from . import _lazy

__all__ = ["HarmonizeAccessor", "HarmonizeDatasetAccessor"]


def _bind(name: str) -> property:
    """A property returning public function ``name`` (:mod:`xharm._lazy`) with the object bound first.

    The module is imported on first use (so ``import xharm`` stays light), and the
    returned callable carries the function's own name and docstring.
    """
    module_name, func_name = _lazy.where(name)

    def getter(self: _Base) -> Callable[..., Any]:
        func = _lazy.load(name)
        return functools.wraps(func)(functools.partial(func, self._obj))

    return property(getter, doc=f"Bound :func:`{module_name}.{func_name}`, the object passed first.")


class _Base:
    def __init__(self, obj: xr.DataArray | xr.Dataset) -> None:
        self._obj = obj

    canonical = _bind("to_canonical")


@xr.register_dataarray_accessor("harmonize")
class HarmonizeAccessor(_Base):
    """``DataArray.harmonize``: xharm's functions bound to a cube."""

    validate = _bind("validate_cube")
    to_dataset = _bind("from_canonical")
    to_landsat = _bind("to_landsat")
    metrics = _bind("metrics")
    valid_mask = _bind("valid_mask")
    dense_series = _bind("dense_series")
    sharpen = _bind("sharpen")


@xr.register_dataset_accessor("harmonize")
class HarmonizeDatasetAccessor(_Base):
    """``Dataset.harmonize``: xharm's functions bound to an odc-stac style Dataset."""
