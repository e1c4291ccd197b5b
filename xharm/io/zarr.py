"""Canonical cubes in Zarr (v3) stores, and resumable region-by-region writes.

Layout: one Zarr group per cube; the cube is the variable ``reflectance`` with its
``time``/``band``/``y``/``x`` coordinates, ``common_name`` and the ``spatial_ref`` CRS
coordinate; cube ``attrs`` are the group attributes.

Resumable writes (:class:`RegionWriter`): the store's metadata and coordinates are
written once (:meth:`RegionWriter.init`), then each region (a block of whole Zarr
chunks) is written and *afterwards* marked done in the small ``xharm_done`` array (one
chunk per region). A killed job leaves at most the regions in flight unmarked; a rerun
with the same fingerprint skips marked regions and rewrites the others, so the store
ends up byte-identical to an uninterrupted run.

Integrity: every array is written with zstd frame checksums (a flipped byte fails the
read instead of decoding to garbage), and each finished region's chunk files are
digested (BLAKE2b, in ``xharm_digest``) next to the job fingerprint.
:meth:`RegionWriter.verify` re-digests finished regions (``resume`` does) and marks a
region whose chunks were altered, truncated or deleted for rewriting;
:func:`find_corrupt_chunk` names the chunk of an input that no longer decodes.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import itertools
import json
import os
import threading
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
import zarr

from ..core.cube import validate
from ..exceptions import ArgumentError, DimensionError, ProductNotFoundError, StorageError, describe

__all__ = [
    "RegionWriter",
    "SourceCache",
    "cached_source",
    "checksummed",
    "clear_masks",
    "find_corrupt_chunk",
    "finished_regions",
    "jsonable_attrs",
    "limit_malloc_arenas",
    "open_cube",
    "open_group",
    "open_mask",
    "quiet_zarr_strings",
    "write_cube",
    "write_groups",
    "write_resumable",
]

VAR = "reflectance"
DONE = "xharm_done"
DIGEST = "xharm_digest"
_INPUT = "xharm_input"
_READY = "xharm_ready"
_FINGERPRINT = "xharm_fingerprint"
_STR_COORDS = ("band", "common_name")


@contextlib.contextmanager
def quiet_zarr_strings() -> Iterator[None]:
    """Silence zarr 3's warning that fixed-width strings have no Zarr v3 specification yet.

    xharm stores band names as fixed-width strings; zarr-python and xarray read them back
    fine. Every xharm Zarr write runs inside this block, so the filter lives in one place.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(Zarr V3|Zarr format 3) specification.*")
        yield


def checksummed() -> tuple[Any, ...]:
    """The compressors xharm writes with: zstd with a frame checksum (verified on every read)."""
    from zarr.codecs import ZstdCodec

    return (ZstdCodec(level=0, checksum=True),)


def find_corrupt_chunk(store: str | os.PathLike[str], path: str) -> str | None:
    """The first chunk of array ``path`` in ``store`` that fails to decode (its file path), or None.

    Reads the array chunk by chunk; meant for the error path, after a read failed.
    """
    try:
        arr = zarr.open_array(str(store), path=path, mode="r")
    except Exception:
        return None
    for idx in itertools.product(*(range(n) for n in arr.cdata_shape)):
        try:
            arr.get_block_selection(idx)
        except Exception:
            return os.path.join(str(store), path, arr.metadata.encode_chunk_key(idx))
    return None


class SourceCache:
    """Decoded input chunks of one job, least recently used first out: a chunk is decoded once while it stays.

    A job's regions overlap their neighbours' source chunks (halos, and every region of a
    date shares that date's chunk when a chunk spans the scene). Reading through this cache
    (:func:`cached_source`) decodes a chunk once and keeps it while the next regions need it.

    Parameters
    ----------
    capacity
        Decoded chunks kept, over all arrays read through the cache. A job sizes it to the
        chunks that its regions in flight touch (:func:`xharm.jobs.harmonize`).
    max_bytes
        Memory bound: beyond it the least recently used chunks go (but ``keep`` chunks
        always stay, so a chunk spanning the scene is not decoded again for every region).
        Memory is then bounded whatever the scene size and number of dates; a chunk evicted
        and needed again is decoded again (counted in ``decodes``).
    keep
        Chunks kept whatever their size (e.g. one per input array and region in flight).

    Attributes
    ----------
    decodes
        ``{(array key, chunk index): times decoded}``: 1 everywhere when nothing was re-read.
    """

    def __init__(self, capacity: int = 8, max_bytes: int = 256 << 20, keep: int = 1) -> None:
        self.capacity, self.max_bytes, self.keep = max(1, int(capacity)), int(max_bytes), max(1, int(keep))
        self.nbytes = 0
        self.decodes: collections.Counter[tuple[str, tuple[int, ...]]] = collections.Counter()
        self._chunks: collections.OrderedDict[tuple[str, tuple[int, ...]], np.ndarray] = (
            collections.OrderedDict()
        )
        self._pending: dict[tuple[str, tuple[int, ...]], Future[np.ndarray]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, arr: Any, idx: tuple[int, ...]) -> np.ndarray:
        """Chunk ``idx`` of zarr array ``arr`` (named ``key``), decoded now or earlier."""
        k = (key, idx)
        with self._lock:
            if k in self._chunks:
                self._chunks.move_to_end(k)
                return self._chunks[k]
            pending = self._pending.get(k)
            mine = pending is None
            if mine:  # this thread decodes; others asking meanwhile wait for it (one decode)
                pending = self._pending[k] = Future()
        assert pending is not None
        if not mine:
            return pending.result()
        try:
            block = np.asarray(arr.get_block_selection(idx))  # decoded outside the lock
            block.flags.writeable = False
        except BaseException as err:
            with self._lock:
                del self._pending[k]
            pending.set_exception(err)
            raise
        with self._lock:
            self.decodes[k] += 1
            self._chunks[k] = block
            self.nbytes += block.nbytes
            while len(self._chunks) > self.keep and (
                len(self._chunks) > self.capacity or self.nbytes > self.max_bytes
            ):
                self.nbytes -= self._chunks.popitem(last=False)[1].nbytes
            del self._pending[k]
        pending.set_result(block)
        return block

    def clear(self) -> None:
        """Drop every decoded chunk (the counts stay)."""
        with self._lock:
            self._chunks.clear()
            self.nbytes = 0

    def __getstate__(self) -> dict[str, Any]:  # travels to workers empty: each process decodes for itself
        return {"capacity": self.capacity, "max_bytes": self.max_bytes, "keep": self.keep}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]


