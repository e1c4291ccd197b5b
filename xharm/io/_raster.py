"""Shared plumbing of the readers: open a raster lazily, with clear errors.

Every reader goes through :func:`raster_info` (metadata only: existence, format,
truncation, grid, tags) and :func:`open_lazy` (a Dask array through
``rioxarray.open_rasterio``). Nothing here reads pixels.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import rasterio
import rioxarray
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_coords
from rasterio.errors import RasterioError

from ..core.cube import make_cube
from ..core.sensors import Sensor
from ..exceptions import CorruptProductError, GridError, ProductNotFoundError, describe
from ..validate import require_present

__all__ = [
    "DEFAULT_CHUNKS",
    "Chunks",
    "Opener",
    "RasterInfo",
    "as_paths",
    "build_cube",
    "build_layer",
    "check_same_grid",
    "decode_dn",
    "open_lazy",
    "parse_time",
    "raster_info",
]

#: Default spatial chunk (pixels on a side) of every reader.
DEFAULT_CHUNKS = 1024

Chunks = int | tuple[int, int] | Mapping[str, int] | None


@dataclass(frozen=True)
class RasterInfo:
    """What a reader needs to know about one raster file, read from its header only."""

    path: Path
    count: int
    dtype: str
    nodata: float | None
    geobox: GeoBox
    descriptions: tuple[str | None, ...]
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def resolution(self) -> float:
        """Pixel size in CRS units (square pixels)."""
        return float(abs(self.geobox.resolution.x))


def as_paths(paths: str | Path | Sequence[str | Path]) -> list[Path]:
    """Normalize one path or a sequence of paths into a list of :class:`~pathlib.Path`."""
    if isinstance(paths, (str, Path)):
        return [Path(paths)]
    return [Path(p) for p in paths]


def require_bands(product: str, files: Mapping[str, Any], wanted: Sequence[str]) -> None:
    """Raise :class:`MissingBandError` unless every ``wanted`` band has a file in ``files``."""
    require_present(
        wanted,
        files,
        problem=f"{product} lacks band(s) {{missing}}",
        fix="add the missing band files, or ask for fewer bands with bands=[...]",
    )


def require_exists(path: Path, *, what: str = "raster") -> Path:
    """Raise :class:`ProductNotFoundError` unless ``path`` exists."""
    if not path.exists():
        hint = "check the path"
        if path.parent.is_dir():
            near = sorted(p.name for p in path.parent.iterdir())[:8]
            hint = f"check the path; {path.parent} holds {near}"
        raise ProductNotFoundError(
            describe(f"{what} file {str(path)!r} does not exist", expected="an existing file", fix=hint)
        )
    return path


def raster_info(path: str | Path, *, what: str = "raster") -> RasterInfo:
    """Read the header of a raster file: grid, dtype, nodata, band descriptions, tags.

    Raises
    ------
    ProductNotFoundError
        The file does not exist.
    CorruptProductError
        GDAL cannot open it, or (GeoTIFF) its pixel blocks run past the end of the file.
    GridError
        The grid is rotated or not north-up.
    """
    path = require_exists(Path(path), what=what)
    if path.is_dir():
        raise CorruptProductError(
            describe(f"{what} {str(path)!r} is a folder, not a raster file", expected="a GeoTIFF/JP2 file")
        )
    try:
        with rasterio.open(path) as src:
            _check_complete(src, path, what)
            transform = src.transform
            if transform.b != 0 or transform.d != 0 or transform.e >= 0:
                raise GridError(
                    describe(
                        f"{what} {path.name} is not on a north-up grid",
                        expected="an affine transform without rotation and with negative y step",
                        found=tuple(transform)[:6],
                        fix="warp it to a north-up grid first (gdalwarp)",
                    )
                )
            if src.crs is None:
                raise CorruptProductError(
                    describe(
                        f"{what} {path.name} has no CRS", expected="a georeferenced raster", found="no CRS"
                    )
                )
            epsg = src.crs.to_epsg()
            crs: Any = f"EPSG:{epsg}" if epsg else src.crs.to_wkt()
            return RasterInfo(
                path=path,
                count=src.count,
                dtype=str(src.dtypes[0]),
                nodata=src.nodata,
                geobox=GeoBox((src.height, src.width), transform, crs),
                descriptions=tuple(src.descriptions),
                tags=dict(src.tags()),
            )
    except RasterioError as err:
        raise CorruptProductError(
            describe(
                f"{what} {str(path)!r} cannot be read as a raster",
                expected="a readable GeoTIFF, COG or JPEG2000 file",
                found=str(err).splitlines()[0][:200],
                fix="download the file again (it may be truncated or not a raster)",
            )
        ) from err


def _check_complete(src: Any, path: Path, what: str) -> None:
    """GeoTIFF: every pixel block must lie inside the file (catches truncated downloads)."""
    if src.driver != "GTiff":
        return
    size = path.stat().st_size
    bh, bw = src.block_shapes[0]
    nby, nbx = math.ceil(src.height / bh), math.ceil(src.width / bw)
    bands = range(1, src.count + 1) if src.interleaving != rasterio.enums.Interleaving.pixel else [1]
    end = 0
    for bidx in bands:
        for by in range(nby):
            for bx in range(nbx):
                off = src.get_tag_item(f"BLOCK_OFFSET_{bx}_{by}", "TIFF", bidx=bidx)
                n = src.get_tag_item(f"BLOCK_SIZE_{bx}_{by}", "TIFF", bidx=bidx)
                if off and n:
                    end = max(end, int(off) + int(n))
    if end > size:
        raise CorruptProductError(
            describe(
                f"{what} {str(path)!r} is truncated",
                expected=f"at least {end} bytes (end of its last pixel block)",
                found=f"{size} bytes",
                fix="download the file again",
            )
        )


def spatial_chunks(chunks: Chunks) -> tuple[int | str, int | str]:
    if chunks is None:
        return DEFAULT_CHUNKS, DEFAULT_CHUNKS
    if isinstance(chunks, int):
        return chunks, chunks
    if isinstance(chunks, Mapping):
        return chunks.get("y", DEFAULT_CHUNKS), chunks.get("x", DEFAULT_CHUNKS)
    cy, cx = chunks
    return cy, cx


def open_lazy(info: RasterInfo, *, chunks: Chunks = None) -> da.Array:
    """The pixels of a raster as a ``(band, y, x)`` Dask array (all bands in one chunk)."""
    cy, cx = spatial_chunks(chunks)
    try:
        arr = rioxarray.open_rasterio(info.path, chunks={"band": -1, "y": cy, "x": cx}, cache=False)
    except RasterioError as err:  # pragma: no cover - raster_info opened it already
        raise CorruptProductError(f"{info.path} cannot be read: {err}") from err
    assert isinstance(arr, xr.DataArray)
    return arr.data


class Opener:
    """Open each file once per read call: ``opener(info)`` is the file's ``(band, y, x)`` Dask array."""

    def __init__(self, chunks: Chunks = None) -> None:
        self.chunks = chunks
        self._cache: dict[Path, da.Array] = {}

    def __call__(self, info: RasterInfo) -> da.Array:
        if info.path not in self._cache:
            self._cache[info.path] = open_lazy(info, chunks=self.chunks)
        return self._cache[info.path]


