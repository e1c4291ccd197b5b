"""Sentinel-2 L1C/L2A reader: per-band GeoTIFF/JP2/COG or multi-band files, one cube per resolution.

Reflectance is ``(DN + offset_dn) / QUANTIFICATION_VALUE`` with DN 0 (and the file's own
nodata) as fill. ``offset_dn`` is read from the product metadata (``RADIO_ADD_OFFSET`` in
L1C, ``BOA_ADD_OFFSET`` in L2A) when there is one; otherwise it follows the processing
baseline (-1000 from baseline 04.00 on, see :func:`xharm.core.sensors.s2_boa_offset`), taken
from the metadata, the product name (``_N0400_``) or ``processing_baseline=``. The reader
never guesses it: without any of these it raises :class:`~xharm.exceptions.ProductError`.
"""

from __future__ import annotations

import math
import re
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from ..core.sensors import ANGLE_NAMES, S2_SCALING, get_sensor, s2_boa_offset
from ..exceptions import (
    CorruptProductError,
    CRSError,
    GridError,
    MissingBandError,
    MissingHintsError,
    ProductError,
    SensorError,
    describe,
)
from ._raster import (
    Chunks,
    Opener,
    RasterInfo,
    as_paths,
    build_cube,
    build_layer,
    check_same_grid,
    decode_dn,
    open_lazy,
    parse_time,
    raster_info,
    require_exists,
)

__all__ = ["S2_BAND_ORDER", "read_s2_angles", "read_s2_metadata", "read_scl", "read_sentinel2"]

#: Band order of 13-band Sentinel-2 files and of the MTD ``bandId`` indices.
S2_BAND_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")

_PRODUCT = re.compile(r"(S2[ABC])_MSI(L1C|L2A)_(\d{8}T\d{6})_N(\d{4})_R\d{3}_T(\w{5})_\d{8}T\d{6}")
_BAND_FILE = re.compile(
    r"(?:^|[_.-])(B(?:0?[1-9]|1[0-2]|8A))(?:_(\d{2})m)?\.(?:tif|tiff|jp2)$", re.IGNORECASE
)
_TILE_TIME = re.compile(r"T(\d{2}[A-Z]{3})_(\d{8}T\d{6})_")
_SCL_FILE = re.compile(r"SCL(?:_\d{2}m)?\.(?:tif|tiff|jp2)$", re.IGNORECASE)