class _CachedArray:
    """A zarr array read through a :class:`SourceCache` (basic slicing only, as Dask reads)."""

    def __init__(self, store: str, path: str, cache: SourceCache) -> None:
        self.store, self.path, self.cache = store, path, cache
        self._arr = zarr.open_array(store, path=path, mode="r")
        self.shape, self.dtype = tuple(self._arr.shape), self._arr.dtype
        self.chunks, self.ndim = tuple(self._arr.chunks), self._arr.ndim

    def __getstate__(self) -> dict[str, Any]:
        return {"store": self.store, "path": self.path, "cache": self.cache}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["store"], state["path"], state["cache"])  # type: ignore[misc]

    def __getitem__(self, key: Any) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        spans = [sl.indices(n) for sl, n in zip(key, self.shape, strict=True)]
        if any(step != 1 for _, _, step in spans):
            raise ValueError(f"{self.path}: only contiguous slices are read through the cache")
        ranges = [range(a // c, -(-b // c)) for (a, b, _), c in zip(spans, self.chunks, strict=True)]
        whole = [
            (r.start * c, min(r.stop * c, n)) for r, c, n in zip(ranges, self.chunks, self.shape, strict=True)
        ]
        if all(len(r) == 1 for r in ranges):
            # inside one chunk (a chunk spanning the scene, or Dask's usual whole-chunk read):
            # a read-only view of the cached block, no copy
            idx = tuple(r.start for r in ranges)
            block = self.cache.get(f"{self.store}::{self.path}", self._arr, idx)
            if whole == [(a, b) for a, b, _ in spans]:
                return block
            return block[
                tuple(slice(a - i * c, b - i * c) for (a, b, _), i, c in zip(spans, idx, self.chunks))
            ]
        out = np.empty(tuple(max(0, b - a) for a, b, _ in spans), dtype=self.dtype)
        if out.size == 0:
            return out
        for idx in itertools.product(*ranges):
            block = self.cache.get(f"{self.store}::{self.path}", self._arr, idx)
            src, dst = [], []
            for (a, b, _), i, c, n in zip(spans, idx, self.chunks, block.shape, strict=True):
                lo, hi = max(a, i * c), min(b, i * c + n)
                src.append(slice(lo - i * c, hi - i * c))
                dst.append(slice(lo - a, hi - a))
            out[tuple(dst)] = block[tuple(src)]
        return out


def cached_source(
    cube: xr.DataArray,
    store: str | os.PathLike[str],
    path: str,
    cache: SourceCache,
    chunks: Mapping[str, int] | None = None,
) -> xr.DataArray:
    """``cube`` (opened from array ``path`` of ``store``) reading its Zarr chunks through ``cache``.

    Same values and coordinates. ``chunks`` (per dim; default: the Zarr chunks) sets the
    Dask blocks: each block is copied out of the decoded Zarr chunks it overlaps, so a job's
    blocks can follow its regions (a region holds its window, not whole Zarr chunks).
    """
    import dask.array as da
    from dask.base import tokenize

    src = _CachedArray(os.fspath(store), path, cache)
    blocks = tuple(int((chunks or {}).get(str(d), c)) for d, c in zip(cube.dims, src.chunks, strict=True))
    name = "xharm-source-" + tokenize(src.store, path, id(cache), src.shape, blocks)
    data = da.from_array(
        src, chunks=blocks, name=name, lock=False, asarray=False, fancy=False, inline_array=True,
        meta=np.empty((0,) * src.ndim, dtype=src.dtype),
    )  # fmt: skip
    if data.shape != cube.shape:
        raise DimensionError(
            describe(f"{path} in {store} changed shape while opened", expected=cube.shape, found=data.shape)
        )
    return cube.copy(data=data)


def _to_dataset(cube: xr.DataArray) -> xr.Dataset:
    cube = cube.assign_coords(
        {c: (cube[c].dims, cube[c].values.astype(str)) for c in _STR_COORDS if c in cube.coords}
    )
    ds = cube.to_dataset(name=VAR)
    ds.attrs = dict(cube.attrs)
    ds[VAR].attrs = {}
    return ds


def write_cube(
    cube: xr.DataArray,
    store: str | os.PathLike[str],
    *,
    group: str | None = None,
    chunks: Mapping[str, int] | None = None,
    mode: Literal["w", "w-", "a"] = "w-",
) -> None:
    """Write a canonical cube (NumPy or Dask) to ``store`` (group ``group``). Computes.

    Parameters
    ----------
    chunks
        Zarr chunk sizes per dim (default: the Dask chunks, else ``time=1`` and the full band/y/x).
    mode
        ``"w-"`` (fail if it exists), ``"w"`` (overwrite) or ``"a"``.

    Examples
    --------
    >>> import numpy as np, tempfile
    >>> from odc.geo.geobox import GeoBox
    >>> from xharm.core.cube import make_cube
    >>> g = GeoBox.from_bbox((0, 0, 60, 60), "EPSG:32632", resolution=10)
    >>> cube = make_cube(np.ones((2, 1, 6, 6)), geobox=g, bands=["B02"], sensor="sentinel-2a",
    ...                  time=["2021-06-01", "2021-06-06"])
    >>> path = tempfile.mkdtemp() + "/c.zarr"
    >>> write_cube(cube, path, group="s2_10m")
    >>> back = open_cube(path, group="s2_10m")
    >>> back.dims, back.odc.geobox == g, float(back.sum())
    (('time', 'band', 'y', 'x'), True, 72.0)
    """
    validate(cube)
    ds = _to_dataset(cube)
    if chunks is not None:
        enc_chunks = tuple(int(chunks.get(str(d), cube.sizes[d])) for d in cube.dims)
    elif cube.chunks is not None:
        enc_chunks = tuple(int(c[0]) for c in cube.chunks)
    else:
        enc_chunks = (1, *cube.shape[1:])
    if cube.chunks is not None:
        ds = ds.chunk(dict(zip(cube.dims, enc_chunks, strict=True)))
    enc = {VAR: {"chunks": enc_chunks, "compressors": checksummed()}}
    with quiet_zarr_strings():
        ds.to_zarr(store, group=group, mode=mode, encoding=enc, consolidated=False)


def open_group(store: str | os.PathLike[str], group: str | None = None) -> xr.Dataset:
    """The group ``group`` of a Zarr store as a lazy Dataset (Zarr chunks).

    Raises
    ------
    ProductNotFoundError
        No store, no such group, or ``group`` names an array.
    """
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
                expected=f"a group holding a {VAR!r} variable",
                found=f"the array {group!r}",
                fix=f"name its group ({parent})",
            )
        ) from err


