"""HLS v2.0 (Harmonized Landsat Sentinel-2) S30/L30 COG reader.

Files follow NASA's naming ``HLS.{L30|S30}.T{tile}.{YYYYDOY}T{HHMMSS}.v2.0.{band}.tif``;
one granule (product, tile, time) is one time step. Reflectance bands decode as
``DN * 0.0001`` with fill -9999 -> NaN; ``Fmask`` is returned raw (uint8) for
:mod:`xharm.core.qa`. Sets with only ``Fmask`` files give a Dataset with just ``fmask``.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from rasterio.errors import RasterioError

from ..core.sensors import HLS_SCALING, get_sensor
from ..exceptions import CorruptProductError, MissingBandError, ProductError, SensorError, describe
from ._raster import (
    Chunks,
    RasterInfo,
    as_paths,
    build_cube,
    build_layer,
    check_same_grid,
    decode_dn,
    open_lazy,
    parse_time,
    raster_info,
    require_bands,
    require_exists,
)

__all__ = ["read_hls", "read_metadata"]

_NAME = re.compile(
    r"HLS\.(L30|S30)\.T(\w{5})\.(\d{4})(\d{3})T(\d{6})\.v(\d+\.\d+)\.(\w+)\.(?:tif|tiff)$", re.I
)
_SKIP = {"SAA", "SZA", "VAA", "VZA"}  # angle layers are not read
_BANDPASS_TAG = re.compile(
    r"MSI[ _]BAND[ _](\w{2})[ _]BANDPASS[ _]ADJUSTMENT[ _]SLOPE[ _]AND[ _]OFFSET", re.I
)


@dataclass
class _Granule:
    product: str
    tile: str
    stamp: str
    files: dict[str, RasterInfo] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"HLS.{self.product}.T{self.tile}.{self.stamp}.v2.0"


def read_hls(
    paths: str | Path | Sequence[str | Path], *, bands: Sequence[str] | None = None, chunks: Chunks = None
) -> xr.Dataset:
    """Read HLS v2.0 S30 or L30 granules into a lazy Dataset.

    Parameters
    ----------
    paths
        COG files named ``HLS.S30.T13RCN.2024128T173909.v2.0.B04.tif`` (any mix of bands
        and ``Fmask``), or folders holding them. Angle layers are skipped.
    bands
        Reflectance bands to keep (HLS ids such as ``"B04"``/``"B8A"`` or common names);
        default all present.
    chunks
        Spatial chunk size in pixels.

    Returns
    -------
    xarray.Dataset
        ``reflectance``: canonical float32 cube (sensor ``hls-s30`` or ``hls-l30``) when
        reflectance bands are given; ``fmask``: ``(time, y, x)`` uint8 when Fmask files are.
        Time is the granule's ``SENSING_TIME`` tag (earliest when several), else the
        ``YYYYDOYTHHMMSS`` of the name. Per-time coordinates ``product`` and ``platform``.

    Raises
    ------
    ProductNotFoundError, CorruptProductError, ProductError, SensorError, MissingBandError, GridError

    Examples
    --------
    >>> ds = read_hls(sorted(Path("hls").glob("HLS.S30.T13RCN.*.tif")))  # doctest: +SKIP
    >>> ds.fmask.dims  # doctest: +SKIP
    ('time', 'y', 'x')
    """
    granules = _collect(as_paths(paths))
    products = {g.product for g in granules}
    if len(products) > 1:
        raise SensorError(
            describe(
                "S30 and L30 granules were mixed",
                expected="one HLS product per call (their band sets differ)",
                found=", ".join(sorted(g.name for g in granules)),
                fix="read S30 and L30 separately",
            )
        )
    sensor = get_sensor(f"hls-{products.pop().lower()}")
    infos = [info for g in granules for info in g.files.values()]
    geobox = check_same_grid(infos, what="HLS granules")
    times, platforms = [], []
    for g in granules:
        meta = read_metadata(next(iter(g.files.values())).path)
        times.append(meta["time"])
        platforms.append(meta["platform"] or sensor.platform)
    per_time = {"product": [g.name for g in granules], "platform": platforms}

    refl = [b for b in (sensor.band_ids) if any(b in g.files for g in granules)]
    wanted = refl if bands is None else [sensor.band(b).id for b in bands]
    data_vars: dict[str, xr.DataArray] = {}
    if wanted:
        for g in granules:
            require_bands(f"granule {g.name}", g.files, wanted)
        arrays = []
        for g in granules:
            stack = da.concatenate([open_lazy(g.files[b], chunks=chunks) for b in wanted], axis=0)
            nodata = {g.files[b].nodata for b in wanted}
            arrays.append(decode_dn(stack, scale=HLS_SCALING.scale, fills=(HLS_SCALING.fill, *nodata)))
        plat = platforms[0] if len(set(platforms)) == 1 else sensor.platform
        data_vars["reflectance"] = build_cube(
            arrays,
            geobox=geobox,
            bands=wanted,
            sensor=sensor,
            times=times,
            # HLS v2.0 is surface reflectance (atmospherically corrected, NBAR): level 2
            attrs={
                "platform": plat,
                "product": f"HLS.{sensor.name[-3:].upper()} v2.0",
                "processing_level": "L2",
            },
            time_coords=per_time,
        )
    if all("Fmask" in g.files for g in granules):
        layers = [open_lazy(g.files["Fmask"], chunks=chunks)[0] for g in granules]
        data_vars["fmask"] = build_layer(
            layers, geobox=geobox, times=times, name="fmask", dtype="uint8", time_coords=per_time
        )
    elif not wanted:
        raise MissingBandError(describe("no reflectance band and no Fmask among the files", found=infos))
    return xr.Dataset(data_vars, attrs={"sensor": sensor.name, "platform": sensor.platform})


def _collect(paths: list[Path]) -> list[_Granule]:
    files: list[Path] = []
    for path in paths:
        require_exists(path, what="HLS")
        files.extend(sorted(p for p in path.iterdir() if _NAME.search(p.name)) if path.is_dir() else [path])
    granules: dict[tuple[str, str, str], _Granule] = {}
    for path in files:
        m = _NAME.search(path.name)
        if m is None:
            raise ProductError(
                describe(
                    f"{path.name} is not named like an HLS v2.0 file",
                    expected="HLS.{L30|S30}.T{tile}.{YYYYDOY}T{HHMMSS}.v2.0.{band}.tif",
                    found=path.name,
                    fix="keep the LP DAAC file names (they carry product, tile, time and band)",
                )
            )
        product, tile, year, doy, clock, version, band = m.groups()
        if version != "2.0":
            raise ProductError(describe(f"{path.name} is HLS v{version}", expected="v2.0", found=version))
        if band.upper() in _SKIP:
            continue
        key = (product.upper(), tile.upper(), f"{year}{doy}T{clock}")
        g = granules.setdefault(key, _Granule(*key))
        if band.lower() == "fmask":
            name = "Fmask"
        else:
            name = get_sensor(f"hls-{product.lower()}").band(band).id
        info = raster_info(path, what=f"HLS {name}")
        expected_dtype = "uint8" if name == "Fmask" else "int16"
        if info.dtype != expected_dtype or info.count != 1:
            raise ProductError(
                describe(
                    f"{path.name} does not look like an HLS {name} layer",
                    expected=f"1 band of {expected_dtype}",
                    found=f"{info.count} band(s) of {info.dtype}",
                )
            )
        g.files[name] = info
    if not granules:
        raise ProductError(describe("no HLS band or Fmask files given", found=[p.name for p in files][:8]))
    return [granules[k] for k in sorted(granules)]


def read_metadata(path: str | Path) -> dict[str, Any]:
    """Read HLS granule metadata from a COG's tags or from the ``.cmr.xml`` file.

    Returns
    -------
    dict
        ``granule``, ``product`` (``"S30"``/``"L30"``), ``tile``, ``time`` (sensing time,
        ``datetime64[ns]`` UTC; the earliest when a granule merges scenes), ``platform``
        (``"sentinel-2b"``, ``"landsat-8"`` or None), ``cloud_coverage`` and
        ``spatial_coverage`` (percent), ``processing_baseline``, ``scale_factor`` and
        ``fill`` (cmr.xml only), ``bandpass`` (S30: ``{msi band: (slope, offset)}`` as
        applied by HLS, offsets in reflectance) and ``tags`` (everything, raw).

    Examples
    --------
    >>> meta = read_metadata("HLS.S30.T13RCN.2024128T173909.v2.0.Fmask.tif")  # doctest: +SKIP
    >>> meta["platform"], meta["bandpass"]["B8A"]  # doctest: +SKIP
    ('sentinel-2b', (0.9966, 0.0))
    """
    path = require_exists(Path(path), what="HLS metadata")
    if path.suffix.lower() == ".xml":
        tags = _cmr_tags(path)
    else:
        try:
            with rasterio.open(path) as src:
                tags = {k: v for k, v in src.tags().items()}
        except RasterioError as err:
            raise CorruptProductError(describe(f"{path.name} cannot be read", found=str(err)[:200])) from err
    m = re.search(r"HLS\.(L30|S30)\.T(\w{5})\.(\d{4})(\d{3})T(\d{6})", path.name)
    bandpass: dict[str, tuple[float, float]] = {}
    for key, value in tags.items():
        bm = _BANDPASS_TAG.fullmatch(key.strip())
        if bm:
            slope, offset = (float(v) for v in re.split(r"[,;\s]+", value.strip()) if v)
            bandpass[get_sensor("sentinel-2a").band("B" + bm.group(1).upper()).id] = (slope, offset)
    sensing = [parse_time(t) for t in re.split(r"[;,]", tags.get("SENSING_TIME", "")) if t.strip()]
    if sensing:
        stamp = min(sensing)
    elif m is not None:
        year, doy, clock = m.group(3), int(m.group(4)), m.group(5)
        day = np.datetime64(f"{year}-01-01") + np.timedelta64(doy - 1, "D")
        stamp = np.datetime64(f"{day}T{clock[:2]}:{clock[2:4]}:{clock[4:]}", "ns")
    else:
        raise ProductError(
            describe(
                f"{path.name} carries no HLS sensing time", expected="a SENSING_TIME tag or an HLS file name"
            )
        )
    return {
        "granule": m.group(0) + ".v2.0" if m else tags.get("GranuleUR"),
        "product": m.group(1).upper() if m else None,
        "tile": m.group(2).upper() if m else tags.get("SENTINEL2_TILEID") or tags.get("MGRS_TILE_ID"),
        "time": stamp,
        "platform": _platform(tags),
        "cloud_coverage": _float(tags.get("cloud_coverage", tags.get("CLOUD_COVERAGE"))),
        "spatial_coverage": _float(tags.get("spatial_coverage", tags.get("SPATIAL_COVERAGE"))),
        "processing_baseline": tags.get("PROCESSING_BASELINE"),
        "scale_factor": _float(tags.get("REF_SCALE_FACTOR")),
        "fill": _float(tags.get("FILLVALUE")),
        "bandpass": bandpass,
        "tags": tags,
    }


def _cmr_tags(path: Path) -> dict[str, str]:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ProductError(describe(f"{path.name} is not valid XML", found=str(err))) from err
    tags: dict[str, str] = {}
    for el in root.iter():
        if el.tag == "AdditionalAttribute":
            name = el.findtext("Name", "").strip()
            values = [v.text.strip() for v in el.iter("Value") if v.text]
            tags[name] = ", ".join(values)
    tags["GranuleUR"] = root.findtext("GranuleUR", "")
    spacecraft = root.findtext("Platforms/Platform/ShortName")
    if spacecraft:
        tags["SPACECRAFT_NAME"] = spacecraft
    begin = root.findtext("Temporal/RangeDateTime/BeginningDateTime")
    if begin and "SENSING_TIME" not in tags:
        tags["SENSING_TIME"] = begin
    if not tags["GranuleUR"]:
        raise ProductError(
            describe(f"{path.name} is not an HLS CMR granule file", expected="<Granule><GranuleUR>")
        )
    return tags


def _platform(tags: dict[str, str]) -> str | None:
    name = tags.get("SPACECRAFT_NAME")
    if name:
        return get_sensor(name.split(";")[0].strip()).name
    pid = tags.get("LANDSAT_PRODUCT_ID", "")
    if pid[:4] in ("LC08", "LC09"):
        return get_sensor(pid[:4]).name
    return None


def _float(value: Any) -> float | None:
    try:
        return float(str(value).split(",")[0]) if value is not None else None
    except ValueError:
        return None
