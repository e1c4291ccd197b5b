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

import contextlib
import hashlib
import itertools
import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
import zarr

from ..core.cube import validate
from ..exceptions import ArgumentError, DimensionError, ProductNotFoundError, StorageError, describe

__all__ = [
    "RegionWriter",
    "checksummed",
    "find_corrupt_chunk",
    "finished_regions",
    "jsonable_attrs",
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


def open_mask(store: str | os.PathLike[str], spec: str) -> xr.DataArray:
    """The boolean mask ``"GROUP/VAR"`` (or ``"VAR"`` of the root group) of a store."""
    group, _, var = spec.rpartition("/")
    mask = open_cube(store, group or None, var)
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
        also the Zarr chunks). Default: 4 time chunks, whole y/x. A region is computed with
        ``dask.array.store`` (chunks are written as they finish, so memory stays bounded by
        the scheduler's parallelism, not the region size); its chunks run in parallel.
    input_identity
        A digest of the inputs (part of ``fingerprint``), stored apart so that a refused
        resume can say that the input changed.
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
    ) -> None:
        validate(cube)
        self.input_identity = input_identity
        if cube.chunks is None:
            cube = cube.chunk({"time": 1})
        self.cube, self.store, self.group, self.fingerprint = cube, str(store), group, fingerprint
        self.chunks = tuple(int(c[0]) for c in cube.chunks)  # type: ignore[union-attr]
        region = dict(region or {})
        self.bounds: list[list[int]] = []
        for dim, chunk_sizes in zip(cube.dims, cube.chunks, strict=True):  # type: ignore[arg-type]
            edges = np.concatenate([[0], np.cumsum(chunk_sizes)])
            want = region.get(str(dim), 4 * chunk_sizes[0] if dim == "time" else cube.sizes[dim])
            step = max(1, round(want / chunk_sizes[0]))
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
        """Write metadata, coordinates and the empty progress array (unless already there)."""
        state = self.state()
        if state == "ready":
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
        with quiet_zarr_strings():
            ds.to_zarr(
                self.store, group=self.group, mode="w", compute=False, encoding=enc, consolidated=False
            )
        grp = zarr.open_group(self.store, path=self.group or "", mode="r+")
        grp.attrs[_READY] = True

    def pending(self) -> list[int]:
        """Indices of regions not yet marked done."""
        done = set(finished_regions(self.store, group=self.group).tolist())
        return [i for i in range(len(self.regions)) if i not in done]

    def write(self, index: int) -> None:
        """Compute and write region ``index`` chunk by chunk (``dask.array.store``), then mark it done."""
        import dask.array as da

        sel = self.regions[index]
        where = tuple(sel.get(str(d), slice(None)) for d in self.cube.dims)
        target = zarr.open_array(self.store, path=self._path(VAR), mode="r+")
        da.store(da.asarray(self.cube.data)[where], target, regions=where, lock=False)  # type: ignore[arg-type]
        digests = zarr.open_array(self.store, path=self._path(DIGEST), mode="r+")
        digests[index] = self.digest(index)
        done = zarr.open_array(self.store, path=self._path(DONE), mode="r+")
        done[index] = 1

    def _chunk_files(self, index: int) -> list[tuple[str, Path]]:
        """``(key, file)`` of every Zarr chunk of region ``index`` (local stores)."""
        arr = zarr.open_array(self.store, path=self._path(VAR), mode="r")
        sel = self.regions[index]
        spans = []
        for dim, size, chunk in zip(self.cube.dims, self.cube.shape, self.chunks, strict=True):
            s = sel.get(str(dim), slice(0, size))
            spans.append(range(s.start // chunk, -(-s.stop // chunk)))
        root = Path(self.store) / self._path(VAR)
        keys = (arr.metadata.encode_chunk_key(idx) for idx in itertools.product(*spans))
        return [(k, root / k) for k in keys]

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

    def run(self, *, overwrite: bool = False) -> Iterator[int]:
        """Initialize if needed and write every pending region; yields each finished index."""
        self.init(overwrite=overwrite)
        for i in self.pending():
            self.write(i)
            yield i


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
    with quiet_zarr_strings():
        for _ in writer.run(overwrite=overwrite):
            done += 1
            if on_region is not None:
                on_region(done, n)


def da_zeros(n: int, dtype: Any = np.int8) -> Any:
    """Lazy zeros (written as metadata only with ``compute=False``)."""
    import dask.array as da

    return da.zeros(n, dtype=dtype, chunks=1)
