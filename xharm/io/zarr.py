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
"""

from __future__ import annotations

import contextlib
import itertools
import os
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr
import zarr

from ..cube import validate
from ..exceptions import CorruptProductError, ProductNotFoundError, describe

__all__ = ["RegionWriter", "finished_regions", "open_cube", "quiet_zarr_strings", "write_cube"]

VAR = "reflectance"
DONE = "xharm_done"
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
    >>> from xharm.cube import make_cube
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
    with quiet_zarr_strings():
        ds.to_zarr(store, group=group, mode=mode, encoding={VAR: {"chunks": enc_chunks}}, consolidated=False)


def open_cube(store: str | os.PathLike[str], *, group: str | None = None, chunks: Any = None) -> xr.DataArray:
    """Open a cube written by :func:`write_cube` / :class:`RegionWriter` lazily (Dask).

    ``chunks=None`` uses the Zarr chunks. The cube's attrs are the group's merged with
    the variable's own (the variable's win on a clash).
    """
    if not Path(store).exists():
        raise ProductNotFoundError(
            describe("Zarr store not found", expected="an existing store", found=str(store))
        )
    try:
        ds = xr.open_zarr(store, group=group, chunks=chunks if chunks is not None else {}, consolidated=False)
    except (FileNotFoundError, KeyError, ValueError) as err:
        raise CorruptProductError(
            describe(
                f"cannot open group {group!r} of {store}", found=str(err), fix="check the store/group name"
            )
        ) from err
    if VAR not in ds:
        raise CorruptProductError(
            describe(
                f"{store} (group {group!r}) holds no xharm cube", expected=f"variable {VAR!r}", found=list(ds)
            )
        )
    cube = ds[VAR]
    # group attrs (what write_cube stores), then the variable's own attrs, which win
    group_attrs = {k: v for k, v in ds.attrs.items() if k not in (_READY, _FINGERPRINT)}
    cube.attrs = {**group_attrs, **cube.attrs}
    cube = cube.drop_vars([c for c in cube.coords if c == DONE], errors="ignore")
    cube.name = None
    return cube


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
    """

    def __init__(
        self,
        cube: xr.DataArray,
        store: str | os.PathLike[str],
        *,
        fingerprint: str,
        group: str | None = None,
        region: Mapping[str, int] | None = None,
    ) -> None:
        validate(cube)
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
        n = len(self.regions)
        ds[DONE] = xr.DataArray(da_zeros(n), dims=("xharm_region",))
        enc = {VAR: {"chunks": self.chunks}, DONE: {"chunks": (1,)}}
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
        done = zarr.open_array(self.store, path=self._path(DONE), mode="r+")
        done[index] = 1

    def run(self, *, overwrite: bool = False) -> Iterator[int]:
        """Initialize if needed and write every pending region; yields each finished index."""
        self.init(overwrite=overwrite)
        for i in self.pending():
            self.write(i)
            yield i


def da_zeros(n: int) -> Any:
    """Lazy int8 zeros (written as metadata only with ``compute=False``)."""
    import dask.array as da

    return da.zeros(n, dtype=np.int8, chunks=1)
