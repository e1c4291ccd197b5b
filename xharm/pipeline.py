"""``to_landsat``: a Sentinel-2 time series to Landsat-8/9 OLI-like 30 m images, lazily.

The MGAN runs through the patch engine (:func:`xharm.engine.apply.apply_model`); the physical
baselines (HLS, TRA, resample) through :mod:`xharm.baselines`. Every method writes on the
grid of :func:`xharm.core.grid.output_grid`. Zarr-to-Zarr jobs are in :mod:`xharm.jobs`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import xarray as xr

from . import baselines
from .core.cube import processing_level, product_attrs, validate
from .core.grid import grid_at, mask_to_grid
from .engine.apply import apply_model
from .exceptions import DimensionError, SensorError, describe
from .spec import ModelSpec
from .uncertainty import mc_dropout_std
from .validate import align_mask, check_reflectance, positive_int, require_level

__all__ = ["METHODS", "to_landsat"]


# --------------------------------------------------------------------------- to_landsat

METHODS = ("mgan", "hls", "tra", "resample")


def to_landsat(
    s2: xr.DataArray | Mapping[Any, xr.DataArray],
    s2_20m: xr.DataArray | None = None,
    *,
    method: str = "mgan",
    model: Any = None,
    valid: xr.DataArray | None = None,
    chunks: Mapping[str, int] | None = None,
    batch_size: int = 16,
    uncertainty: bool = False,
    samples: int = 10,
    **baseline_kwargs: Any,
) -> xr.DataArray:
    """Harmonize a Sentinel-2 time series to Landsat-8/9 OLI-like reflectance at 30 m.

    Lazy: Dask input gives a Dask-backed cube and nothing runs until it is computed.

    Parameters
    ----------
    s2
        The Sentinel-2 10 m canonical cube (B02, B03, B04, B08), or a mapping
        ``{10: cube10, 20: cube20}``. For ``"mgan"`` also a single 10 m stack of every
        band (e.g. the 13 bands resampled to 10 m): the 20 m bands are averaged over 2 x 2
        pixels onto the nested 20 m grid (restoring their native pixels). The baselines
        read any single cube that holds their bands (10, 20, 30 or 60 m). The footprint
        must hold one whole 60 x 60 m block of the S2 tile lattice (6 x 6 px of 10 m when
        aligned with it; 12 x 12 px anywhere).
    s2_20m
        The 20 m cube (B11, B12; B8A for the HLS methods) when ``s2`` is a single cube.
    method
        ``"mgan"`` (the model, default), ``"hls"`` (NASA HLS v2.0), ``"tra"`` (per-pixel
        regression on Landsat dates) or ``"resample"`` (30 m regrid only); see
        :func:`xharm.baselines.to_landsat` for the baselines' options.
    model
        ``"mgan"`` only: a bundled model name (default ``"mgan-starter"``), a model folder,
        or a :class:`~xharm.zoo.ZooHandle`.
    valid
        Boolean clear mask of the S2 dates ``(time, y, x)`` on the 10, 20 or 30 m grid. It is
        brought to 30 m (clear only where every sub-pixel is clear), attached as the
        ``valid`` coordinate, and output pixels that are not clear are NaN: clouds stay
        masked, no pixel is invented. With ``"mgan"`` the input pixels that are not clear
        are masked too before the generator sees them (brought to each input grid), so a
        cloud does not bleed into the clear pixels around it through the U-Net's
        receptive field.
    chunks
        ``"mgan"`` only: output chunks in 30 m px, e.g. ``{"time": 1, "y": 512, "x": 512}``.
    batch_size
        ``"mgan"`` only: patches per model call.
    uncertainty
        ``"mgan"`` only: also run the model ``samples`` times with Monte-Carlo dropout and
        attach the per-pixel standard deviation of those samples (reflectance units,
        ``(time, band, y, x)``, NaN where the output is NaN) as the non-index coordinate
        ``uncertainty``; ``.sel``/``.isel``/``.where`` carry it along. The values are still
        the deterministic (dropout off) prediction. See :mod:`xharm.uncertainty`.
    samples
        Number of Monte-Carlo dropout samples for ``uncertainty`` (>= 2; cost: that many
        extra model runs).
    **baseline_kwargs
        Passed to :func:`xharm.baselines.to_landsat` for the other methods.

    Returns
    -------
    xarray.DataArray
        Canonical 30 m cube with Landsat band ids (B2..B7) and common names, CRS and
        coordinates of the S2 footprint, and ``attrs`` recording the method and, for the
        MGAN, the model name, version and weight checksum.

    Examples
    --------
    >>> from xharm import simulate
    >>> ps = simulate.scene("2021-06-15", size_km=2.4, seed=1, cloud_cover=0.0)
    >>> l8like = to_landsat({10: ps.s2_10m, 20: ps.s2_20m}, method="hls")
    >>> l8like.band.values.tolist(), l8like.attrs["harmonization_method"]
    (['B2', 'B3', 'B4', 'B5', 'B6', 'B7'], 'hls')
    """
    if method not in METHODS:
        raise SensorError(describe(f"unknown method {method!r}", expected=", ".join(METHODS), found=method))
    if uncertainty and method != "mgan":
        raise SensorError(
            describe(
                "uncertainty needs a model with dropout",
                expected="method='mgan'",
                found=method,
                fix="drop uncertainty=True, or use method='mgan'",
            )
        )
    batch_size = positive_int(batch_size, "batch_size", fix="patches per model call, e.g. 16")
    if uncertainty:
        samples = positive_int(samples, "samples", fix="Monte-Carlo samples, e.g. 10")  # >= 2: uncertainty
    s2, s2_20m = _checked_inputs(s2, s2_20m, valid)
    if valid is not None:
        first = next(iter(s2.values())) if isinstance(s2, Mapping) else s2
        valid = align_mask(valid, first)
    if method != "mgan":
        return baselines.to_landsat(s2, s2_20m, method=method, valid=valid, **baseline_kwargs)  # type: ignore[arg-type]
    if baseline_kwargs:
        raise DimensionError(
            describe(
                "options of the baselines were given to the MGAN",
                found=sorted(baseline_kwargs),
                fix="drop them, or choose method='hls' / 'tra'",
            )
        )
    from .zoo import open_model  # the JAX boundary: the zoo loads Flax

    handle, spec = open_model(model)
    cubes = _s2_groups(s2, s2_20m, spec)
    for g in spec.inputs:
        validate(cubes[g.name], bands=g.bands, what=f"Sentinel-2 {g.resolution:g} m cube")
        require_level(
            dict(spec.meta).get("processing_level"),
            processing_level(cubes[g.name]),
            model=os.path.basename(handle.name_or_path),
            fix="pass Sentinel-2 L2A surface reflectance, use method='hls' (physics only: the output keeps "
            "the input's level), or a model trained on this level (model=...)",
        )
    if valid is not None:
        cubes = {name: c.where(mask_to_grid(valid, c.odc.geobox)) for name, c in cubes.items()}
    out = apply_model(cubes, spec, handle, chunks=chunks, batch_size=batch_size)

    first = cubes[spec.inputs[0].name]
    attrs = product_attrs(
        first.attrs,
        sensor=spec.sensor_out,
        method="mgan",
        resolution=spec.output.resolution,
        model=os.path.basename(handle.name_or_path),
        model_architecture=spec.name,
        model_version=spec.version,
        model_checksum=str(spec.checksum),
        xharm_model=out.attrs.get("xharm_model", spec.to_json()),
    )
    if uncertainty:
        std = mc_dropout_std(cubes, spec, handle, samples=samples, chunks=chunks, batch_size=batch_size)
        out = out.assign_coords(uncertainty=(out.dims, std.data))
        attrs.update(uncertainty="std of Monte-Carlo dropout samples", uncertainty_samples=int(samples))
    if valid is not None:
        v30 = mask_to_grid(valid, out.odc.geobox)
        out = out.where(v30).assign_coords(valid=v30)
        if uncertainty:
            out = out.assign_coords(uncertainty=out["uncertainty"].where(v30))
    out.attrs = attrs
    return out


def _checked_inputs(
    s2: xr.DataArray | Mapping[Any, xr.DataArray], s2_20m: xr.DataArray | None, valid: Any
) -> tuple[Any, xr.DataArray | None]:
    """The inputs after the reflectance rule of :mod:`xharm.validate` (lazily for Dask)."""

    def check(cube: Any, what: str) -> Any:
        if isinstance(cube, xr.DataArray):
            validate(cube, what=what)
            return check_reflectance(cube, what)
        return cube  # not a cube: the method's own validation names the fault

    if isinstance(s2, Mapping):
        return {k: check(v, f"Sentinel-2 {k} m cube") for k, v in s2.items()}, s2_20m
    return check(s2, "Sentinel-2 cube"), None if s2_20m is None else check(s2_20m, "Sentinel-2 20 m cube")


def _s2_groups(
    s2: xr.DataArray | Mapping[Any, xr.DataArray], s2_20m: xr.DataArray | None, spec: ModelSpec
) -> dict[str, xr.DataArray]:
    if isinstance(s2, Mapping):
        by_res = {float(k): v for k, v in s2.items()}
    else:
        by_res = {10.0: s2}
        if s2_20m is not None:
            by_res[20.0] = s2_20m
    if len(by_res) == 1:
        by_res = _split_stack(next(iter(by_res.values())), spec)
    if 10.0 not in by_res or 20.0 not in by_res:
        raise DimensionError(
            describe(
                "the MGAN needs both Sentinel-2 resolutions",
                expected="a 10 m cube (B02, B03, B04, B08) and a 20 m cube (B11, B12)",
                found=f"cubes at {sorted(by_res)} m",
                fix="pass to_landsat(s2_10m, s2_20m) or to_landsat({10: s2_10m, 20: s2_20m}); a single "
                "stack of every band resampled to 10 m is split by to_landsat(stack) itself",
            )
        )
    return {"s2_10m": by_res[10.0], "s2_20m": by_res[20.0]}


def _split_stack(cube: xr.DataArray, spec: ModelSpec) -> dict[float, xr.DataArray]:
    """A single-resolution stack of every band (e.g. 13 bands resampled to 10 m) -> one cube per head.

    The 10 m bands are taken as they are; the 20 m bands are averaged over 2 x 2 pixels on
    the nested 20 m grid (:func:`xharm.core.grid.grid_at`), which restores the native 20 m pixels
    of a stack that was upsampled from them (nearest or bilinear on the S2 tile grid). A
    stack coarser than 10 m cannot feed the 10 m head and is refused.
    """
    from odc.geo.xr import xr_coords

    gbox = validate(cube, sensor="sentinel-2", what="Sentinel-2 single-resolution stack")
    res = float(abs(gbox.resolution.x))
    have = [str(b) for b in cube["band"].values]
    need = {g.resolution: list(g.bands) for g in spec.inputs}
    wanted = [b for bands in need.values() for b in bands]
    if res == 10.0 and any(b not in have for b in wanted):
        return {res: cube}  # a 10 m cube without the 20 m bands: the caller asks for both cubes
    if res != 10.0:
        raise DimensionError(
            describe(
                f"the MGAN cannot read this single {res:g} m cube",
                expected=" and ".join(f"{', '.join(b)} at {r:g} m" for r, b in sorted(need.items()))
                + " (two cubes), or one cube of all of them at 10 m (a resampled stack, split here)",
                found=f"bands {', '.join(have)} at {res:g} m",
                fix="pass to_landsat(s2_10m, s2_20m); for a stack coarser than 10 m use "
                "method='hls' or 'resample', which read any single cube",
            )
        )
    out: dict[float, xr.DataArray] = {}
    for r, bands in need.items():
        sub = cube.sel(band=bands)
        if r == res:
            out[r] = sub
            continue
        k = round(r / res)
        g = grid_at(gbox, r)
        ix = round((g.affine.c - gbox.affine.c) / res)
        iy = round((gbox.affine.f - g.affine.f) / res)
        sub = sub.isel(y=slice(iy, iy + k * g.shape.y), x=slice(ix, ix + k * g.shape.x))
        coarse = sub.coarsen(y=k, x=k).mean().astype(sub.dtype)
        coarse = coarse.drop_vars(["y", "x", "spatial_ref"], errors="ignore").assign_coords(xr_coords(g))
        coarse.attrs = {**cube.attrs, "xharm_split": f"{r:g} m bands: {k} x {k} mean of the {res:g} m stack"}
        out[r] = coarse
    return out