def _decode_block(
    block: np.ndarray, scale: float, offset: float, offset_dn: np.ndarray, fills: tuple[float, ...]
) -> np.ndarray:
    values = (block.astype("float64") + offset_dn.reshape((-1,) + (1,) * (block.ndim - 1))) * scale + offset
    out = values.astype("float32")
    for fill in fills:
        out[block == fill] = np.nan
    return out


def decode_dn(
    data: da.Array,
    *,
    scale: float,
    offset: float = 0.0,
    offset_dn: float | Sequence[float] = 0.0,
    fills: Sequence[float | None] = (),
) -> da.Array:
    """Lazily decode ``(band, y, x)`` DN: ``(dn + offset_dn[band]) * scale + offset``, fill -> NaN."""
    nb = data.shape[0]
    off = np.broadcast_to(np.asarray(offset_dn, dtype="float64"), (nb,)).copy()
    fill_values = tuple(float(f) for f in fills if f is not None)
    if data.chunks[0] != (nb,):
        data = data.rechunk({0: -1})
    return da.map_blocks(
        _decode_block, data, scale=scale, offset=offset, offset_dn=off, fills=fill_values, dtype=np.float32
    )


def check_same_grid(infos: Sequence[RasterInfo], *, what: str) -> GeoBox:
    """All rasters must share one grid; return it, or raise :class:`GridError` naming the odd file."""
    first = infos[0]
    for other in infos[1:]:
        if other.geobox != first.geobox:
            raise GridError(
                describe(
                    f"{what}: {other.path.name} is not on the same grid as {first.path.name}",
                    expected=_grid_text(first.geobox),
                    found=_grid_text(other.geobox),
                    fix="read files of one tile/resolution together, or reproject them onto one grid first",
                )
            )
    return first.geobox