def open_cube(
    store: str | os.PathLike[str], group: str | None = None, var: str = VAR, *, chunks: Any = None
) -> xr.DataArray:
    """A canonical cube from variable ``var`` of ``group``, lazily (Dask; ``chunks=None``: the Zarr chunks).

    Reads what :func:`write_cube`, :class:`RegionWriter` and :func:`write_groups` write (and
    other stores holding canonical cubes). The cube's attrs are the group's merged with the
    variable's own (the variable's win); the job marks and the coordinates of other
    variables (per-date angles, masks) are dropped.

    Examples
    --------
    >>> import tempfile, os
    >>> from xharm import simulate
    >>> path = os.path.join(tempfile.mkdtemp(), "sim.zarr")
    >>> _ = simulate.to_zarr(path, n_dates=1, size_km=0.6)
    >>> truth = open_cube(path, "l8", "truth")
    >>> truth.dims, truth.attrs["sensor"]
    (('time', 'band', 'y', 'x'), 'landsat-8')
    """
    ds = open_group(store, group)
    if chunks is not None:
        ds = ds.chunk(chunks)
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
    group_attrs = {k: v for k, v in ds.attrs.items() if k not in (_READY, _FINGERPRINT, _INPUT)}
    cube.attrs = {**group_attrs, **cube.attrs}
    cube.name = None
    keep = set(cube.dims) | {"common_name", "spatial_ref"}
    extra = [c for c in cube.coords if c == DONE or (c not in keep and set(ds[c].dims) - {"time"})]
    return cube.drop_vars(extra)


