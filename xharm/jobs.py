"""Batch jobs behind ``xharm harmonize`` and ``xharm evaluate``: Zarr in, Zarr/tables out.

Input layout (what ``xharm simulate``, ``xharm demo`` and
:func:`xharm.io.zarr.write_cube` write): one Zarr group per cube, the cube in the
variable ``reflectance`` with ``time``/``band``/``y``/``x`` coordinates and the
``spatial_ref`` CRS coordinate. Sentinel-2 10 m bands (B02, B03, B04, B08) in group
``s2_10m``, 20 m bands (B8A, B11, B12, ...) in group ``s2_20m``; other names with
``s2_10m=`` / ``s2_20m=``. Masks are boolean variables ``(time, y, x)`` of a group,
named ``"GROUP/VAR"`` (e.g. ``"s2_20m/s2_valid"``).

Every method writes region by region with :class:`xharm.io.zarr.RegionWriter`, so an
interrupted job resumes (``resume=True``) without redoing finished regions. Runs on
whatever Dask scheduler is active: see :func:`dask_client`.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr
import zarr
from dask.base import tokenize

from .core.cube import canonical_only
from .engine.apply import apply_model, is_handle
from .exceptions import (
    CorruptProductError,
    DimensionError,
    MissingDependencyError,
    SchedulerError,
    StorageError,
    XharmError,
    describe,
)
from .io.zarr import (
    VAR,
    RegionWriter,
    SourceCache,
    cached_source,
    checksummed,
    find_corrupt_chunk,
    jsonable_attrs,
    limit_malloc_arenas,
    open_cube,
    open_mask,
    quiet_zarr_strings,
    write_resumable,
)
from .pipeline import METHODS, QUALITY_NOTE, to_landsat
from .spec import ModelHandle, ModelSpec, PredictFn
from .validate import check_output_path, existing_file, positive_int

__all__ = ["dask_client", "harmonize", "harmonize_zarr", "input_identity", "sharpen"]


# --------------------------------------------------------------------------- harmonize


def _predict_identity(predict: Any) -> str:
    if is_handle(predict):
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
        Output chunk sizes (also the Zarr chunks), see :func:`~xharm.engine.apply.apply_model`.
    region
        Pixels per written region per dim (rounded to whole chunks); default 4 time
        chunks by the whole scene. Finished regions survive a crash.
    overwrite
        Replace a store written by another job (different arguments) instead of refusing.
    on_region
        Called as ``on_region(done, n_regions)`` after each region written.

    Returns
    -------
    xarray.DataArray
        The written cube, opened lazily from ``dst``.

    Examples
    --------
    >>> # harmonize_zarr("s2.zarr", "l8like.zarr", spec, FunctionHandle("mypkg.models:load_mgan"))
    """
    limit_malloc_arenas()  # before the inputs and threads: see its note
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
    started = False

    def after_each(done: int, n: int) -> None:  # the user's callback hears written regions only
        nonlocal started
        if started and on_region is not None:
            on_region(done, n)
        started = True

    writer = RegionWriter(out, dst, fingerprint=fingerprint, group=out_group, region=region)
    write_resumable(writer, resume=not overwrite, overwrite=overwrite, on_region=after_each)
    return open_cube(dst, group=out_group)


