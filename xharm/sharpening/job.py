"""``xharm sharpen IN OUT``: sharpen the Sentinel-2 cubes of a Zarr store into another, resumably."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import xarray as xr
from dask.base import tokenize

__all__ = ["sharpen_zarr"]


def sharpen_zarr(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    method: str = "dsen2",
    model: str | None = None,
    bands: Sequence[str] | None = None,
    consistent: bool = False,
    s2_10m: str = "s2_10m",
    s2_20m: str = "s2_20m",
    s2_60m: str | None = None,
    valid: str | None = None,
    out_group: str | None = None,
    chunk: int = 1024,
    time_chunk: int = 1,
    batch_size: int = 16,
    resume: bool = False,
    overwrite: bool = False,
    on_region: Callable[[int, int], None] | None = None,
) -> xr.DataArray:
    """Run :func:`xharm.sharpening.api.sharpen` on the cubes of ``src`` and write the 10 m cube to ``dst``.

    Groups and the ``"GROUP/VAR"`` mask are read as :func:`xharm.jobs.harmonize` reads them;
    the output is written region by region (one time chunk each), so a rerun with
    ``resume=True`` and the same arguments finishes an interrupted job. Without
    ``resume`` or ``overwrite`` an existing ``dst`` is an error.
    """
    from ..exceptions import describe
    from ..io.zarr import RegionWriter, open_cube
    from ..jobs import open_mask, open_var
    from .api import sharpen

    cubes: dict[int, Any] = {10: open_var(src, s2_10m), 20: open_var(src, s2_20m)}
    if s2_60m:
        cubes[60] = open_var(src, s2_60m)
    mask = open_mask(src, valid) if valid is not None else None
    out = sharpen(
        cubes,
        bands=bands,
        method=method,
        model=model,
        consistent=consistent,
        valid=mask,
        chunks={"time": time_chunk, "y": chunk, "x": chunk},
        batch_size=batch_size,
    )
    out = out.drop_vars(
        [c for c in out.coords if c not in ("time", "band", "y", "x", "common_name", "spatial_ref")]
    )
    out = out.chunk({"time": time_chunk, "band": -1, "y": chunk, "x": chunk})
    out.attrs = {k: v for k, v in out.attrs.items() if isinstance(v, (str, int, float, bool))}
    args = (os.path.abspath(os.fspath(src)), method, model, bands, consistent, s2_10m, s2_20m, s2_60m, valid)
    fingerprint = tokenize(
        "xharm.sharpening.job/1", out.attrs.get("model_checksum"), *args, chunk, time_chunk, batch_size
    )
    writer = RegionWriter(out, dst, fingerprint=fingerprint, group=out_group, region={"time": time_chunk})
    if Path(dst).exists() and not overwrite and not (resume and writer.state() == "ready"):
        raise FileExistsError(
            describe(
                f"{dst} already exists",
                fix="pass --resume to finish the same job, --overwrite to replace it, or choose another path",
            )
        )
    n = len(writer.regions)
    done = n - len(writer.pending()) if writer.state() == "ready" else 0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(Zarr V3|Zarr format 3) specification.*")
        for _ in writer.run(overwrite=overwrite):
            done += 1
            if on_region is not None:
                on_region(done, n)
    return open_cube(dst, group=out_group)