def clear_masks(store: str | os.PathLike[str], group: str | None = None) -> list[str]:
    """The clear masks of a group: its boolean ``(time, y, x)`` variables named ``*valid``.

    Returned as ``"GROUP/VAR"`` (``"VAR"`` in the root group), as :func:`open_mask` and the
    ``--valid`` options take them; sorted. An absent group has none.

    Examples
    --------
    >>> import tempfile, numpy as np, xarray as xr
    >>> path = tempfile.mkdtemp() + "/m.zarr"
    >>> xr.Dataset({"s2_valid": (("time", "y", "x"), np.ones((1, 2, 2), bool)),
    ...             "scl": (("time", "y", "x"), np.ones((1, 2, 2), "u1"))}).to_zarr(path, group="s2_20m")
    <xarray.backends.zarr.ZarrStore object at ...>
    >>> clear_masks(path, "s2_20m"), clear_masks(path, "nothing")
    (['s2_20m/s2_valid'], [])
    """
    try:
        ds = open_group(store, group)
    except ProductNotFoundError:
        return []
    return [
        f"{group}/{var}" if group else str(var)
        for var in sorted(map(str, ds.data_vars))
        if var.endswith("valid") and _is_clear_mask(ds[var])
    ]


def _is_clear_mask(arr: xr.DataArray) -> bool:
    """A clear mask is boolean ``(time, y, x)`` (:func:`open_mask`, :func:`clear_masks`)."""
    return bool(arr.dtype == bool and set(arr.dims) == {"time", "y", "x"})


def open_mask(store: str | os.PathLike[str], spec: str) -> xr.DataArray:
    """The boolean mask ``"GROUP/VAR"`` (or ``"VAR"`` of the root group) of a store."""
    group, _, var = spec.rpartition("/")
    mask = open_cube(store, group or None, var)
    if not _is_clear_mask(mask):
        raise DimensionError(
            describe(
                f"{spec} in {store} is not a clear mask",
                expected="bool (time, y, x)",
                found=f"{mask.dtype} {tuple(mask.dims)}",
                fix="name a boolean mask: s2_20m/s2_valid (harmonize), l8/l8_valid (evaluate)",
            )
        )
    return mask