@dataclass
class _Product:
    name: str
    files: dict[str, tuple[RasterInfo, int]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


def read_sentinel2(
    source: str | Path | Sequence[str | Path],
    *,
    bands: Sequence[str] | None = None,
    level: str | None = None,
    metadata: str | Path | Sequence[str | Path] | None = None,
    platform: str | None = None,
    time: Any = None,
    processing_baseline: str | None = None,
    add_offset_dn: float | None = None,
    band_order: Sequence[str] | None = None,
    crop: bool = True,
    chunks: Chunks = None,
) -> dict[float, xr.DataArray]:
    """Read Sentinel-2 L1C/L2A products into lazy canonical cubes, one per native resolution.

    Parameters
    ----------
    source
        One product or several (one time step each): a folder of per-band files (a ``.SAFE``
        folder, or any folder with files named ``..._B02.tif`` / ``..._B02_10m.jp2``), a
        list of per-band files, or multi-band files (13 bands in ``B01..B8A..B12`` order
        unless the file names its bands).
    bands
        Bands to keep (ids or common names); default all present.
    level
        ``"L1C"`` or ``"L2A"``; checked against the metadata / name when given.
    metadata
        The product's ``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml`` (one per product, in order).
        Found automatically inside a ``.SAFE`` folder, as ``MTD_MSI*.xml`` beside the band
        files, or as ``<file stem>_MTD.xml`` beside a multi-band file. A folder of band files
        without one may hold the product's STAC Item JSON instead (an Earth Search
        ``sentinel-cogs`` download): its date, platform, level, processing baseline and
        ``earthsearch:boa_offset_applied`` are read (:func:`xharm.io.stac.s2_item_facts`).
    platform, time, processing_baseline
        Used when neither the metadata nor the file names tell them (one value for all
        products, or a sequence with one per product for ``time``).
    add_offset_dn
        Force the DN offset (e.g. ``0`` for products known to predate baseline 04.00).
    band_order
        Band ids of a multi-band file that does not name them.
    crop
        Crop the resolutions to their largest common footprint whose edges lie on a
        60 m lattice, so that 10/20/60 m (and Landsat 30 m) pixels nest exactly.
    chunks
        Spatial chunk size in pixels.

    Returns
    -------
    dict
        ``{resolution_m: cube}``; each cube is a canonical float32 ``(time, band, y, x)``
        DataArray with ``attrs`` ``sensor``, ``platform``, ``level``,
        ``processing_baseline`` and ``add_offset_dn`` (when one value holds for every
        product) and per-time coordinates ``product``, ``processing_baseline``,
        ``add_offset_dn``. Nothing is computed.

    Raises
    ------
    ProductNotFoundError, CorruptProductError, ProductError, SensorError, MissingBandError,
    GridError, CRSError

    Examples
    --------
    >>> safe = "S2B_MSIL2A_20220615T101559_N0400_R065_T32UPC_20220615T122549.SAFE"
    >>> cubes = read_sentinel2(safe)  # doctest: +SKIP
    >>> sorted(cubes), cubes[10.0].band.values.tolist()  # doctest: +SKIP
    ([10.0, 20.0, 60.0], ['B02', 'B03', 'B04', 'B08'])
    """
    products = _collect(as_paths(source), band_order, metadata)
    times = _per_product(time, len(products), "time")
    sensor = None
    series: list[dict[str, Any]] = []
    for i, prod in enumerate(products):
        info = _describe_product(prod, level, platform, times[i], processing_baseline, add_offset_dn)
        s = get_sensor(info["platform"])
        if sensor is not None and s.name != sensor.name:
            raise SensorError(
                describe(
                    "the products come from different Sentinel-2 platforms",
                    expected=sensor.name,
                    found=f"{s.name} ({prod.name})",
                    fix="read each platform separately (their spectral responses differ)",
                )
            )
        sensor = s
        series.append(info)
    assert sensor is not None

    wanted = None if bands is None else [sensor.band(b).id for b in bands]
    groups = [_by_resolution(p, wanted) for p in products]
    resolutions = sorted(groups[0])
    for prod, group in zip(products, groups):
        if sorted(group) != resolutions or any(sorted(group[r]) != sorted(groups[0][r]) for r in resolutions):
            raise MissingBandError(
                describe(
                    f"product {prod.name} does not hold the same bands as {products[0].name}",
                    expected={r: sorted(groups[0][r]) for r in resolutions},
                    found={r: sorted(group[r]) for r in sorted(group)},
                    fix="read products with the same bands together (or pass bands=[...])",
                )
            )
    grids = {}
    for res in resolutions:
        infos = [p.files[b][0] for p, g in zip(products, groups) for b in g[res]]
        grids[res] = check_same_grid(infos, what=f"Sentinel-2 {res:g} m bands")
    windows = _nesting_windows(grids) if crop and len(grids) > 1 else {r: None for r in grids}

    # granule-mean sun / view angles where every product's metadata gives them (HLS's BRDF step)
    angles = {
        a: [s["angles"][a] for s in series] for a in ANGLE_NAMES if all(a in s["angles"] for s in series)
    }
    opener = Opener(chunks)
    out: dict[float, xr.DataArray] = {}
    for res in resolutions:
        band_ids = [b for b in S2_BAND_ORDER if b in groups[0][res]]
        arrays = []
        for prod, info in zip(products, series):
            layers = [_band_array(prod, b, opener) for b in band_ids]
            stack = da.concatenate(layers, axis=0)
            window = windows[res]
            if window is not None:
                stack = stack[(slice(None), *window)]
            offsets = [info["offsets"][b] for b in band_ids]
            nodata = {prod.files[b][0].nodata for b in band_ids}
            arrays.append(
                decode_dn(stack, scale=1.0 / info["quantification"], offset_dn=offsets, fills=(0, *nodata))
            )
        geobox = grids[res] if windows[res] is None else grids[res][windows[res]]
        per_time = {
            "product": [s["product"] for s in series],
            "processing_baseline": [s["processing_baseline"] or "" for s in series],
            "add_offset_dn": [_one_offset(s["offsets"], band_ids) for s in series],
            **angles,
        }
        level_all = _unique([s["level"] for s in series])
        attrs: dict[str, Any] = {"level": level_all, "processing_level": level_all}
        for key in ("processing_baseline", "add_offset_dn"):
            value = _unique(per_time[key])
            if value not in (None, "") and value == value:  # skip unknown and NaN
                attrs[key] = value
        attrs = {k: v for k, v in attrs.items() if v is not None}
        attrs["resolution"] = res
        out[res] = build_cube(
            arrays,
            geobox=geobox,
            bands=band_ids,
            sensor=sensor,
            times=[s["time"] for s in series],
            attrs=attrs,
            time_coords=per_time,
        )
    return out


def _band_array(prod: _Product, band: str, opener: Opener) -> Any:
    info, index = prod.files[band]
    return opener(info)[index : index + 1]


def _unique(values: Sequence[Any]) -> Any:
    distinct = {repr(v) for v in values}
    return values[0] if len(distinct) == 1 else None


def _one_offset(offsets: dict[str, float], band_ids: Sequence[str]) -> float:
    values = {offsets[b] for b in band_ids}
    return values.pop() if len(values) == 1 else float("nan")


def _per_product(value: Any, n: int, name: str) -> list[Any]:
    if value is None or isinstance(value, (str, np.datetime64)) or not isinstance(value, Sequence):
        return [value] * n
    if len(value) != n:
        raise ProductError(
            describe(f"{name}= has {len(value)} values for {n} products", expected=n, found=len(value))
        )
    return list(value)


# --------------------------------------------------------------------------- collecting files


def _collect(
    paths: list[Path], band_order: Sequence[str] | None, metadata: str | Path | Sequence[str | Path] | None
) -> list[_Product]:
    products: dict[str, _Product] = {}
    for path in paths:
        require_exists(path, what="Sentinel-2 product")
        if path.is_dir():
            prod = products.setdefault(str(path), _Product(_name_of(path)))
            found = [p for p in sorted(path.rglob("*")) if _is_band_file(p)]
            if not found:
                raise ProductError(
                    describe(
                        f"no Sentinel-2 band files in folder {str(path)!r}",
                        expected="files named like T32UPC_20220615T101559_B02.jp2, s2_B02.tif or B02_10m.jp2",
                        found=sorted(p.name for p in path.iterdir())[:8],
                    )
                )
            _add_band_files(prod, found)
            prod.meta.setdefault("mtd", _find_mtd(path, inside=True))
            prod.meta.setdefault("stac", _find_stac_item(path))
            prod.meta.setdefault("mtd_tl", _find_tile_metadata(path))
            continue
        info = raster_info(path, what="Sentinel-2 file")
        if info.count > 1:
            prod = products.setdefault(str(path), _Product(_name_of(path)))
            mtd = _find_mtd(path)
            prod.meta["mtd"] = mtd
            names = _stack_names(info, band_order, mtd)
            for i, b in enumerate(names):
                prod.files[b] = (info, i)
        else:
            m = _PRODUCT.search(str(path))
            key = m.group(0) if m else str(path.parent)
            prod = products.setdefault(key, _Product(m.group(0) if m else _name_of(path.parent)))
            _add_band_files(prod, [path])
            prod.meta.setdefault("mtd", _find_mtd(path))
    out = list(products.values())
    if metadata is not None:
        mtds = as_paths(metadata)
        if len(mtds) != len(out):
            raise ProductError(
                describe("metadata= needs one MTD file per product", expected=len(out), found=len(mtds))
            )
        for prod, mtd in zip(out, mtds):
            prod.meta["mtd"] = require_exists(mtd, what="Sentinel-2 metadata")
    return out


def _is_band_file(path: Path) -> bool:
    parts = {p.upper() for p in path.parts}
    return (
        path.is_file()
        and bool(_BAND_FILE.search(path.name))
        and "QI_DATA" not in parts
        and not (path.name.upper().startswith("MSK_"))
    )


def _add_band_files(prod: _Product, files: Sequence[Path]) -> None:
    sensor = get_sensor("sentinel-2a")
    candidates: dict[str, list[tuple[Path, int | None]]] = {}
    for path in files:
        m = _BAND_FILE.search(path.name)
        if m is None:
            raise ProductError(
                describe(
                    f"cannot tell which band {path.name} holds",
                    expected="a name ending in _B02.tif, _B8A.jp2, _B02_10m.jp2, ...",
                    found=path.name,
                )
            )
        band = sensor.band(m.group(1))
        candidates.setdefault(band.id, []).append((path, int(m.group(2)) if m.group(2) else None))
    for band_id, found in candidates.items():
        if len(found) > 1:  # L2A ships B02_10m, B02_20m, B02_60m: keep the native one
            found = [c for c in found if c[1] == sensor.band(band_id).resolution]
        if len(found) != 1:
            raise ProductError(
                describe(
                    f"band {band_id} appears more than once in product {prod.name}",
                    expected="one file per band (or one at the band's native resolution)",
                    found=[c[0].name for c in candidates[band_id]],
                    fix="pass the files of one product only",
                )
            )
        prod.files[band_id] = (raster_info(found[0][0], what=f"Sentinel-2 band {band_id}"), 0)


def _stack_names(info: RasterInfo, band_order: Sequence[str] | None, mtd: Path | None) -> list[str]:
    sensor = get_sensor("sentinel-2a")
    if band_order is not None:
        names, source = list(band_order), "band_order"
    elif all(info.descriptions):
        names, source = [str(d) for d in info.descriptions], "band descriptions"
    elif mtd is not None and len(read_s2_metadata(mtd)["band_order"]) == info.count:
        names, source = list(read_s2_metadata(mtd)["band_order"]), "the MTD band list"
    elif info.count == len(S2_BAND_ORDER):
        names, source = list(S2_BAND_ORDER), "the 13-band order"
    else:
        raise ProductError(
            describe(
                f"{info.path.name} has {info.count} unnamed bands",
                expected="13 bands (B01..B8A..B12), band descriptions, or band_order=[...]",
                found=info.count,
                fix="pass band_order=['B02', 'B03', ...] in the file's order",
            )
        )
    if len(names) != info.count:
        raise ProductError(
            describe(f"{info.path.name}: {source} names {len(names)} bands", expected=info.count, found=names)
        )
    return [sensor.band(n).id for n in names]


def _name_of(path: Path) -> str:
    m = _PRODUCT.search(str(path))
    return m.group(0) if m else path.stem


def _find_mtd(path: Path, inside: bool = False) -> Path | None:
    base = path if path.is_dir() else path.parent
    if not path.is_dir():
        beside = path.with_name(f"{path.stem}_MTD.xml")
        if beside.exists():
            return beside
    folders = [base] if inside else [base, *list(base.parents)[:4]]
    for folder in folders:
        hits = sorted(folder.glob("MTD_MSIL*.xml"))
        if len(hits) == 1:
            return hits[0]
    if inside:
        hits = sorted(base.glob("*_MTD.xml"))
        if len(hits) == 1:
            return hits[0]
    return None


def _find_stac_item(folder: Path) -> Path | None:
    """The one STAC Item JSON in a product folder (e.g. an Earth Search COG download), if any."""
    import json

    hits = []
    for p in sorted(folder.glob("*.json")):
        if p.stat().st_size > 4 << 20:  # an item is a few kB; do not parse large GeoJSON files
            continue
        try:
            doc = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("type") == "Feature" and "stac_version" in doc:
            hits.append(p)
    return hits[0] if len(hits) == 1 else None


def _find_tile_metadata(folder: Path) -> Path | None:
    """The granule's ``MTD_TL.xml`` (anywhere under a product folder; Earth Search names it
    ``granule_metadata.xml``), when there is exactly one."""
    hits = sorted(folder.rglob("MTD_TL.xml")) or sorted(folder.glob("granule_metadata.xml"))
    return hits[0] if len(hits) == 1 else None


# --------------------------------------------------------------------------- metadata


def read_s2_angles(path: str | Path, *, grid: bool = False) -> dict[str, float] | xr.Dataset:
    """Sun and view angles (degrees) of a Sentinel-2 granule from its tile metadata ``MTD_TL.xml``.

    Parameters
    ----------
    path
        The granule's ``MTD_TL.xml`` (``GRANULE/*/MTD_TL.xml`` of a ``.SAFE``; Earth Search's
        ``granule_metadata.xml`` asset is the same file).
    grid
        Return the 5 km angle grids instead of the granule means.

    Returns
    -------
    dict or xarray.Dataset
        ``sun_zenith``, ``sun_azimuth``, ``view_zenith``, ``view_azimuth``: the granule means
        (``Mean_Sun_Angle``; the view angles averaged over the bands of
        ``Mean_Viewing_Incidence_Angle_List``, azimuths as circular means). With
        ``grid=True`` the same four as ``(y, x)`` grids on the tile's 5 km lattice (view
        angles: the detectors merged, then averaged over bands), with the tile's CRS: pass
        them as ``to_landsat(..., angles=...)``, which interpolates them onto the 30 m grid.
        :func:`read_sentinel2` attaches the means as per-date coordinates by itself.

    Raises
    ------
    ProductError
        Not a tile metadata file, or it lists no angles.

    Examples
    --------
    >>> read_s2_angles("GRANULE/L2A_T32TQM_A040000_20230301T101021/MTD_TL.xml")  # doctest: +SKIP
    {'sun_zenith': 53.2, 'sun_azimuth': 158.9, 'view_zenith': 6.1, 'view_azimuth': 104.5}
    """
    path = require_exists(Path(path), what="Sentinel-2 tile metadata")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ProductError(describe(f"{path.name} is not valid XML", found=str(err))) from err

    def find(el: ET.Element, name: str) -> ET.Element | None:
        return next((c for c in el.iter() if _tag(c) == name), None)

    def angle_pair(el: ET.Element | None) -> tuple[float, float] | None:
        if el is None:
            return None
        zen, az = find(el, "ZENITH_ANGLE"), find(el, "AZIMUTH_ANGLE")
        if zen is None or az is None or not zen.text or not az.text:
            return None
        return float(zen.text), float(az.text)

    sun = angle_pair(find(root, "Mean_Sun_Angle"))
    views = [
        pair
        for el in root.iter()
        if _tag(el) == "Mean_Viewing_Incidence_Angle" and (pair := angle_pair(el)) is not None
    ]
    if sun is None or not views:
        raise ProductError(
            describe(
                f"{path.name} lists no sun / view angles",
                expected="a Sentinel-2 tile metadata file (MTD_TL.xml) with Mean_Sun_Angle and "
                "Mean_Viewing_Incidence_Angle_List",
                found=f"root element {_tag(root)}",
                fix="pass angles= to to_landsat (or brdf=False to skip the BRDF step)",
            )
        )
    zen = np.array([v[0] for v in views])
    az = np.radians([v[1] for v in views])
    means = {
        "sun_zenith": sun[0],
        "sun_azimuth": sun[1],
        "view_zenith": float(zen.mean()),
        "view_azimuth": float(np.degrees(np.arctan2(np.sin(az).mean(), np.cos(az).mean())) % 360.0),
    }
    if not grid:
        return means
    return _angle_grids(root, find, means, path)


def _angle_grids(root: ET.Element, find: Any, means: dict[str, float], path: Path) -> xr.Dataset:
    """The 5 km sun and view angle grids of a tile metadata file (see :func:`read_s2_angles`)."""

    def values(el: ET.Element) -> np.ndarray:
        rows = [r.text.split() for r in el.iter() if _tag(r) == "VALUES" and r.text]
        return np.array(rows, dtype="float64")

    def zenith_azimuth(el: ET.Element) -> tuple[np.ndarray, np.ndarray]:
        return values(find(el, "Zenith")), values(find(el, "Azimuth"))

    sun = find(root, "Sun_Angles_Grid")
    geo = next((g for g in root.iter() if _tag(g) == "Geoposition" and g.get("resolution") == "10"), None)
    code, step = find(root, "HORIZONTAL_CS_CODE"), find(root, "COL_STEP")
    if sun is None or geo is None or code is None or not code.text:
        raise ProductError(describe(f"{path.name} has no angle grids or no tile position", fix="grid=False"))
    sun_z, sun_a = zenith_azimuth(sun)
    views = [zenith_azimuth(el) for el in root.iter() if _tag(el) == "Viewing_Incidence_Angles_Grids"]
    if views:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nodes outside every detector: all NaN
            view_z = np.nanmean(np.stack([z for z, _ in views]), axis=0)
            rad = np.radians(np.stack([a for _, a in views]))
            view_a = np.degrees(np.arctan2(np.nanmean(np.sin(rad), 0), np.nanmean(np.cos(rad), 0))) % 360.0
    else:
        view_z, view_a = np.full_like(sun_z, means["view_zenith"]), np.full_like(sun_z, means["view_azimuth"])
    dx = float(step.text) if step is not None and step.text else 5000.0
    x0, y0 = float(find(geo, "ULX").text), float(find(geo, "ULY").text)
    grids = {"sun_zenith": sun_z, "sun_azimuth": sun_a, "view_zenith": view_z, "view_azimuth": view_a}
    return xr.Dataset(
        {name: (("y", "x"), arr) for name, arr in grids.items()},
        coords={"y": y0 - dx * np.arange(sun_z.shape[0]), "x": x0 + dx * np.arange(sun_z.shape[1])},
        attrs={"crs": code.text, "source": path.name, **{f"mean_{k}": v for k, v in means.items()}},
    )


def _tag(el: ET.Element) -> str:
    return el.tag.split("}")[-1]


def read_s2_metadata(path: str | Path) -> dict[str, Any]:
    """Parse a Sentinel-2 product metadata file (``MTD_MSIL1C.xml`` / ``MTD_MSIL2A.xml``).

    Returns
    -------
    dict
        ``product``, ``level`` (``"L1C"``/``"L2A"``), ``processing_baseline``, ``time``
        (``datetime64[ns]``, UTC), ``platform`` (``"sentinel-2b"``), ``quantification``,
        ``offsets`` (``{band id: DN offset}``, empty when the file lists none) and
        ``band_order`` (band ids by MTD ``bandId``).

    Examples
    --------
    >>> read_s2_metadata("MTD_MSIL1C.xml")["offsets"]["B04"]  # doctest: +SKIP
    -1000.0
    """
    path = require_exists(Path(path), what="Sentinel-2 metadata")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise ProductError(describe(f"{path.name} is not valid XML", found=str(err))) from err
    sensor = get_sensor("sentinel-2a")
    text: dict[str, str] = {}
    order: dict[int, str] = {}
    offsets: dict[int, float] = {}
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        if tag == "Spectral_Information" and "physicalBand" in el.attrib:
            order[int(el.attrib["bandId"])] = sensor.band(el.attrib["physicalBand"]).id
        elif tag in ("RADIO_ADD_OFFSET", "BOA_ADD_OFFSET") and el.text:
            offsets[int(el.attrib.get("band_id", len(offsets)))] = float(el.text)
        elif el.text and el.text.strip() and len(el) == 0:
            text.setdefault(tag, el.text.strip())
    if "PROCESSING_BASELINE" not in text and "PRODUCT_START_TIME" not in text:
        raise ProductError(
            describe(
                f"{path.name} is not a Sentinel-2 product metadata file",
                expected="MTD_MSIL1C.xml / MTD_MSIL2A.xml with PROCESSING_BASELINE",
                found=f"root element {root.tag.split('}')[-1]}",
            )
        )
    band_order = [order[i] for i in sorted(order)] or list(S2_BAND_ORDER)
    level_text = text.get("PROCESSING_LEVEL", "") + text.get("PRODUCT_TYPE", "")
    level = "L2A" if ("2A" in level_text) else ("L1C" if "1C" in level_text else None)
    stamp = text.get("PRODUCT_START_TIME") or text.get("DATATAKE_SENSING_START") or text.get("SENSING_TIME")
    spacecraft = text.get("SPACECRAFT_NAME")
    quant = text.get("QUANTIFICATION_VALUE") or text.get("BOA_QUANTIFICATION_VALUE") or "10000"
    return {
        "product": text.get("PRODUCT_URI", path.stem).removesuffix(".SAFE"),
        "level": level,
        "processing_baseline": text.get("PROCESSING_BASELINE"),
        "time": parse_time(stamp) if stamp else None,
        "platform": get_sensor(spacecraft).name if spacecraft else None,
        "quantification": float(quant),
        "offsets": {band_order[i]: v for i, v in offsets.items() if i < len(band_order)},
        "band_order": band_order,
    }


def _describe_product(
    prod: _Product,
    level: str | None,
    platform: str | None,
    time: Any,
    baseline: str | None,
    add_offset_dn: float | None,
) -> dict[str, Any]:
    if prod.meta.get("mtd"):
        meta = read_s2_metadata(prod.meta["mtd"])
    elif prod.meta.get("stac"):
        meta = _read_stac_facts(prod.meta["stac"])
    else:
        meta = {}
    m = _PRODUCT.search(prod.name) or _PRODUCT.search(meta.get("product", ""))
    names = [info.path.name for info, _ in prod.files.values()]
    tt = next((t for t in (_TILE_TIME.search(n) for n in names) if t), None)

    found_level = meta.get("level") or (m and ("L1C" if m.group(2) == "L1C" else "L2A"))
    if not found_level:  # a folder or file name such as ..._s2_l1c_18SVG_...
        texts = [prod.name, *names]
        found_level = next((lv.group(1).upper() for lv in (_NAME_LEVEL.search(t) for t in texts) if lv), None)
    if level is not None and found_level and level.upper() != found_level:
        raise ProductError(
            describe(
                f"product {prod.name} is {found_level}, not {level.upper()}",
                expected=level.upper(),
                found=found_level,
                fix=f"pass level={found_level!r} or the {level.upper()} product",
            )
        )
    plat = platform or meta.get("platform") or (m and m.group(1))
    stamp = time if time is not None else meta.get("time")
    if stamp is None and m:
        stamp = parse_time(_iso(m.group(3)))
    if stamp is None and tt:
        stamp = parse_time(_iso(tt.group(2)))
    pb = meta.get("processing_baseline") or (m and f"{m.group(4)[:2]}.{m.group(4)[2:]}") or baseline
    need_pb = pb is None and add_offset_dn is None and not meta.get("offsets")
    if not plat or stamp is None or need_pb:
        raise _missing_hints(prod, names, plat, stamp, need_pb)
    offsets = dict(meta.get("offsets") or {})
    if add_offset_dn is not None:
        offsets = {b: float(add_offset_dn) for b in S2_BAND_ORDER}
    elif not offsets:
        offsets = {b: s2_boa_offset(pb) for b in S2_BAND_ORDER}
    missing = [b for b in prod.files if b not in offsets]
    for b in missing:
        offsets[b] = s2_boa_offset(pb)
    angles = meta.get("angles", {})
    if prod.meta.get("mtd_tl"):
        try:
            angles = read_s2_angles(prod.meta["mtd_tl"])
        except ProductError as err:  # optional metadata: the bands still read, the BRDF step asks for angles=
            warnings.warn(f"{prod.name}: sun / view angles not read ({err})", stacklevel=3)
    return {
        "angles": angles,
        "product": meta.get("product") or prod.name,
        "level": found_level or (level.upper() if level else None),
        "platform": get_sensor(plat).name,
        "time": np.datetime64(stamp, "ns"),
        "processing_baseline": pb,
        "offsets": offsets,
        "quantification": meta.get("quantification", 1.0 / S2_SCALING.scale),
    }


_NAME_DATE = re.compile(r"(?<!\d)(20\d{2})-?([01]\d)-?([0-3]\d)(?!\d)")
_NAME_PLATFORM = re.compile(r"(?i)(?:^|[^a-z0-9])(?:s2|sentinel-?2)([abc])(?:[^a-z0-9]|$)")
_NAME_LEVEL = re.compile(r"(?i)(?:^|[^a-z0-9])(l1c|l2a)(?:[^a-z0-9]|$)")
#: Sentinel-2B was launched on 2017-03-07 and 2C on 2024-09-05: before, only 2A (then 2A/2B) flew.
_S2B_LAUNCH, _S2C_LAUNCH = np.datetime64("2017-03-07"), np.datetime64("2024-09-05")
#: Processing baseline 04.00 (with the -1000 DN offset) started on 2022-01-25.
_PB_0400 = np.datetime64("2022-01-25")


def _read_stac_facts(path: Path) -> dict[str, Any]:
    import json

    from .stac import s2_item_facts

    try:
        return s2_item_facts(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as err:
        raise CorruptProductError(
            describe(f"{path} is not a readable STAC Item", found=f"{type(err).__name__}: {err}"[:200])
        ) from err


def _missing_hints(
    prod: _Product, names: list[str], plat: str | None, stamp: Any, need_pb: bool
) -> MissingHintsError:
    """One error naming every fact the reader could not find, with values read from the names."""
    texts = [prod.name, *names, *(part for info, _ in prod.files.values() for part in info.path.parts[-3:-1])]
    date = None
    if stamp is not None:
        date = np.datetime64(stamp, "D")
    else:
        found = next((d for d in (_NAME_DATE.search(t) for t in texts) if d), None)
        if found:
            date = np.datetime64(f"{found.group(1)}-{found.group(2)}-{found.group(3)}", "D")
    lines, args = [], []
    if stamp is None:
        if date is not None:
            lines.append(
                f"time: the name holds the date {date}; pass time='{date}' if that is the acquisition"
            )
            args.append(f"time='{date}'")
        else:
            lines.append(
                "time: no date in the metadata or the names; pass time='YYYY-MM-DD' (the acquisition)"
            )
            args.append("time=...")
    if not plat:
        letter = next((p.group(1).lower() for p in (_NAME_PLATFORM.search(t) for t in texts) if p), None)
        if letter:
            lines.append(f"platform: the name says Sentinel-2{letter.upper()}")
            args.append(f"platform='sentinel-2{letter}'")
        elif date is not None and date < _S2B_LAUNCH:
            lines.append(f"platform: only Sentinel-2A flew on {date} (2B was launched on {_S2B_LAUNCH})")
            args.append("platform='sentinel-2a'")
        else:
            both = "2A or 2B" if date is None or date < _S2C_LAUNCH else "2A, 2B or 2C"
            lines.append(f"platform: not in the names; Sentinel-{both} (the spectral responses differ)")
            args.append("platform='sentinel-2a'  # or -2b" + (", -2c" if "2C" in both else ""))
    if need_pb:
        if date is not None and date < _PB_0400:
            lines.append(
                f"processing baseline (sets the DN offset): products first processed before {_PB_0400}"
                " (baseline < 04.00) have no offset; a reprocessed one (N0500) has -1000"
            )
            args.append("add_offset_dn=0")
        else:
            lines.append(
                "processing baseline (sets the DN offset): baseline >= 04.00 (all products since"
                f" {_PB_0400}) has a -1000 DN offset, older ones none"
            )
            args.append("add_offset_dn=-1000" if date is not None else "processing_baseline='..'")
    level = next((lv.group(1).upper() for lv in (_NAME_LEVEL.search(t) for t in texts) if lv), None)
    head = f"product {prod.name} lacks {len(lines)} fact(s) the reader needs"
    head += " (no MTD_MSI*.xml or STAC item beside the files, no S2x_MSIxxx_... product name)"
    if level:
        head += f"; the name says {level}"
    return MissingHintsError(
        describe(
            head + ":\n    " + "\n    ".join(lines),
            fix=f"read_sentinel2(..., {', '.join(args)}), or put the product's MTD file beside the bands",
        )
    )


def _iso(compact: str) -> str:
    return f"{compact[:4]}-{compact[4:6]}-{compact[6:8]}T{compact[9:11]}:{compact[11:13]}:{compact[13:15]}"


# --------------------------------------------------------------------------- grids


def _by_resolution(prod: _Product, wanted: Sequence[str] | None) -> dict[float, list[str]]:
    if wanted is not None:
        missing = [b for b in wanted if b not in prod.files]
        if missing:
            raise MissingBandError(
                describe(
                    f"band(s) {', '.join(missing)} missing from product {prod.name}",
                    expected=", ".join(wanted),
                    found=", ".join(b for b in S2_BAND_ORDER if b in prod.files),
                    fix="add the band files, or ask for fewer bands",
                )
            )
    groups: dict[float, list[str]] = {}
    for band in wanted if wanted is not None else list(prod.files):
        groups.setdefault(prod.files[band][0].resolution, []).append(band)
    return groups


def _nesting_windows(grids: dict[float, Any]) -> dict[float, tuple[slice, slice]]:
    """Pixel windows cropping every grid to the largest common footprint on a 60 m lattice."""
    res = sorted(grids)
    crs = {str(g.crs) for g in grids.values()}
    if len(crs) > 1:
        raise CRSError(
            describe("the resolutions are in different CRSs", expected="one CRS", found=sorted(crs))
        )
    block = math.lcm(60, *(round(r) for r in res))
    anchor = grids[res[-1]].affine
    for r in res:
        a = grids[r].affine
        if (a.c - anchor.c) % r or (a.f - anchor.f) % r:
            raise GridError(
                describe(
                    f"the {r:g} m grid does not nest in the {res[-1]:g} m grid",
                    expected=f"origins that differ by whole {r:g} m pixels from ({anchor.c:g}, {anchor.f:g})",
                    found=f"origin ({a.c:g}, {a.f:g})",
                    fix="resample onto nesting grids first (e.g. .odc.reproject onto a 10 m sub-grid)",
                )
            )
    left = max(g.extent.boundingbox.left for g in grids.values())
    right = min(g.extent.boundingbox.right for g in grids.values())
    bottom = max(g.extent.boundingbox.bottom for g in grids.values())
    top = min(g.extent.boundingbox.top for g in grids.values())
    x0 = anchor.c + math.ceil((left - anchor.c) / block) * block
    x1 = anchor.c + math.floor((right - anchor.c) / block) * block
    y1 = anchor.f - math.ceil((anchor.f - top) / block) * block
    y0 = anchor.f - math.floor((anchor.f - bottom) / block) * block
    if x1 <= x0 or y1 <= y0:
        raise GridError(
            describe(
                "the resolutions share no common footprint of whole 60 m blocks",
                expected="overlapping 10/20/60 m grids",
                found={r: tuple(g.extent.boundingbox) for r, g in grids.items()},
            )
        )
    out = {}
    for r, g in grids.items():
        a = g.affine
        col0, row0 = round((x0 - a.c) / r), round((a.f - y1) / r)
        out[r] = (slice(row0, row0 + round((y1 - y0) / r)), slice(col0, col0 + round((x1 - x0) / r)))
    return out


# --------------------------------------------------------------------------- SCL


def read_scl(
    paths: str | Path | Sequence[str | Path], *, time: Any = None, chunks: Chunks = None
) -> xr.DataArray:
    """Read Sentinel-2 L2A scene classification (SCL) files into a raw ``(time, y, x)`` uint8 layer.

    Times come from ``time=`` (one per file), the file names (``T32UPC_20220615T101559_SCL_20m.jp2``,
    product names) or the L2A metadata of the ``.SAFE`` folder. Class decoding is
    :mod:`xharm.core.qa`'s job.

    Examples
    --------
    >>> scl = read_scl(["T32UPC_20220615T101559_SCL_20m.jp2"])  # doctest: +SKIP
    >>> scl.dims  # doctest: +SKIP
    ('time', 'y', 'x')
    """
    files = as_paths(paths)
    stamps = _per_product(time, len(files), "time")
    infos, times = [], []
    for path, stamp in zip(files, stamps):
        info = raster_info(path, what="SCL")
        if info.count != 1 or info.dtype != "uint8":
            raise ProductError(
                describe(
                    f"{path.name} is not an SCL layer",
                    expected="1 band of uint8 classes",
                    found=f"{info.count} band(s) of {info.dtype}",
                )
            )
        if stamp is None:
            m = _PRODUCT.search(str(path)) or _TILE_TIME.search(path.name)
            if m is not None:
                stamp = parse_time(_iso(m.group(3) if m.re is _PRODUCT else m.group(2)))
            elif (mtd := _find_mtd(path)) is not None:
                stamp = read_s2_metadata(mtd)["time"]
        if stamp is None:
            raise ProductError(
                describe(f"cannot tell when {path.name} was acquired", fix="pass time=[...] (one per file)")
            )
        infos.append(info)
        times.append(np.datetime64(stamp, "ns"))
    geobox = check_same_grid(infos, what="SCL files")
    arrays = [open_lazy(info, chunks=chunks)[0] for info in infos]
    return build_layer(arrays, geobox=geobox, times=times, name="scl", dtype="uint8")