def _grid_text(gbox: GeoBox) -> str:
    a = gbox.affine
    return f"{gbox.crs} shape {tuple(gbox.shape)} origin ({a.c:g}, {a.f:g}) pixel {a.a:g}"


def build_cube(
    arrays: Sequence[da.Array],
    *,
    geobox: GeoBox,
    bands: Sequence[str],
    sensor: str | Sensor,
    times: Sequence[np.datetime64],
    attrs: Mapping[str, Any] | None = None,
    time_coords: Mapping[str, Sequence[Any]] | None = None,
    name: str = "reflectance",
) -> xr.DataArray:
    """Stack per-date ``(band, y, x)`` float arrays into a canonical cube sorted by time."""
    order = np.argsort(np.asarray(times, dtype="datetime64[ns]"), kind="stable")
    data = da.stack([arrays[i] for i in order], axis=0)
    cube = make_cube(
        data,
        geobox=geobox,
        bands=bands,
        sensor=sensor,
        time=[times[i] for i in order],
        attrs=attrs,
        name=name,
    )
    for key, values in (time_coords or {}).items():
        cube = cube.assign_coords({key: ("time", [values[i] for i in order])})
    return cube


def build_layer(
    arrays: Sequence[da.Array],
    *,
    geobox: GeoBox,
    times: Sequence[np.datetime64],
    name: str,
    dtype: str,
    attrs: Mapping[str, Any] | None = None,
    time_coords: Mapping[str, Sequence[Any]] | None = None,
) -> xr.DataArray:
    """Stack per-date ``(y, x)`` arrays into a ``(time, y, x)`` layer (QA, mask) on ``geobox``."""
    order = np.argsort(np.asarray(times, dtype="datetime64[ns]"), kind="stable")
    data = da.stack([arrays[i].astype(dtype) for i in order], axis=0)
    coords: dict[Any, Any] = dict(xr_coords(geobox))
    coords["time"] = np.asarray([times[i] for i in order], dtype="datetime64[ns]")
    out = xr.DataArray(data, dims=("time", "y", "x"), coords=coords, attrs=dict(attrs or {}))
    out.name = name
    for key, values in (time_coords or {}).items():
        out = out.assign_coords({key: ("time", [values[i] for i in order])})
    return out


_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?Z?")


def parse_time(text: str) -> np.datetime64:
    """Parse an ISO-like UTC time stamp (``2022-06-15T10:15:59.025Z``) into naive ``datetime64[ns]``."""
    m = _ISO.search(text)
    if m is None:
        raise ValueError(f"not a time stamp: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or ".0")[1:7].ljust(6, "0"))
    stamp = datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)
    return np.datetime64(stamp.replace(tzinfo=None), "ns")