def harmonize(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    method: str = "mgan",
    model: str | None = None,
    s2_10m: str = "s2_10m",
    s2_20m: str = "s2_20m",
    valid: str | None = None,
    out_group: str | None = None,
    chunk: int = 512,
    time_chunk: int = 1,
    region: Mapping[str, int] | None = None,
    batch_size: int = 16,
    resume: bool = False,
    overwrite: bool = False,
    on_region: Callable[[int, int], None] | None = None,
    in_flight: int = 2,
    **baseline_kwargs: Any,
) -> xr.DataArray:
    """Harmonize the Sentinel-2 cubes of a Zarr store into a Landsat-like cube in another store.

    Parameters
    ----------
    src
        Input store (layout in the module docstring).
    dst, out_group
        Output store and group; the cube is written as ``reflectance`` (openable with
        :func:`xharm.io.zarr.open_cube`), with :func:`xharm.to_landsat`'s ``attrs``.
    method, model, batch_size
        As for :func:`xharm.to_landsat`.
    s2_10m, s2_20m
        Groups of the 10 m and 20 m cubes in ``src``.
    valid
        ``"GROUP/VAR"``: an S2 clear mask in ``src``; output pixels that are not clear are NaN,
        and the mask, brought to 30 m, is written beside the cube as the variable ``valid``.
    chunk, time_chunk
        Output (and Zarr) chunk: ``chunk`` x ``chunk`` 30 m px, ``time_chunk`` dates. For the
        MGAN ``chunk`` is rounded to whole kept patch centres (the model's blocks), so that no
        patch is predicted twice.
    region
        Pixels per written region per dim (whole chunks); default one chunk: regions are
        streamed Zarr -> Zarr, ``in_flight`` at a time, so memory does not grow with the scene
        or the number of dates. Input chunks are read through a cache of decoded chunks
        (sized to the regions in flight, at most 192 MiB): a chunk that spans whole dates, or
        chunks that the regions in flight fit in that bound, are decoded once per job; tiled
        inputs whose chunks under the regions in flight exceed it are decoded again when
        needed (measured: 60 km, 1024 px input chunks, 512 px output chunks: 5.5 decodes per
        chunk, about 10 % of the job's CPU; a 640 MiB cache cut it to 1.6, and RSS rose by 300 MiB).
    in_flight
        Regions computed at once (:class:`~xharm.io.zarr.RegionWriter`); 2 keeps two cores busy.
    resume
        Continue a job that this same command (same arguments) started; finished regions
        are kept. Without it an existing ``dst`` is an error.
    overwrite
        Replace whatever ``dst`` holds (not together with ``resume``).
    on_region
        Called as ``on_region(done, total)`` after each region written (progress bars).

    Returns
    -------
    xarray.DataArray
        The written cube, opened lazily from ``dst``.
    """

    limit_malloc_arenas()  # before the model, inputs and threads: see its note
    if method not in METHODS:
        raise DimensionError(
            describe(f"unknown method {method!r}", expected=", ".join(METHODS), found=method)
        )
    chunk = positive_int(chunk, "chunk (--chunk)", fix="output chunk side in 30 m px, e.g. 512")
    time_chunk = positive_int(time_chunk, "time_chunk (--time-chunk)", fix="dates per chunk, e.g. 1")
    batch_size = positive_int(batch_size, "batch_size (--batch-size)", fix="patches per model call, e.g. 16")
    in_flight = positive_int(in_flight, "in_flight", fix="regions computed at once, e.g. 2")
    for dim, size in (region or {}).items():
        positive_int(size, f"region[{dim!r}]")
    check_output_path(dst, inputs={"input store": src})
    if model is not None and method != "mgan":
        raise DimensionError(
            describe(
                "a model was named for a baseline method",
                expected="--method mgan",
                found=method,
                fix="drop --model, or use --method mgan",
            )
        )
    kwargs: dict[str, Any] = dict(baseline_kwargs)
    if method == "mgan":
        from .engine.tiling import TileSpec
        from .zoo import open_model  # the JAX boundary: the zoo loads Flax

        handle, spec = open_model(model)
        # Zarr chunks = model blocks: whole kept patch centres, so no model block is computed twice
        chunk = TileSpec.from_spec(spec).chunk(chunk)
        kwargs.update(
            model=handle, chunks={"time": time_chunk, "y": chunk, "x": chunk}, batch_size=batch_size
        )
        ident: Any = handle
    else:
        ident = None
    region = dict(region or {"time": time_chunk, "y": chunk, "x": chunk})
    c10, c20 = open_cube(src, s2_10m), open_cube(src, s2_20m)
    mask = open_mask(src, valid) if valid is not None else None
    found: dict[str, xr.DataArray] = {f"{s2_10m}/{VAR}": c10, f"{s2_20m}/{VAR}": c20}
    if valid is not None and mask is not None:
        found[valid] = mask
    cache = SourceCache(
        _cache_capacity(list(found.values()), region, in_flight),
        max_bytes=_CACHE_BYTES,
        keep=len(found) * in_flight,
    )
    cubes = {
        path: cached_source(cube, src, path, cache, chunks=_blocks(cube, region))
        for path, cube in found.items()
    }
    c10, c20 = cubes[f"{s2_10m}/{VAR}"], cubes[f"{s2_20m}/{VAR}"]
    mask = cubes.get(valid or "")
    out = to_landsat({10: c10, 20: c20}, method=method, valid=mask, **kwargs)
    region_data = _RegionModel(c10, c20, mask, out, kwargs) if method == "mgan" else None
    clear = out.coords["valid"] if "valid" in out.coords else None
    # A physics-anchored model's quality bits: written region by region beside the cube
    extra = _quality_extra(out, time_chunk, chunk, QUALITY_NOTE)
    # Only the cube goes to the store (the 30 m clear mask as its own variable, below):
    # per-date angles and masks stay with the inputs.
    out = canonical_only(out)
    out = out.chunk({"time": time_chunk, "band": -1, "y": chunk, "x": chunk})
    out.attrs = jsonable_attrs(out.attrs)
    identity = input_identity(src, [s2_10m, s2_20m, *([valid.rpartition("/")[0]] if valid else [])])
    fingerprint = tokenize(
        "xharm.jobs.harmonize/4",  # 4: quality bits written (3: regions of one output chunk)
        os.path.abspath(os.fspath(src)),
        identity,
        method,
        ident,
        s2_10m,
        s2_20m,
        valid,
        chunk,
        time_chunk,
        sorted((region or {}).items()),
        batch_size,
        sorted((k, repr(v)) for k, v in baseline_kwargs.items()),
    )
    with _job_errors(src, dst, [s2_10m, s2_20m], valid):
        writer = RegionWriter(
            out,
            dst,
            fingerprint=fingerprint,
            group=out_group,
            region=region,
            input_identity=identity,
            in_flight=in_flight,
            region_data=region_data,
            extra=extra,
        )
        write_resumable(writer, resume=resume, overwrite=overwrite, on_region=on_region)
        if clear is not None:
            _write_valid(clear, dst, out_group)
    cache.clear()
    return open_cube(dst, group=out_group)


