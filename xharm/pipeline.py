"""End-to-end jobs built on the patch engine.

:func:`harmonize_zarr` reads a chunked Zarr time series (one group per model input),
runs a model with :func:`xharm.apply.apply_model` and writes the result to Zarr region
by region; rerun with the same arguments after a crash, it skips finished regions and
ends with a store identical to an uninterrupted run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import xarray as xr
from dask.base import tokenize

from .apply import _is_handle, apply_model
from .io.zarr import RegionWriter, open_cube
from .spec import ModelHandle, ModelSpec, PredictFn

__all__ = ["harmonize_zarr"]


def _predict_identity(predict: Any) -> str:
    if _is_handle(predict):
        return tokenize(predict)
    mod, name = getattr(predict, "__module__", "?"), getattr(predict, "__qualname__", type(predict).__name__)
    return f"{mod}.{name}"


def harmonize_zarr(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    spec: ModelSpec,
    predict: PredictFn | ModelHandle,
    *,
    groups: Mapping[str, str] | None = None,
    out_group: str | None = None,
    chunks: Mapping[str, int] | None = None,
    region: Mapping[str, int] | None = None,
    batch_size: int = 16,
    fill: float = 0.0,
    mask: bool = True,
    overwrite: bool = False,
    on_region: Callable[[int, int], None] | None = None,
) -> xr.DataArray:
    """Harmonize a Zarr time series into a Zarr store, region by region, resumably.

    Parameters
    ----------
    src
        Zarr store with one cube per input group of ``spec`` (written by
        :func:`xharm.io.zarr.write_cube`), in groups named after the spec's input groups
        unless mapped by ``groups``.
    dst, out_group
        Output store (and group).
    spec, predict
        The model: its spec and a ``PredictFn`` or (better, for clusters and for resuming)
        a :class:`~xharm.spec.ModelHandle`.
    groups
        ``{input group name: Zarr group in src}``.
    chunks
        Output chunk sizes (also the Zarr chunks), see :func:`~xharm.apply.apply_model`.
    region
        Pixels per written region per dim (rounded to whole chunks); default 4 time
        chunks by the whole scene. Finished regions survive a crash.
    overwrite
        Replace a store written by another job (different arguments) instead of refusing.
    on_region
        Called as ``on_region(index, n_regions)`` after each region is written.

    Returns
    -------
    xarray.DataArray
        The written cube, opened lazily from ``dst``.

    Examples
    --------
    >>> # harmonize_zarr("s2.zarr", "l8like.zarr", spec, FunctionHandle("mypkg.models:load_mgan"))
    """
    groups = dict(groups or {})
    cubes = {g.name: open_cube(src, group=groups.get(g.name, g.name)) for g in spec.inputs}
    out = apply_model(cubes, spec, predict, chunks=chunks, batch_size=batch_size, fill=fill, mask=mask)
    fingerprint = tokenize(
        spec.to_json(),
        _predict_identity(predict),
        os.path.abspath(os.fspath(src)),
        sorted(groups.items()),
        sorted((chunks or {}).items()),
        sorted((region or {}).items()),
        batch_size,
        fill,
        mask,
    )
    writer = RegionWriter(out, dst, fingerprint=fingerprint, group=out_group, region=region)
    n = len(writer.regions)
    for i in writer.run(overwrite=overwrite):
        if on_region is not None:
            on_region(i, n)
    return open_cube(dst, group=out_group)
