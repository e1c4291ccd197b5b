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
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

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
    checksummed,
    find_corrupt_chunk,
    jsonable_attrs,
    open_cube,
    open_mask,
    quiet_zarr_strings,
    write_resumable,
)
from .pipeline import METHODS, to_landsat
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
        Output (and Zarr) chunk: ``chunk`` x ``chunk`` 30 m px, ``time_chunk`` dates.
    region
        Pixels per written region per dim (whole chunks); default one time chunk, whole scene.
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

    if method not in METHODS:
        raise DimensionError(
            describe(f"unknown method {method!r}", expected=", ".join(METHODS), found=method)
        )
    chunk = positive_int(chunk, "chunk (--chunk)", fix="output chunk side in 30 m px, e.g. 512")
    time_chunk = positive_int(time_chunk, "time_chunk (--time-chunk)", fix="dates per chunk, e.g. 1")
    batch_size = positive_int(batch_size, "batch_size (--batch-size)", fix="patches per model call, e.g. 16")
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
    c10, c20 = open_cube(src, s2_10m), open_cube(src, s2_20m)
    mask = open_mask(src, valid) if valid is not None else None
    kwargs: dict[str, Any] = dict(baseline_kwargs)
    if method == "mgan":
        from .zoo import open_model  # the JAX boundary: the zoo loads Flax

        handle, _ = open_model(model)
        kwargs.update(
            model=handle, chunks={"time": time_chunk, "y": chunk, "x": chunk}, batch_size=batch_size
        )
        ident: Any = handle
    else:
        ident = None
    out = to_landsat({10: c10, 20: c20}, method=method, valid=mask, **kwargs)
    clear = out.coords["valid"] if "valid" in out.coords else None
    # Only the cube goes to the store (the 30 m clear mask as its own variable, below):
    # per-date angles and masks stay with the inputs.
    out = canonical_only(out)
    out = out.chunk({"time": time_chunk, "band": -1, "y": chunk, "x": chunk})
    out.attrs = jsonable_attrs(out.attrs)
    identity = input_identity(src, [s2_10m, s2_20m, *([valid.rpartition("/")[0]] if valid else [])])
    fingerprint = tokenize(
        "xharm.jobs.harmonize/2",
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
        region = region or {"time": time_chunk}
        writer = RegionWriter(
            out, dst, fingerprint=fingerprint, group=out_group, region=region, input_identity=identity
        )
        write_resumable(writer, resume=resume, overwrite=overwrite, on_region=on_region)
        if clear is not None:
            _write_valid(clear, dst, out_group)
    return open_cube(dst, group=out_group)


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
    output is written region by region (one time chunk each) through the same resumable
    writer (:func:`xharm.io.zarr.write_resumable`): ``resume=True`` finishes an
    interrupted job, a changed input refuses to resume, and without ``resume`` or
    ``overwrite`` an existing ``dst`` is an error.
    """
    from .sharpening.api import sharpen as sharpen_cubes  # the JAX boundary: the DSen2 zoo loads Flax

    chunk = positive_int(chunk, "chunk (--chunk)", fix="output chunk side in 10 m px, e.g. 1024")
    time_chunk = positive_int(time_chunk, "time_chunk (--time-chunk)", fix="dates per chunk, e.g. 1")
    batch_size = positive_int(batch_size, "batch_size (--batch-size)", fix="patches per model call, e.g. 16")
    check_output_path(dst, inputs={"input store": src})
    groups = [s2_10m, s2_20m, *([s2_60m] if s2_60m else [])]
    cubes: dict[int, Any] = {10: open_cube(src, s2_10m), 20: open_cube(src, s2_20m)}
    if s2_60m:
        cubes[60] = open_cube(src, s2_60m)
    mask = open_mask(src, valid) if valid is not None else None
    out = sharpen_cubes(
        cubes,
        bands=bands,
        method=method,
        model=model,
        consistent=consistent,
        valid=mask,
        chunks={"time": time_chunk, "y": chunk, "x": chunk},
        batch_size=batch_size,
    )
    out = canonical_only(out).chunk({"time": time_chunk, "band": -1, "y": chunk, "x": chunk})
    out.attrs = jsonable_attrs(out.attrs)
    identity = input_identity(src, [*groups, *([valid.rpartition("/")[0]] if valid else [])])
    fingerprint = tokenize(
        "xharm.jobs.sharpen/1",
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
            region={"time": time_chunk},
            input_identity=identity,
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