def _cut(cube: xr.DataArray, gbox: Any) -> xr.DataArray:
    """The pixels of ``cube`` under ``gbox`` (clipped to the cube)."""
    from fractions import Fraction

    from .core.grid import nest_offset

    res = abs(float(cube.odc.geobox.resolution.x))
    f = Fraction(abs(float(gbox.resolution.x)) / res).limit_denominator(8)
    oy, ox = nest_offset(gbox, cube.odc.geobox, f, name="input")
    hy, wx = (
        -(-gbox.shape.y * f.numerator // f.denominator),
        -(-gbox.shape.x * f.numerator // f.denominator),
    )
    return cube.isel(y=slice(max(oy, 0), max(oy + hy, 0)), x=slice(max(ox, 0), max(ox + wx, 0)))


class _RegionSharpen:
    """One region of the sharpen job as its own small graph: the inputs cut to the region plus
    the reach of its patches and of ``hpf``'s halo, the cut's corner on the scene's patch
    lattice, and the scene's ``hpf`` fit (computed first). So the values are the whole
    scene's, while a region reads and computes its window only: slicing the scene's graph
    pulled every neighbouring model block into each region (2-4x the network's work)."""

    def __init__(
        self,
        cubes: Mapping[int, xr.DataArray],
        mask: xr.DataArray | None,
        grid: Any,
        kwargs: Mapping[str, Any],
        scales: Sequence[int],
    ) -> None:
        from .engine.tiling import TileSpec
        from .sharpening.api import DSen2Handle, _model_name
        from .sharpening.mtf import SPLINE_HALO, halo, inverse_halo

        self.cubes, self.mask, self.kwargs, self.gbox = dict(cubes), mask, kwargs, grid  # the output grid
        self.lattice = 6  # 60 m: every grid (and a mask on any of them) cuts at whole pixels
        self.reach: list[tuple[int, int, int]] = []  # per scale: patch stride, buffer, hpf halo (10 m px)
        for s in scales:
            h = (halo(s) + SPLINE_HALO) * s
            if kwargs.get("consistent"):  # the projection's halo, beyond the values it projects
                h += inverse_halo(s) * s
            name = _model_name(kwargs.get("model"), s) if kwargs.get("method", "dsen2") == "dsen2" else None
            if name is None:
                self.reach.append((1, 0, h))
                continue
            tile = TileSpec.from_spec(DSen2Handle.of(name).spec())
            self.lattice = math.lcm(self.lattice, tile.stride)  # the cut's corner on the patch lattice
            self.reach.append((tile.stride, tile.buffer, h))

    def window(self, sel: slice, n: int) -> tuple[int, int]:
        """The cut (10 m px) around ``sel`` within ``[0, n)``, on the lattice: the patches of its
        pixels (a pixel's patch starts ``buffer`` before its kept centre) and their inputs'
        ``hpf`` halo."""
        lat = self.lattice
        lo = min(sel.start // st * st - b - h for st, b, h in self.reach)
        hi = max(-(-sel.stop // st) * st + b + h for st, b, h in self.reach)
        return max(0, lo // lat * lat), min(n, -(-hi // lat) * lat)

    def __call__(self, sel: Mapping[str, slice]) -> Any:
        from .sharpening.api import sharpen as sharpen_cubes

        (y0, y1), (x0, x1) = (
            self.window(sel["y"], self.gbox.shape.y),
            self.window(sel["x"], self.gbox.shape.x),
        )
        win = self.gbox[y0:y1, x0:x1]
        t = sel["time"]
        cubes = {r: _cut(c.isel(time=t), win) for r, c in self.cubes.items()}
        mask = None if self.mask is None else _cut(self.mask.isel(time=t), win)
        fit = {r: f.isel(time=t) for r, f in (self.kwargs.get("fit") or {}).items()}
        res = sharpen_cubes(cubes, valid=mask, **{**self.kwargs, "fit": fit or None})
        crop = {
            "y": slice(sel["y"].start - y0, sel["y"].stop - y0),
            "x": slice(sel["x"].start - x0, sel["x"].stop - x0),
        }
        res = res.isel(crop)
        data = {VAR: canonical_only(res).data}
        if "quality" in res.coords:
            data["quality"] = res.coords["quality"].data
        return data


class _RegionModel:
    """One region of the MGAN job as its own small graph: the inputs cut to the region's
    footprint (plus the patches' reach), then :func:`~xharm.pipeline.to_landsat` on the
    region's part of the output grid. Its corner is on the patch lattice (whole kept centres
    from the scene's corner), so the values are those of the whole-scene graph, while a
    region reads its window only (the whole graph's halo layers pulled every neighbouring
    block into each region: 2-3x the memory)."""

    def __init__(
        self,
        c10: xr.DataArray,
        c20: xr.DataArray,
        mask: xr.DataArray | None,
        out: xr.DataArray,
        kwargs: Mapping[str, Any],
    ) -> None:
        from .engine.tiling import TileSpec
        from .zoo import open_model

        _, spec = open_model(kwargs["model"])
        tile = TileSpec.from_spec(spec)
        self.inputs = {10: c10, 20: c20}
        self.mask, self.kwargs, self.gbox = mask, dict(kwargs), out.odc.geobox
        q = 2 * tile.quantum  # even output px: the padded corner stays on the 20 m grid
        reach = tile.keep + tile.buffer + q  # output px a region's patches reach
        if spec.anchored:  # ... and the Landsat PSF of their physics part (hls_psf) beyond
            from .baselines.psf import psf_reach

            reach += math.ceil(psf_reach() / spec.output.resolution)
        self.margin = -(-reach // q) * q

    def __call__(self, sel: Mapping[str, slice]) -> Any:
        region = self.gbox[sel["y"], sel["x"]]
        reach = region.pad(self.margin)
        cubes = {k: _cut(c.isel(time=sel["time"]), reach) for k, c in self.inputs.items()}
        mask = (
            None if self.mask is None else _cut(self.mask.isel(time=sel["time"]), region.pad(self.margin + 2))
        )
        res = to_landsat(cubes, method="mgan", valid=mask, geobox=region, warn_domain=False, **self.kwargs)
        data = {VAR: canonical_only(res).data}  # the writer rechunks each to its Zarr chunks
        if "quality" in res.coords:
            data["quality"] = res.coords["quality"].data
        return data


_SHARPEN_REGION_CHUNKS = 2  # output chunks per side of a sharpen region (each region is cut with a margin)
_CACHE_BYTES = 192 << 20  # decoded input chunks kept per job (beyond the chunks of the regions in flight)


def _blocks(cube: xr.DataArray, region: Mapping[str, int]) -> dict[str, int]:
    """Dask blocks of an input that follow the job's regions (30 m px), at the input's resolution."""
    res = abs(float(cube.odc.geobox.resolution.x))
    out = {d: max(1, int(np.ceil(int(region[d]) * 30.0 / res))) for d in ("y", "x") if d in region}
    return {**out, "time": int(region.get("time", 1))}


def _cache_capacity(cubes: Sequence[xr.DataArray], region: Mapping[str, int], in_flight: int) -> int:
    """Decoded source chunks the job keeps: those under ``in_flight + 1`` regions (30 m px), all inputs.

    Per input and dim: the chunks a region spans at that input's resolution, plus one (a
    region and its halo straddle chunk edges), capped at the array's chunk count. A region of
    whole-scene chunks (one chunk per date) needs one chunk per date: each is decoded once
    for all the regions of its date. Memory follows the region size, not the scene.
    """
    total = 0
    for cube in cubes:
        res = abs(float(cube.odc.geobox.resolution.x))
        n = 1
        for dim, sizes in zip(cube.dims, cube.chunks or (), strict=False):
            if dim == "time":
                n *= min(len(sizes), -(-int(region.get("time", 1)) // sizes[0]))
            elif dim in ("y", "x"):
                want = int(region.get(str(dim), cube.sizes[dim])) * 30.0 / res
                n *= min(len(sizes), int(np.ceil(want / sizes[0])) + 1)
        total += n
    return max(1, (in_flight + 1) * total)


def _write_valid(clear: xr.DataArray, dst: str | os.PathLike[str], group: str | None) -> None:
    """Store the 30 m clear mask beside the cube as the boolean variable ``valid`` (time, y, x).

    The output is NaN where it is False; the mask keeps the cloud information (a NaN may
    also be a fill). Read it with ``open_mask(dst, "valid")`` or ``xharm evaluate --valid``.
    """
    keep = ("time", "y", "x", "spatial_ref")
    mask = clear.drop_vars([c for c in clear.coords if c not in keep]).astype(bool)
    ds = mask.to_dataset(name="valid").drop_vars("spatial_ref", errors="ignore")
    ds["valid"].attrs = {"description": "Sentinel-2 clear mask at 30 m (True = clear; output NaN elsewhere)"}

    # to_zarr(mode="a") replaces the group attrs: hand it the current ones (the job's marks included)
    ds.attrs = dict(zarr.open_group(os.fspath(dst), path=group or "", mode="r").attrs)
    with quiet_zarr_strings():
        ds.to_zarr(
            dst, group=group, mode="a", consolidated=False, encoding={"valid": {"compressors": checksummed()}}
        )


def input_identity(src: str | os.PathLike[str], groups: Sequence[str | None]) -> str:
    """A token of the files of ``groups`` in store ``src``: names, sizes and modification times.

    Cheap (``stat`` only, no data read); it changes when any chunk, coordinate or
    metadata file of those groups is rewritten, so a changed input refuses ``--resume``.
    """
    root = Path(src)
    entries: list[tuple[str, int, int]] = []
    for group in sorted({g or "" for g in groups}):
        base = root / group if group else root
        if not group:  # a root-level mask: the root metadata only (the arrays' groups are walked)
            files = [base / "zarr.json"]
        else:
            files = sorted(p for p in base.rglob("*") if p.is_file())
        for f in files:
            if f.is_file():
                st = f.stat()
                entries.append((str(f.relative_to(root)), st.st_size, st.st_mtime_ns))
    return str(tokenize("xharm.input/1", entries))


@contextlib.contextmanager
def _job_errors(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], groups: Sequence[str], valid: str | None
) -> Iterator[None]:
    """Turn a full disk into :class:`StorageError` and an undecodable input chunk into
    :class:`CorruptProductError` naming the chunk."""
    try:
        yield
    except (XharmError, FileExistsError):
        raise
    except OSError as err:
        raise StorageError(
            describe(
                f"writing {dst} failed: {err.strerror or err}",
                found=f"{type(err).__name__} (errno {err.errno})",
                fix="free space or fix permissions, then rerun with --resume (finished regions are kept)",
            )
        ) from err
    except Exception as err:
        paths = [f"{g}/{VAR}" for g in groups] + ([valid] if valid else [])
        for path in paths:
            chunk = find_corrupt_chunk(src, path)
            if chunk is not None:
                raise CorruptProductError(
                    describe(
                        f"an input chunk of {src} is corrupt: {chunk}",
                        expected="chunks that decode (zstd checksum)",
                        found=f"{type(err).__name__}: {err}",
                        fix="restore or rewrite that input, then rerun with --resume",
                    )
                ) from err
        raise


# --------------------------------------------------------------------------- sharpen


def _quality_extra(out: xr.DataArray, time_chunk: int, chunk: int, note: str) -> dict[str, xr.DataArray]:
    """An anchored model's ``quality`` bits as the writer's extra variable (none: ``{}``)."""
    if "quality" not in out.coords:
        return {}
    quality = out.coords["quality"]
    quality = quality.drop_vars([c for c in quality.coords if c not in quality.dims])
    quality = quality.chunk({"time": time_chunk, "y": chunk, "x": chunk})
    quality.attrs = {**quality.attrs, "description": note}
    return {"quality": quality}


def sharpen(
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
    """``xharm sharpen IN OUT``: :func:`xharm.sharpen` on the cubes of ``src``, the 10 m cube to ``dst``.

    Groups and the ``"GROUP/VAR"`` mask are read as :func:`harmonize` reads them; the
    output is written region by region through the same resumable writer
    (:func:`xharm.io.zarr.write_resumable`): ``resume=True`` finishes an interrupted job, a
    changed input refuses to resume, and without ``resume`` or ``overwrite`` an existing
    ``dst`` is an error. Where the method needs the per-date ``hpf`` regression (``hpf``,
    ``bicubic``'s fill values, an HPF-anchored model such as the bundled starter) it is
    computed first, in one streaming pass (:func:`xharm.sharpening.api.fit_hpf`). A region
    is 2 x 2 output chunks, computed from the inputs cut to it plus a margin (the reach of
    its patches, of ``hpf`` and of the consistency projection), so memory does not grow
    with the scene.
    """
    # the JAX boundary: the DSen2 zoo loads Flax
    from .sharpening.api import QUALITY_NOTE as SHARPEN_QUALITY_NOTE
    from .sharpening.api import _prepare as prepare_sharpen
    from .sharpening.api import fit_hpf, uses_fit
    from .sharpening.api import sharpen as sharpen_cubes

    limit_malloc_arenas()  # before the model, inputs and threads: see its note
    chunk = positive_int(chunk, "chunk (--chunk)", fix="output chunk side in 10 m px, e.g. 1024")
    time_chunk = positive_int(time_chunk, "time_chunk (--time-chunk)", fix="dates per chunk, e.g. 1")
    batch_size = positive_int(batch_size, "batch_size (--batch-size)", fix="patches per model call, e.g. 16")
    check_output_path(dst, inputs={"input store": src})
    groups = [s2_10m, s2_20m, *([s2_60m] if s2_60m else [])]
    cubes: dict[int, Any] = {10: open_cube(src, s2_10m), 20: open_cube(src, s2_20m)}
    if s2_60m:
        cubes[60] = open_cube(src, s2_60m)
    mask = open_mask(src, valid) if valid is not None else None
    fit = None
    if uses_fit(method, model, bands):  # the one whole-date step, computed once for all regions
        with _job_errors(src, dst, groups, valid):
            lazy = fit_hpf(cubes, bands=bands, valid=mask, guided=method != "bicubic")
            fit = dict(zip(lazy, dask.compute(*lazy.values()), strict=True))
    kwargs: dict[str, Any] = dict(
        bands=bands, method=method, model=model, consistent=consistent, batch_size=batch_size, fit=fit
    )
    _, _, scales, grid = prepare_sharpen(
        cubes, None, None, bands, None
    )  # the scales and 10 m grid of sharpen
    regions = _RegionSharpen(cubes, mask, grid, kwargs, scales)
    if regions.lattice > 6:  # model blocks = Zarr chunks: whole kept centres
        chunk = max(1, round(chunk / regions.lattice)) * regions.lattice
    kwargs["chunks"] = {"time": time_chunk, "y": chunk, "x": chunk}
    out = sharpen_cubes(cubes, valid=mask, **kwargs)
    extra = _quality_extra(out, time_chunk, chunk, SHARPEN_QUALITY_NOTE)
    out = canonical_only(out).chunk({"time": time_chunk, "band": -1, "y": chunk, "x": chunk})
    out.attrs = jsonable_attrs(out.attrs)
    identity = input_identity(src, [*groups, *([valid.rpartition("/")[0]] if valid else [])])
    side = _SHARPEN_REGION_CHUNKS * chunk  # side by side chunks, cut with a margin (_RegionSharpen)
    region = {"time": time_chunk, "y": side, "x": side}
    fingerprint = tokenize(
        "xharm.jobs.sharpen/6",  # 3: whole dates; 4: quality; 5: streamed hpf; 6: streamed projection
        os.path.abspath(os.fspath(src)),
        identity,
        out.attrs.get("model_checksum"),
        method,
        model,
        bands,
        consistent,
        groups,
        valid,
        chunk,
        time_chunk,
        batch_size,
    )
    with _job_errors(src, dst, groups, valid):
        writer = RegionWriter(
            out,
            dst,
            fingerprint=fingerprint,
            group=out_group,
            region=region,
            input_identity=identity,
            extra=extra,
            region_data=regions,
        )
        write_resumable(writer, resume=resume, overwrite=overwrite, on_region=on_region)
    return open_cube(dst, group=out_group)


# --------------------------------------------------------------------------- schedulers


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None,
    local_workers: int | None = None,
    gpu: bool = False,
    *,
    timeout: float = 10.0,
) -> Iterator[Any]:
    """Make a ``dask.distributed`` client the active scheduler for the block (None: threads).

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``) or a scheduler JSON file.
    local_workers
        Start a :class:`distributed.LocalCluster` of that many single-threaded worker processes.
    gpu
        Start a ``dask_cuda.LocalCUDACluster`` (one worker per GPU); needs ``xharm[gpu]``.
    timeout
        Seconds to wait for ``scheduler`` before :class:`~xharm.exceptions.SchedulerError`.

    Examples
    --------
    >>> with dask_client() as client:   # no option: Dask's local threads
    ...     client is None
    True
    """
    if sum(x is not None and x is not False for x in (scheduler, local_workers, gpu)) > 1:
        raise DimensionError(
            describe("choose one scheduler", found="more than one of --scheduler, --local-workers, --gpu")
        )
    if local_workers is not None:
        local_workers = positive_int(
            local_workers, "local_workers (--local-workers)", fix="worker processes, e.g. 2"
        )
    if scheduler is not None and str(scheduler).endswith(".json"):
        existing_file(scheduler, "scheduler file")
    if not (scheduler or local_workers or gpu):
        yield None
        return
    from distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        if gpu:
            if importlib.util.find_spec("dask_cuda") is None:
                raise MissingDependencyError(
                    describe(
                        "--gpu needs dask-cuda, which is not installed",
                        fix="pip install 'xharm[gpu]' (dask-cuda and jax[cuda12]), or drop --gpu",
                    )
                )
            cuda = importlib.import_module("dask_cuda")
            cluster: Any = stack.enter_context(cuda.LocalCUDACluster())
            client = stack.enter_context(Client(cluster))
        elif local_workers:
            cluster = stack.enter_context(
                LocalCluster(
                    n_workers=int(local_workers), threads_per_worker=1, processes=True, dashboard_address=None
                )
            )
            client = stack.enter_context(Client(cluster))
        else:
            key = "scheduler_file" if str(scheduler).endswith(".json") else "address"
            try:
                client = stack.enter_context(Client(**{key: scheduler}, timeout=timeout))
            except (OSError, TimeoutError) as err:
                raise SchedulerError(
                    describe(
                        f"cannot reach the dask scheduler {scheduler} (waited {timeout:g} s)",
                        found=f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}",
                        fix="start it (dask scheduler), check the address/port, or drop --scheduler",
                    )
                ) from err
        yield client
