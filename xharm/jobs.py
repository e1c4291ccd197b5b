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
import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
import zarr
from dask.base import tokenize

from .exceptions import (
    CorruptProductError,
    DimensionError,
    EmptyDataError,
    MissingBandError,
    MissingDependencyError,
    ProductNotFoundError,
    SchedulerError,
    StorageError,
    XharmError,
    describe,
)
from .validate import check_output_path, existing_file, positive_int, timedelta

__all__ = ["Evaluation", "dask_client", "evaluate", "harmonize", "open_mask", "open_var"]

VAR = "reflectance"


# --------------------------------------------------------------------------- reading


def open_var(store: str | os.PathLike[str], group: str | None, var: str = VAR) -> xr.DataArray:
    """A canonical cube from variable ``var`` of ``group``, lazily; attrs of group and variable merged.

    Examples
    --------
    >>> import tempfile, os
    >>> from xharm import simulate
    >>> path = os.path.join(tempfile.mkdtemp(), "sim.zarr")
    >>> _ = simulate.to_zarr(path, n_dates=1, size_km=0.6)
    >>> truth = open_var(path, "l8", "truth")
    >>> truth.dims, truth.attrs["sensor"]
    (('time', 'band', 'y', 'x'), 'landsat-8')
    """
    ds = _open_group(store, group)
    if var not in ds:
        raise ProductNotFoundError(
            describe(
                f"{store} (group {group!r}) has no variable {var!r}",
                expected=var,
                found=sorted(map(str, ds.data_vars)),
                fix="name one of the variables found",
            )
        )
    cube = ds[var]
    cube.attrs = {**ds.attrs, **cube.attrs}
    for k in ("xharm_ready", "xharm_fingerprint", "xharm_input"):
        cube.attrs.pop(k, None)
    cube.name = None
    keep = set(cube.dims) | {"common_name", "spatial_ref"}
    extra = [c for c in cube.coords if c not in keep and set(ds[c].dims) - {"time"}]
    return cube.drop_vars(extra)


def open_mask(store: str | os.PathLike[str], spec: str) -> xr.DataArray:
    """The boolean mask ``"GROUP/VAR"`` (or ``"VAR"`` of the root group) of a store."""
    group, _, var = spec.rpartition("/")
    mask = open_var(store, group or None, var)
    if mask.dtype != bool or set(mask.dims) != {"time", "y", "x"}:
        raise DimensionError(
            describe(
                f"{spec} in {store} is not a clear mask",
                expected="bool (time, y, x)",
                found=f"{mask.dtype} {tuple(mask.dims)}",
                fix="name a boolean mask: s2_20m/s2_valid (harmonize), l8/l8_valid (evaluate)",
            )
        )
    return mask


def _open_group(store: str | os.PathLike[str], group: str | None) -> xr.Dataset:
    if not Path(store).exists():
        raise ProductNotFoundError(
            describe("Zarr store not found", expected="an existing store", found=str(store))
        )
    try:
        return xr.open_zarr(store, group=group, chunks={}, consolidated=False)
    except (FileNotFoundError, KeyError) as err:
        raise ProductNotFoundError(
            describe(f"{store} has no group {group!r}", found=str(err), fix="check the group name")
        ) from err
    except zarr.errors.ContainsArrayError as err:
        parent = str(group).rpartition("/")[0] or "the root"
        raise ProductNotFoundError(
            describe(
                f"{group!r} in {store} is an array, not a group",
                expected="a group holding a 'reflectance' variable",
                found=f"the array {group!r}",
                fix=f"name its group ({parent})",
            )
        ) from err


def _jsonable(attrs: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool) else json.dumps(v, default=str)
        for k, v in attrs.items()
    }