def jsonable_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes as Zarr stores them: scalars as they are, anything else as JSON text.

    Examples
    --------
    >>> jsonable_attrs({"a": 1, "b": {"c": [1, 2]}})
    {'a': 1, 'b': '{"c": [1, 2]}'}
    """
    return {
        k: v if isinstance(v, str | int | float | bool) else json.dumps(v, default=str)
        for k, v in attrs.items()
    }


def write_groups(
    store: str | os.PathLike[str],
    groups: Mapping[str, xr.Dataset | xr.DataArray],
    *,
    attrs: Mapping[str, Any] | None = None,
    progress: Callable[[], contextlib.AbstractContextManager[Any]] | None = None,
) -> None:
    """Write several groups to a new store in one Dask pass, checksummed; computes.

    A DataArray is stored as the cube variable ``reflectance`` with its attrs as the
    group's; a Dataset as it is (its attrs on the group). ``attrs`` go on the root group.
    ``progress`` is a context manager factory wrapped around the computation (e.g. a
    Dask progress bar).

    Raises
    ------
    StorageError
        The disk filled up or the store became unwritable mid-write.
    """
    from dask import compute

    zarr.open_group(os.fspath(store), mode="w", attributes=jsonable_attrs(attrs or {}))
    writes = []
    with quiet_zarr_strings():
        for name, obj in groups.items():
            if isinstance(obj, xr.DataArray):
                obj = _to_dataset(obj)
            ds = obj.copy()
            ds.attrs = jsonable_attrs(ds.attrs)
            enc = {v: {"compressors": checksummed()} for v in ds.data_vars}
            writes.append(
                ds.to_zarr(
                    os.fspath(store), group=name, mode="w", consolidated=False, compute=False, encoding=enc
                )
            )
        try:
            with progress() if progress is not None else contextlib.nullcontext():
                compute(*writes)
            zarr.consolidate_metadata(os.fspath(store))
        except OSError as err:  # disk full, permissions changed mid-write
            raise StorageError(
                describe(
                    f"writing {store} failed: {err.strerror or err}", fix="free space, then write it again"
                )
            ) from err


def finished_regions(store: str | os.PathLike[str], *, group: str | None = None) -> np.ndarray:
    """Indices of the regions already written to a :class:`RegionWriter` store (empty if none)."""
    try:
        arr = zarr.open_array(store, path=DONE if group is None else f"{group}/{DONE}", mode="r")
    except (FileNotFoundError, KeyError, ValueError, zarr.errors.NodeTypeValidationError):
        return np.zeros(0, dtype=int)
    return np.flatnonzero(arr[...] == 1)


class RegionWriter:
    """Write a lazy cube to Zarr region by region, resumably.

    Parameters
    ----------
    cube
        The (lazy) canonical cube to write.
    store, group
        Target.
    fingerprint
        A string identifying the job (inputs, model, arguments); a rerun resumes only when
        it matches, otherwise :meth:`init` refuses (or overwrites with ``overwrite=True``).
    region
        Region size per dim, in pixels; rounded to whole Dask chunks of ``cube`` (which are
        also the Zarr chunks). A dim not named is whole; ``time`` defaults to 4 time chunks.
        A region is computed with ``dask.array.store`` (chunks are written as they finish).
    input_identity
        A digest of the inputs (part of ``fingerprint``), stored apart so that a refused
        resume can say that the input changed.
    region_data
        ``region_data(region)`` -> the lazy data (Dask array) of one region, built for that
        region alone: a small graph per region instead of a slice of the whole cube's graph
        (whose halo layers pull every neighbouring block in). Default, and always under a
        ``dask.distributed`` client (its scheduler mis-orders shared keys of graphs sent
        at once from several threads: seen with distributed 2026.x): ``cube`` sliced.
    in_flight
        Regions computed at once by :meth:`run` (default 2: one region's model calls overlap
        the other's reading, patching and writing, so two cores stay busy). On Dask's local
        schedulers each region runs on one thread (``scheduler="sync"``), so memory is
        ``in_flight`` regions whatever the scene size or number of dates; under a
        ``dask.distributed`` client (``--scheduler``, ``--local-workers``, ``--gpu``) the regions
        run on the cluster in batches of at least its worker threads, each batch one graph
        sent from one thread.
    extra
        ``{name: (time, y, x) lazy array}`` on the cube's grid, written with each region
        beside the cube (same chunks, covered by the region's digest): e.g. the ``quality``
        bits of a physics-anchored model. ``region_data`` then returns ``{VAR: data,
        name: data, ...}`` for a region.
    """

    def __init__(
        self,
        cube: xr.DataArray,
        store: str | os.PathLike[str],
        *,
        fingerprint: str,
        group: str | None = None,
        region: Mapping[str, int] | None = None,
        input_identity: str | None = None,
        in_flight: int = 2,
        region_data: Callable[[Mapping[str, slice]], Any] | None = None,
        extra: Mapping[str, xr.DataArray] | None = None,
    ) -> None:
        validate(cube)
        self.input_identity, self.region_data = input_identity, region_data
        self.extra = dict(extra or {})
        for name, arr in self.extra.items():
            if tuple(map(str, arr.dims)) != ("time", "y", "x") or any(
                arr.sizes[d] != cube.sizes[d] for d in ("time", "y", "x")
            ):
                raise DimensionError(
                    describe(
                        f"extra variable {name!r} is not on the cube's (time, y, x) grid",
                        expected=str({d: cube.sizes[d] for d in ("time", "y", "x")}),
                        found=str(dict(arr.sizes)),
                    )
                )
        self.in_flight = max(1, int(in_flight))
        self._defer_marks = False
        if cube.chunks is None:
            cube = cube.chunk({"time": 1})
        self.cube, self.store, self.group, self.fingerprint = cube, str(store), group, fingerprint
        self.chunks = tuple(int(c[0]) for c in cube.chunks)  # type: ignore[union-attr]
        region = dict(region or {})
        self.bounds: list[list[int]] = []
        for dim, chunk_sizes in zip(cube.dims, cube.chunks, strict=True):  # type: ignore[arg-type]
            edges = np.concatenate([[0], np.cumsum(chunk_sizes)])
            if str(dim) in region or dim == "time":
                want = region.get(str(dim), 4 * chunk_sizes[0])
                step = max(1, round(want / chunk_sizes[0]))
            else:  # not named: the whole extent (a rounded ratio split 666 px into 512 + 154 regions)
                step = len(chunk_sizes)
            self.bounds.append(
                [int(e) for e in edges[::step]] + ([int(edges[-1])] if (len(edges) - 1) % step else [])
            )

    @property
    def regions(self) -> list[dict[str, slice]]:
        """All regions, in write order (index = position)."""
        dims = [str(d) for d in self.cube.dims]
        spans = [list(itertools.pairwise(b)) for b in self.bounds]
        return [
            {d: slice(a, b) for d, (a, b) in zip(dims, combo, strict=True) if d != "band"}
            for combo in itertools.product(*spans)
        ]

    def _path(self, name: str) -> str:
        return name if self.group is None else f"{self.group}/{name}"

    def state(self) -> str:
        """``"absent"``, ``"ready"`` (initialized for this fingerprint) or ``"other"``."""
        try:
            grp = zarr.open_group(self.store, path=self.group or "", mode="r")
        except (FileNotFoundError, KeyError, ValueError, zarr.errors.NodeTypeValidationError):
            return "absent"
        attrs = dict(grp.attrs)
        if not attrs.get(_READY):
            return "absent"
        return "ready" if attrs.get(_FINGERPRINT) == self.fingerprint else "other"

    def init(self, *, overwrite: bool = False) -> None:
        """Write metadata, coordinates and the empty progress array (unless already there).

        ``overwrite`` starts again from scratch even over this same job's store (it used to
        keep a finished store, so a rerun with ``overwrite`` timed nothing).
        """
        state = self.state()
        if state == "ready" and not overwrite:
            self._sweep_partials()
            return
        if state == "other" and not overwrite:
            raise FileExistsError(
                describe(
                    f"{self.store} holds the output of another job",
                    expected=f"fingerprint {self.fingerprint}",
                    found="a different fingerprint",
                    fix="pass overwrite=True, or choose another output path",
                )
            )
        ds = _to_dataset(self.cube)
        ds.attrs.update({_FINGERPRINT: self.fingerprint})
        if self.input_identity is not None:
            ds.attrs[_INPUT] = self.input_identity
        n = len(self.regions)
        ds[DONE] = xr.DataArray(da_zeros(n), dims=("xharm_region",))
        ds[DIGEST] = xr.DataArray(da_zeros(n, np.uint64), dims=("xharm_region",))
        enc = {
            VAR: {"chunks": self.chunks, "compressors": checksummed()},
            DONE: {"chunks": (1,)},
            DIGEST: {"chunks": (1,)},
        }
        for name, arr in self.extra.items():
            chunks = dict(zip(arr.dims, self._chunks_of(arr), strict=True))
            ds[name] = arr.drop_vars([c for c in arr.coords if c not in arr.dims]).chunk(chunks)
            enc[name] = {"chunks": self._chunks_of(arr), "compressors": checksummed()}
        with quiet_zarr_strings():
            ds.to_zarr(
                self.store, group=self.group, mode="w", compute=False, encoding=enc, consolidated=False
            )
        grp = zarr.open_group(self.store, path=self.group or "", mode="r+")
        grp.attrs[_READY] = True

    def _sweep_partials(self) -> None:
        """Delete the temporary ``*.partial`` files of writes a killed run never finished.

        Zarr's local store writes each chunk to ``<key>.<uuid>.partial`` and renames it into
        place; a process killed between the two leaves the temporary file behind. The chunk it
        belonged to is rewritten on resume (its region is not marked done), so the file is
        garbage; left there it made a resumed store differ from an uninterrupted one.
        """
        root = Path(self.store) / (self.group or "")
        if root.is_dir():
            for path in root.rglob("*.partial"):
                path.unlink(missing_ok=True)

    def pending(self) -> list[int]:
        """Indices of regions not yet marked done."""
        done = set(finished_regions(self.store, group=self.group).tolist())
        return [i for i in range(len(self.regions)) if i not in done]

    def write(self, index: int) -> None:
        """Compute and write region ``index`` chunk by chunk (``dask.array.store``), then mark it done.

        Inside :meth:`run` the marking waits for the regions before it (:meth:`mark`).
        """
        import dask.array as da

        sel = self.regions[index]
        scheduler = _region_scheduler()
        if self.region_data is not None and scheduler == "sync":
            built = self.region_data(sel)
            built = dict(built) if isinstance(built, Mapping) else {VAR: built}
            parts, targets, wheres = [], [], []
            for name, arr in ((VAR, self.cube), *self.extra.items()):
                where = self._where(arr, sel)
                part = da.asarray(built[name]).rechunk(self._chunks_of(arr))
                want = tuple(len(range(*w.indices(n))) for w, n in zip(where, arr.shape, strict=True))
                if part.shape != want:
                    raise DimensionError(
                        describe(
                            f"region {index} ({name}) was built with the wrong shape",
                            expected=want,
                            found=part.shape,
                        )
                    )
                parts.append(part)
                targets.append(zarr.open_array(self.store, path=self._path(name), mode="r+"))
                wheres.append(where)
            da.store(parts, targets, regions=wheres, lock=False, scheduler=scheduler)  # type: ignore[arg-type]
            del built, parts
        else:
            self._store([index], scheduler=scheduler)
        _trim_heap()
        if not self._defer_marks:
            self.mark(index)

    def _store(self, indices: Sequence[int], scheduler: str | None = None) -> None:
        """Regions ``indices`` of the cube's graph (and the extra variables') as one ``dask.array.store``."""
        import dask.array as da

        parts, targets, wheres = [], [], []
        for name, arr in ((VAR, self.cube), *self.extra.items()):
            data = da.asarray(arr.data)
            target = zarr.open_array(self.store, path=self._path(name), mode="r+")
            for i in indices:
                where = self._where(arr, self.regions[i])
                parts.append(data[where])  # type: ignore[index]
                targets.append(target)
                wheres.append(where)
        da.store(parts, targets, regions=wheres, lock=False, scheduler=scheduler)  # type: ignore[arg-type]

    @staticmethod
    def _where(arr: xr.DataArray, sel: Mapping[str, slice]) -> tuple[slice, ...]:
        return tuple(sel.get(str(d), slice(None)) for d in arr.dims)

    def _chunks_of(self, arr: xr.DataArray) -> tuple[int, ...]:
        """The Zarr chunks of ``arr``: the cube's, for its dims."""
        by_dim = dict(zip(map(str, self.cube.dims), self.chunks, strict=True))
        return tuple(by_dim[str(d)] for d in arr.dims)

    def mark(self, index: int) -> None:
        """Record region ``index`` as written: digest its chunk files, then set its done flag."""
        digests = zarr.open_array(self.store, path=self._path(DIGEST), mode="r+")
        digests[index] = self.digest(index)
        done = zarr.open_array(self.store, path=self._path(DONE), mode="r+")
        done[index] = 1

    def _chunk_files(self, index: int) -> list[tuple[str, Path]]:
        """``(key, file)`` of every Zarr chunk of region ``index`` (local stores), extra variables too."""
        sel = self.regions[index]
        files = []
        for name, cube in ((VAR, self.cube), *self.extra.items()):
            arr = zarr.open_array(self.store, path=self._path(name), mode="r")
            spans = []
            for dim, size, chunk in zip(cube.dims, cube.shape, self._chunks_of(cube), strict=True):
                s = sel.get(str(dim), slice(0, size))
                spans.append(range(s.start // chunk, -(-s.stop // chunk)))
            root = Path(self.store) / self._path(name)
            keys = (arr.metadata.encode_chunk_key(idx) for idx in itertools.product(*spans))
            prefix = "" if name == VAR else f"{name}/"  # the cube's keys as before: old digests hold
            files += [(prefix + k, root / k) for k in keys]
        return files

    def digest(self, index: int) -> int:
        """BLAKE2b (64 bit) of region ``index``'s chunk files as stored (a missing file counts)."""
        h = hashlib.blake2b(digest_size=8)
        for key, path in self._chunk_files(index):
            data = path.read_bytes() if path.is_file() else b"<absent>"
            h.update(key.encode() + b"\0" + len(data).to_bytes(8, "little") + data)
        return int.from_bytes(h.digest(), "little") or 1

    def verify(self) -> list[int]:
        """Re-digest every finished region; unmark (for rewriting) and return those that differ."""
        digests = np.asarray(zarr.open_array(self.store, path=self._path(DIGEST), mode="r")[...])
        bad = [int(i) for i in finished_regions(self.store, group=self.group) if digests[i] != self.digest(i)]
        if bad:
            done = zarr.open_array(self.store, path=self._path(DONE), mode="r+")
            for i in bad:
                done[i] = 0
        return bad

    def stored_input_identity(self) -> str | None:
        """The input identity recorded when the store was initialized (None: none recorded)."""
        try:
            grp = zarr.open_group(self.store, path=self.group or "", mode="r")
        except (FileNotFoundError, KeyError, ValueError, zarr.errors.NodeTypeValidationError):
            return None
        value = grp.attrs.get(_INPUT)
        return None if value is None else str(value)

    def run(self, *, overwrite: bool = False) -> Generator[int, None, None]:
        """Initialize if needed and write every pending region; yields each finished index, in order.

        ``in_flight`` regions are computed at once (a thread each); regions are marked done
        in order, after they are written. When the consumer stops (an exception, e.g. a
        progress callback interrupted), the regions in flight finish writing and stay
        unmarked: a resume rewrites them.
        """
        self.init(overwrite=overwrite)
        todo = self.pending()
        if _region_scheduler() != "sync":
            # dask.distributed: graphs that share keys (slices of one cube's graph), submitted
            # at once from several threads, lose keys on the scheduler (KeyError / "missing
            # keys", seen with distributed 2026.x in about one run in four). So the regions in
            # flight go as one graph from this thread, a batch of at least the cluster's threads.
            n_batch = max(self.in_flight, _cluster_threads())
            for k in range(0, len(todo), n_batch):
                batch = todo[k : k + n_batch]
                self._store(batch)
                for i in batch:
                    self.mark(i)
                    yield i
            return
        limit_malloc_arenas()
        n_flight = self.in_flight
        if n_flight == 1 or len(todo) < 2:
            for i in todo:
                self.write(i)
                yield i
            return
        pool = ThreadPoolExecutor(n_flight, thread_name_prefix="xharm-region")
        queue: collections.deque[tuple[int, Future[None]]] = collections.deque()
        self._defer_marks = True
        try:
            it = iter(todo)
            for i in itertools.islice(it, n_flight):
                queue.append((i, pool.submit(self.write, i)))
            while queue:
                i, fut = queue.popleft()
                fut.result()
                nxt = next(it, None)
                if nxt is not None:
                    queue.append((nxt, pool.submit(self.write, nxt)))
                self.mark(i)
                yield i
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            self._defer_marks = False


def write_resumable(
    writer: RegionWriter,
    *,
    resume: bool = True,
    overwrite: bool = False,
    on_region: Callable[[int, int], None] | None = None,
) -> None:
    """Run a :class:`RegionWriter` (a lazy cube -> a store, region by region), resumably: the one job writer.

    ``xharm harmonize`` (:func:`xharm.jobs.harmonize`), :func:`xharm.jobs.harmonize_zarr`
    and ``xharm sharpen`` write through here.

    - A store of this same job (same ``fingerprint``) is resumed when ``resume``: finished
      regions are re-digested first (:meth:`RegionWriter.verify`) and any whose chunks were
      altered, truncated or deleted are written again (with a warning), then the pending
      regions are written. Without ``resume`` an existing store is refused.
    - A store of another job is refused unless ``overwrite``; so is a store whose input
      identity differs (the input changed since the job started), even with ``resume``.
    - ``on_region(done, total)`` is called once before the first region (``done`` may
      already equal ``total``: nothing to do) and after each region written.

    Raises
    ------
    ArgumentError
        ``resume`` and ``overwrite`` together.
    FileExistsError
        The store exists and may not be written (the message says what it holds and what to pass).
    """
    if resume and overwrite:
        raise ArgumentError(
            describe(
                "--resume and --overwrite contradict each other",
                expected="one of them",
                found="both",
                fix="--resume to finish the run OUT holds, or --overwrite to start it again from scratch",
            )
        )
    store, group, input_identity = writer.store, writer.group, writer.input_identity
    state = writer.state()
    stored = writer.stored_input_identity() if state == "other" else None
    if resume and stored is not None and input_identity is not None and stored != input_identity:
        raise FileExistsError(
            describe(
                f"cannot resume: the input read by the job writing {store} changed since the job started",
                expected="the same input files (names, sizes, modification times)",
                found="other files in the input groups",
                fix="pass --overwrite to redo the job on the new input, or restore the old input",
            )
        )
    n = len(writer.regions)
    if Path(store).exists() and not overwrite and not (resume and state == "ready"):
        done = len(finished_regions(store, group=group)) if state == "ready" else None
        if done is not None and done == n:
            what = f"the finished output of this same job (all {done} regions done)"
        elif done is not None:
            what = f"an unfinished run of this job ({done} of {n} regions done)"
        else:
            what = (
                "the output of another job" if state == "other" else "something that is not this job's output"
            )
        if done is not None and done == n:
            fix = "nothing to do; pass --resume to accept it as is, or "
        else:
            fix = "pass --resume to finish it, or " if state == "ready" else ""
        raise FileExistsError(
            describe(
                f"{store} already exists: it holds {what}",
                fix=fix + "--overwrite to replace it, or choose another output path",
            )
        )
    if state == "ready" and resume and (bad := writer.verify()):
        warnings.warn(
            f"{store}: {len(bad)} finished region(s) ({', '.join(map(str, bad[:8]))}) do not match their "
            "recorded digests (chunks altered, truncated or deleted); rewriting them",
            stacklevel=2,
        )
    done = n - len(writer.pending()) if state == "ready" else 0
    if on_region is not None:
        on_region(done, n)
    with quiet_zarr_strings(), contextlib.closing(writer.run(overwrite=overwrite)) as regions:
        for _ in regions:
            done += 1
            if on_region is not None:
                on_region(done, n)


def _region_scheduler() -> str | None:
    """``"sync"`` on Dask's local schedulers (one thread per region; :meth:`RegionWriter.run`
    runs regions side by side), None (the active one) under a ``dask.distributed`` client."""
    from dask.base import get_scheduler

    owner = getattr(get_scheduler(), "__self__", None)  # a distributed Client's bound get
    return None if type(owner).__module__.startswith("distributed") else "sync"


def _trim_heap() -> None:
    """Hand the heap's free pages back to the system after a region (glibc ``malloc_trim``).

    glibc raises its mmap threshold after large frees, so region-sized buffers end up on
    the heap, which then keeps growing with the number of regions written (measured: peak
    RSS +33 % from 2 to 24 dates). Trimming after each region keeps it flat; unlike a fixed
    mmap threshold (``mallopt``), it leaves the model's own buffers alone (a fixed 4 MiB
    threshold made the generator 20 % slower). Other C libraries: nothing to do.
    """
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


@functools.cache
def limit_malloc_arenas() -> None:
    """Let this process's threads share 2 glibc malloc arenas (``mallopt(M_ARENA_MAX, 2)``), once.

    glibc gives threads that allocate at once their own arenas (up to 8 per core), and
    each keeps its freed pages as its own free space: with the region threads, XLA's and
    the decoders' allocating side by side, region-sized buffers fragment over many arenas.
    Arenas made before the call stay, so a job calls it first, before it opens the model
    and the inputs (:mod:`xharm.jobs`), and :meth:`RegionWriter.run` once more. Measured on
    a 60 km, 2-date MGAN job (``benchmarks/bench_memory.py``, 2 cores): peak RSS 1508 ->
    1193 MiB, time unchanged (44.3 / 41.4 s). Applies to the whole process (threads then
    share arenas; the default returns only with a new process); set the environment
    variable ``MALLOC_ARENA_MAX`` to choose another value (then this does nothing). Other C
    libraries: nothing to do.
    """
    libc = _libc()
    if libc is not None and "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(_M_ARENA_MAX, 2)


_M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)


@functools.cache
def _libc() -> Any:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def _cluster_threads() -> int:
    """Worker threads of the active ``dask.distributed`` client (1 if it cannot say)."""
    try:
        from distributed import default_client

        return max(1, sum(default_client().nthreads().values()))
    except (ImportError, ValueError):
        return 1


def da_zeros(n: int, dtype: Any = np.int8) -> Any:
    """Lazy zeros (written as metadata only with ``compute=False``)."""
    import dask.array as da

    return da.zeros(n, dtype=dtype, chunks=1)