# --------------------------------------------------------------------------- harmonize


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
    from .io.zarr import RegionWriter, finished_regions, open_cube, quiet_zarr_strings
    from .pipeline import METHODS, to_landsat

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
    c10, c20 = open_var(src, s2_10m), open_var(src, s2_20m)
    mask = open_mask(src, valid) if valid is not None else None
    kwargs: dict[str, Any] = dict(baseline_kwargs)
    if method == "mgan":
        from .zoo import DEFAULT_MODEL, ZooHandle

        handle = ZooHandle.of(model or DEFAULT_MODEL)
        kwargs.update(
            model=handle, chunks={"time": time_chunk, "y": chunk, "x": chunk}, batch_size=batch_size
        )
        ident: Any = handle
    else:
        ident = None
    if resume and overwrite:
        raise DimensionError(
            describe(
                "--resume and --overwrite contradict each other",
                expected="one of them",
                found="both",
                fix="--resume to finish the run OUT holds, or --overwrite to start it again from scratch",
            )
        )
    out = to_landsat({10: c10, 20: c20}, method=method, valid=mask, **kwargs)
    clear = out.coords["valid"] if "valid" in out.coords else None
    # Only the cube goes to the store (the 30 m clear mask as its own variable, below):
    # per-date angles and masks stay with the inputs.
    out = out.drop_vars(
        [c for c in out.coords if c not in ("time", "band", "y", "x", "common_name", "spatial_ref")]
    )
    out = out.chunk({"time": time_chunk, "band": -1, "y": chunk, "x": chunk})
    out.attrs = _jsonable(out.attrs)
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
    writer = RegionWriter(
        out,
        dst,
        fingerprint=fingerprint,
        group=out_group,
        region=region or {"time": time_chunk},
        input_identity=identity,
    )
    state = writer.state()
    exists = Path(dst).exists()
    stored = writer.stored_input_identity() if state == "other" else None
    if resume and not overwrite and stored is not None and stored != identity:
        raise FileExistsError(
            describe(
                f"cannot resume: the input {src} changed since the job writing {dst} started",
                expected="the same input files (names, sizes, modification times)",
                found="other files in the input groups",
                fix="pass --overwrite to redo the job on the new input, or restore the old input",
            )
        )
    if exists and not overwrite and not (resume and state == "ready"):
        done = len(finished_regions(dst, group=out_group)) if state == "ready" else None
        if done is not None and done == len(writer.regions):
            what = f"the finished output of this same job (all {done} regions done)"
        elif done is not None:
            what = f"an unfinished run of this job ({done} of {len(writer.regions)} regions done)"
        else:
            what = (
                "the output of another job" if state == "other" else "something that is not this job's output"
            )
        raise FileExistsError(
            describe(
                f"{dst} already exists: it holds {what}",
                fix=(
                    "nothing to do; pass --resume to accept it as is, or "
                    if done is not None and done == len(writer.regions)
                    else "pass --resume to finish it, or "
                    if state == "ready"
                    else ""
                )
                + "--overwrite to replace it, or choose another output path",
            )
        )
    n = len(writer.regions)
    if state == "ready" and resume and (bad := writer.verify()):
        warnings.warn(
            f"{dst}: {len(bad)} finished region(s) ({', '.join(map(str, bad[:8]))}) do not match their "
            "recorded digests (chunks altered, truncated or deleted); rewriting them",
            stacklevel=2,
        )
    done = n - len(writer.pending()) if state == "ready" else 0
    if on_region is not None:
        on_region(done, n)
    with quiet_zarr_strings(), _job_errors(src, dst, [s2_10m, s2_20m], valid):
        for _ in writer.run(overwrite=overwrite):
            done += 1
            if on_region is not None:
                on_region(done, n)
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
    import zarr

    # to_zarr(mode="a") replaces the group attrs: hand it the current ones (the job's marks included)
    ds.attrs = dict(zarr.open_group(os.fspath(dst), path=group or "", mode="r").attrs)
    ds.to_zarr(dst, group=group, mode="a", consolidated=False)


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
    from .io.zarr import find_corrupt_chunk

    try:
        yield
    except XharmError:
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


# --------------------------------------------------------------------------- evaluate


@dataclass
class Evaluation:
    """Scores of a prediction against a reference (Table IV of Sedona et al. 2021)."""

    overall: pd.DataFrame
    per_band: pd.DataFrame
    n_dates: int
    unmatched: list[str]
    valid_fraction: float
    reference: str = ""
    masks: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: ``overall`` {method: {metric: value}}, ``per_band`` {method: {band: {...}}}."""
        per_band: dict[str, dict[str, dict[str, float]]] = {}
        for (method, band), row in self.per_band.iterrows():
            per_band.setdefault(str(method), {})[str(band)] = {k: float(v) for k, v in row.items()}
        return {
            "overall": {str(m): {k: float(v) for k, v in r.items()} for m, r in self.overall.iterrows()},
            "per_band": per_band,
            "n_dates": self.n_dates,
            "unmatched_dates": self.unmatched,
            "valid_fraction": self.valid_fraction,
            "reference": self.reference,
            "masks": list(self.masks),
            "notes": list(self.notes),
        }

    def to_frame(self) -> pd.DataFrame:
        """One long table: a row per (method, band), ``band == "all"`` for the overall scores."""
        overall = self.overall.reset_index(names="method").assign(band="all")
        per_band = self.per_band.reset_index()
        table = pd.concat([overall, per_band], ignore_index=True)
        cols = ["method", "band", *self.overall.columns]
        return table[cols]

    def __str__(self) -> str:
        fmt = lambda v: f"{v:.4f}"  # noqa: E731
        head = f"reference: {self.reference}\n" if self.reference else ""
        head += f"masks applied: {', '.join(self.masks) if self.masks else 'none'}\n"
        head += "".join(f"note: {n}\n" for n in self.notes)
        return (
            head + f"{self.n_dates} date(s) scored, {self.valid_fraction:.1%} of their pixels valid"
            " (finite in both cubes and clear in every mask)"
            + (
                f"; {len(self.unmatched)} prediction date(s) without a reference date"
                if self.unmatched
                else ""
            )
            + "\n\n"
            + self.overall.to_string(float_format=fmt)
            + "\n\nPer band:\n"
            + self.per_band.to_string(float_format=fmt)
            + "\n\n"
            + metric_legend()
        )


def metric_legend() -> str:
    """One line per metric: its unit and which direction is better (for printed score tables)."""
    from .evaluate import METRIC_NOTES

    return "\n".join(f"  {m:<6} {note}" for m, note in METRIC_NOTES.items())


def _match(times: np.ndarray, ref_times: np.ndarray, tolerance: pd.Timedelta) -> np.ndarray:
    """Index of the nearest ``ref_times`` for each of ``times`` (-1: none within ``tolerance``)."""
    t = times.astype("datetime64[ns]").astype("int64")
    r = ref_times.astype("datetime64[ns]").astype("int64")
    if len(r) == 0:
        return np.full(len(t), -1)
    d = np.abs(t[:, None] - r[None, :])
    idx = d.argmin(axis=1)
    return np.where(d[np.arange(len(t)), idx] <= tolerance.value, idx, -1)


def _on_dates(obj: xr.DataArray, times: np.ndarray, tolerance: pd.Timedelta, what: str) -> xr.DataArray:
    idx = _match(times, obj["time"].values, tolerance)
    if (idx < 0).any():
        raise EmptyDataError(
            describe(
                f"{what} has no date near {np.datetime_as_string(times[idx < 0][0], unit='m')}",
                expected=f"a date within {tolerance}",
                fix="pass a larger --tolerance",
            )
        )
    return obj.isel(time=idx).assign_coords(time=times)


def evaluate(
    pred_store: str | os.PathLike[str],
    ref_store: str | os.PathLike[str],
    *,
    pred_group: str | None = None,
    pred_var: str = VAR,
    ref_group: str | None = "l8",
    ref_var: str | None = None,
    valid: Sequence[str] = (),
    valid_store: str | os.PathLike[str] | None = None,
    tolerance: str | pd.Timedelta = "1D",
    name: str | None = None,
) -> Evaluation:
    """Score a harmonized cube against a reference cube, both in Zarr stores.

    Each prediction date is compared with the nearest reference date within
    ``tolerance`` (prediction dates without one are skipped and listed); the reference
    is cut to the prediction's bands. Pixels count where both are finite in every band
    and every ``valid`` mask is True. Scores: :func:`xharm.evaluate.score_table`.

    Parameters
    ----------
    pred_store, pred_group, pred_var
        The prediction (e.g. the output of ``xharm harmonize``).
    ref_store, ref_group, ref_var
        The reference on the same 30 m grid. ``ref_var=None`` picks it: ``truth`` when the
        group has one (the registered clear-sky Landsat truth of ``xharm simulate``
        stores), else ``reflectance`` (an observation); the choice is reported in
        :attr:`Evaluation.reference`.
    valid, valid_store
        Masks ``"GROUP/VAR"`` read from ``valid_store`` (default ``ref_store``), on any
        nested grid, matched to the prediction dates like the reference. Besides these,
        the clear masks stored beside each cube are always applied: the prediction's
        ``valid`` variable (``xharm harmonize --valid`` writes it) and, when the reference
        is an observation, the boolean ``*valid`` variables of its group (``l8_valid``).
        :attr:`Evaluation.masks` lists every mask used.
    name
        Row label of the tables; default the prediction's ``harmonization_method``.
    """
    from .cube import check_same_grid
    from .evaluate import score_table
    from .grid import mask_to_grid

    tol = timedelta(tolerance, "tolerance (--tolerance)")
    ref_names = set(map(str, _open_group(ref_store, ref_group).data_vars))
    if ref_var is None:
        ref_var = "truth" if "truth" in ref_names else VAR
    where = f"{ref_group}/{ref_var}" if ref_group else ref_var
    reference = where + (" (clear-sky truth)" if ref_var == "truth" else " (an observation)")
    valid = list(valid)
    if ref_var != "truth":  # an observation: its own clear masks (clouds, fill) apply
        for var in sorted(ref_names):
            spec = f"{ref_group}/{var}" if ref_group else var
            if var.endswith("valid") and spec not in valid and _is_mask(ref_store, ref_group, var):
                valid.append(spec)
    pred_masks: list[str] = []
    if "valid" in _open_group(pred_store, pred_group).data_vars and _is_mask(pred_store, pred_group, "valid"):
        pred_masks.append((f"{pred_group}/" if pred_group else "") + "valid")
    pred, ref = open_var(pred_store, pred_group, pred_var), open_var(ref_store, ref_group, ref_var)
    bands = [str(b) for b in pred["band"].values]
    have = [str(b) for b in ref["band"].values]
    if missing := [b for b in bands if b not in have]:
        raise MissingBandError(
            describe(f"the reference lacks band(s) {', '.join(missing)}", expected=bands, found=have)
        )
    check_same_grid(pred, ref, names=("the prediction", "the reference"))
    idx = _match(pred["time"].values, ref["time"].values, tol)
    unmatched = [str(np.datetime_as_string(t, unit="m")) for t in pred["time"].values[idx < 0]]
    if (idx >= 0).sum() == 0:
        raise EmptyDataError(
            describe(
                "no prediction date has a reference date",
                expected=f"dates within {tol}",
                found=f"{len(unmatched)} unmatched dates",
                fix="check the stores, or pass a larger --tolerance",
            )
        )
    pred = pred.isel(time=np.flatnonzero(idx >= 0))
    times = pred["time"].values
    ref = _on_dates(ref.sel(band=bands), times, tol, "the reference")
    ok = pred.notnull().all("band") & ref.notnull().all("band")
    gbox = pred.odc.geobox
    sources = [(valid_store or ref_store, spec) for spec in valid] + [(pred_store, m) for m in pred_masks]
    for store, spec in sources:
        m = _on_dates(open_mask(store, spec), times, tol, f"mask {spec}")
        m = mask_to_grid(m.transpose("time", "y", "x"), gbox)
        ok = ok & xr.DataArray(m.data, dims=("time", "y", "x"), coords={"time": times})
    label = name or str(pred.attrs.get("harmonization_method", pred_group or "prediction"))
    keep = ("time", "band", "y", "x", "common_name", "spatial_ref")
    pred = pred.drop_vars([c for c in pred.coords if c not in keep])
    ref = ref.drop_vars([c for c in ref.coords if c not in keep])
    ok = ok.drop_vars([c for c in ok.coords if c not in keep])
    overall, per_band = score_table({label: pred}, ref, ok)
    masks = tuple(f"{spec} (of {Path(store).name})" for store, spec in sources)
    notes: tuple[str, ...] = ()
    if not sources:
        notes = (
            "no clear mask of the prediction was applied: pixels that were cloudy in its input are "
            "scored too (harmonize with --valid, or pass --valid GROUP/VAR, e.g. s2_20m/s2_valid)",
        )
    fraction = float(ok.mean().compute())
    return Evaluation(overall, per_band, len(times), unmatched, fraction, reference, masks, notes)


def _is_mask(store: str | os.PathLike[str], group: str | None, var: str) -> bool:
    da_ = _open_group(store, group)[var]
    return bool(da_.dtype == bool and set(da_.dims) == {"time", "y", "x"})


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
