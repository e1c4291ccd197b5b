"""Landsat-8/9 Collection-2 Level-2 surface reflectance reader.

Reads USGS C2 L2 products either as the per-band files USGS delivers
(``<product id>_SR_B2.TIF`` ... ``_QA_PIXEL.TIF``) or as multi-band stacks (one file per
date holding ``SR_B*`` bands and ``QA_PIXEL``). Reflectance is decoded lazily with the
C2 L2 rule ``DN * 0.0000275 - 0.2`` (DN 0 = fill -> NaN); ``QA_PIXEL`` is returned raw
(uint16) for :mod:`xharm.core.qa` to decode.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr

from ..core.sensors import LANDSAT_C2L2_SCALING, get_sensor
from ..exceptions import MissingBandError, ProductError, ProductNotFoundError, SensorError, describe
from ._raster import (
    Chunks,
    Opener,
    RasterInfo,
    as_paths,
    build_cube,
    build_layer,
    check_same_grid,
    decode_dn,
    parse_time,
    raster_info,
    require_bands,
    require_exists,
)

__all__ = ["STACK_LAYOUTS", "read_landsat_c2l2", "read_mtl"]

#: Band layouts of multi-band SR stacks without band descriptions, by band count.
STACK_LAYOUTS: dict[int, tuple[str, ...]] = {
    7: ("B2", "B3", "B4", "B5", "B6", "B7", "QA_PIXEL"),
    8: ("B1", "B2", "B3", "B4", "B5", "B6", "B7", "QA_PIXEL"),
}

_PID = re.compile(r"(L[COTEM])0(\d)_(L[12][A-Z]{2})_(\d{3})(\d{3})_(\d{8})_(\d{8})_(\d{2})_(T1|T2|RT)")
_BAND_FILE = re.compile(r"_(SR_B\d+|QA_PIXEL)\.TIF{1,2}$", re.IGNORECASE)
_SR_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")


@dataclass
class _Scene:
    pid: str
    files: dict[str, tuple[RasterInfo, int]] = field(default_factory=dict)  # band -> (file, index)
    mtl: dict[str, str] = field(default_factory=dict)


def read_landsat_c2l2(
    paths: str | Path | Sequence[str | Path],
    *,
    bands: Sequence[str] | None = None,
    mtl: str | Path | Sequence[str | Path] | None = None,
    band_order: Sequence[str] | None = None,
    chunks: Chunks = None,
) -> xr.Dataset:
    """Read Landsat-8/9 Collection-2 Level-2 SR products into a lazy canonical cube.

    Parameters
    ----------
    paths
        Per-band files (``LC08_L2SP_..._SR_B4.TIF``, ``..._QA_PIXEL.TIF``), folders holding
        them, or multi-band stacks whose names start with the product id. Each product
        becomes one time step.
    bands
        SR bands to keep (``"B4"``, ``"SR_B4"``, ``"red"``); default all present.
    mtl
        MTL files (``.json``, ``.txt`` or ``.xml``) to take the acquisition time and
        platform from, matched to products by path/row and date. ``<product id>_MTL.*``
        beside a product is used automatically; otherwise the time comes from the file name.
    band_order
        Band names of a stack that has no band descriptions (e.g.
        ``["B2", "B3", "B4", "B5", "B6", "B7", "QA_PIXEL"]``); see :data:`STACK_LAYOUTS`
        for the defaults.
    chunks
        Spatial chunk size in pixels (int, ``(y, x)`` or ``{"y":, "x":}``).

    Returns
    -------
    xarray.Dataset
        ``reflectance``: canonical ``(time, band, y, x)`` float32 cube (fill -> NaN);
        ``qa_pixel``: ``(time, y, x)`` uint16 when the products carry it. A ``product``
        coordinate on ``time`` holds the product ids. Nothing is computed.

    Raises
    ------
    ProductNotFoundError, CorruptProductError, ProductError, SensorError, MissingBandError, GridError

    Examples
    --------
    >>> ds = read_landsat_c2l2(sorted(Path("sr").glob("LC08_L2SP_*_SR.tif")))  # doctest: +SKIP
    >>> ds.reflectance.sel(band="B4").mean(["x", "y"]).compute()  # doctest: +SKIP
    """
    scenes = _collect(as_paths(paths), band_order)
    for path in as_paths(mtl) if mtl is not None else []:
        _attach_mtl(scenes, read_mtl(path), path)
    ordered = list(scenes.values())
    infos = [info for s in ordered for info, _ in s.files.values()]
    geobox = check_same_grid(infos, what="Landsat products")

    platforms = {_platform(s) for s in ordered}
    if len(platforms) > 1:
        raise SensorError(
            describe(
                "the products come from different platforms",
                expected="one platform per call",
                found=sorted(platforms),
                fix="read Landsat-8 and Landsat-9 separately and concatenate the cubes on time",
            )
        )
    sensor = get_sensor(platforms.pop())
    have = [b for b in _SR_BANDS if all(b in s.files for s in ordered)]
    wanted = have if bands is None else [sensor.band(b).id for b in bands]
    for scene in ordered:
        require_bands(f"product {scene.pid}", scene.files, wanted)
    times = [_time(s) for s in ordered]
    pids = [s.pid for s in ordered]
    scaling = LANDSAT_C2L2_SCALING
    opener = Opener(chunks)
    arrays = []
    for scene in ordered:
        layers = [_band_array(scene, b, opener) for b in wanted]
        stack = da.concatenate(layers, axis=0)
        nodata = {scene.files[b][0].nodata for b in wanted}
        arrays.append(
            decode_dn(stack, scale=scaling.scale, offset=scaling.offset, fills=(scaling.fill, *nodata))
        )
    attrs = {"product": ",".join(pids), "level": "L2SP", "processing_level": "L2"}
    data_vars: dict[str, xr.DataArray] = {}
    if wanted:
        data_vars["reflectance"] = build_cube(
            arrays,
            geobox=geobox,
            bands=wanted,
            sensor=sensor,
            times=times,
            attrs=attrs,
            time_coords={"product": pids},
        )
    if all("QA_PIXEL" in s.files for s in ordered):
        qa = [_band_array(s, "QA_PIXEL", opener)[0] for s in ordered]
        data_vars["qa_pixel"] = build_layer(
            qa, geobox=geobox, times=times, name="qa_pixel", dtype="uint16", time_coords={"product": pids}
        )
    if not data_vars:
        raise MissingBandError(
            describe("no SR band and no QA_PIXEL found", expected="SR_B* and/or QA_PIXEL files", found=pids)
        )
    return xr.Dataset(data_vars, attrs={"sensor": sensor.name, "platform": sensor.platform, **attrs})


def _band_array(scene: _Scene, band: str, opener: Opener) -> Any:
    info, index = scene.files[band]
    return opener(info)[index : index + 1]


def _collect(paths: list[Path], band_order: Sequence[str] | None) -> dict[str, _Scene]:
    files: list[Path] = []
    for path in paths:
        require_exists(path, what="Landsat product")
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if _BAND_FILE.search(p.name))
            if not found:
                for p in sorted(path.iterdir()):  # e.g. a Level-1 product: name its level and the fix
                    if p.suffix.lower() in (".tif", ".tiff") and _PID.search(p.name):
                        _product_id(p)
                raise ProductNotFoundError(
                    describe(
                        f"no Landsat C2 L2 band files in folder {str(path)!r}",
                        expected="files named <product id>_SR_B<n>.TIF / _QA_PIXEL.TIF",
                        found=sorted(p.name for p in path.iterdir())[:8],
                        fix="pass the files themselves (multi-band stacks are read by file path)",
                    )
                )
            files.extend(found)
        else:
            files.append(path)
    scenes: dict[str, _Scene] = {}
    for path in files:
        pid = _product_id(path)
        scene = scenes.setdefault(pid, _Scene(pid))
        info = raster_info(path, what="Landsat product")
        m = _BAND_FILE.search(path.name)
        if m is not None and info.count == 1:
            token = m.group(1).upper()
            names: tuple[str, ...] = ("QA_PIXEL",) if token == "QA_PIXEL" else (token[3:],)
        else:
            names = _stack_names(info, band_order)
        for i, name in enumerate(names):
            scene.files[name] = (info, i)
        beside = [path.with_name(f"{pid}_MTL.{ext}") for ext in ("json", "txt", "xml")]
        for candidate in beside:
            if candidate.exists() and not scene.mtl:
                _attach_mtl({pid: scene}, read_mtl(candidate), candidate)
    return scenes


def _product_id(path: Path) -> str:
    m = _PID.search(path.name)
    if m is None:
        raise ProductError(
            describe(
                f"{path.name} is not named like a Landsat Collection-2 product",
                expected="a name starting with the product id, e.g. LC08_L2SP_143054_20230213_20230218_02_T1",
                found=path.name,
                fix="keep the USGS file names (the reader takes the date and platform from them)",
            )
        )
    sensor_code, level, collection = m.group(1) + "0" + m.group(2), m.group(3), m.group(8)
    if not level.startswith("L2"):
        raise ProductError(
            describe(
                f"{path.name} is a Level-1 product ({level}), not Level-2 surface reflectance",
                expected="L2SP or L2SR",
                found=level,
                fix="download the Collection-2 Level-2 product (L2SP) of this scene",
            )
        )
    if collection != "02":
        raise ProductError(
            describe(
                f"{path.name} is from Collection {collection}",
                expected="Collection 02 (its scale 0.0000275 / offset -0.2 differ from Collection 1)",
                found=collection,
            )
        )
    if sensor_code not in ("LC08", "LC09"):
        raise SensorError(
            describe(
                f"{path.name} comes from {sensor_code}; xharm reads Landsat-8/9 OLI products only",
                expected="LC08 or LC09",
                found=sensor_code,
            )
        )
    return m.group(0)


def _stack_names(info: RasterInfo, band_order: Sequence[str] | None) -> tuple[str, ...]:
    desc = info.descriptions
    if band_order is not None:
        names = tuple(band_order)
        source = "band_order"
    elif all(desc):
        names = tuple(str(d) for d in desc)
        source = "band descriptions"
    elif info.count in STACK_LAYOUTS:
        names = STACK_LAYOUTS[info.count]
        source = f"the default {info.count}-band layout"
    else:
        raise ProductError(
            describe(
                f"{info.path.name} has {info.count} bands without names",
                expected="band descriptions, or band_order=[...]",
                found=f"{info.count} unnamed bands",
                fix="pass band_order=['B2', 'B3', 'B4', 'B5', 'B6', 'B7', 'QA_PIXEL'] (the file's order)",
            )
        )
    if len(names) != info.count:
        raise ProductError(
            describe(
                f"{info.path.name}: {source} names {len(names)} bands but the file has {info.count}",
                expected=info.count,
                found=list(names),
            )
        )
    out = []
    sensor = get_sensor("landsat-8")
    for name in names:
        out.append("QA_PIXEL" if name.upper() == "QA_PIXEL" else sensor.band(name).id)
    return tuple(out)


def read_mtl(path: str | Path) -> dict[str, str]:
    """Read a Landsat MTL file (``.json``, ODL ``.txt`` or ``.xml``) into a flat ``{KEY: value}`` dict.

    The first occurrence of each key wins (they are unique in C2 MTLs).

    Examples
    --------
    >>> read_mtl("LC08_L2SP_143054_20230213_20230218_02_T1_MTL.json")["DATE_ACQUIRED"]  # doctest: +SKIP
    '2023-02-13'
    """
    path = require_exists(Path(path), what="MTL")
    text = path.read_text(errors="replace")
    flat: dict[str, str] = {}
    try:
        if path.suffix.lower() == ".json":
            _walk_json(json.loads(text), flat)
        elif path.suffix.lower() == ".xml":
            for el in ET.fromstring(text).iter():
                if el.text and el.text.strip() and len(el) == 0:
                    flat.setdefault(el.tag.split("}")[-1].upper(), el.text.strip())
        else:
            for m in re.finditer(r'^\s*([A-Z0-9_]+)\s*=\s*"?([^"\n]*?)"?\s*$', text, re.MULTILINE):
                if m.group(1) not in ("GROUP", "END_GROUP"):
                    flat.setdefault(m.group(1), m.group(2))
    except (ValueError, ET.ParseError) as err:
        raise ProductError(describe(f"MTL file {path.name} cannot be parsed", found=str(err)[:200])) from err
    if "DATE_ACQUIRED" not in flat:
        raise ProductError(
            describe(f"{path.name} is not a Landsat MTL file", expected="a DATE_ACQUIRED entry", found="none")
        )
    return flat


def _walk_json(node: Any, flat: dict[str, str]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            if isinstance(value, (Mapping, list)):
                _walk_json(value, flat)
            else:
                flat.setdefault(str(key).upper(), str(value))
    elif isinstance(node, list):
        for item in node:
            _walk_json(item, flat)


def _attach_mtl(scenes: Mapping[str, _Scene], meta: Mapping[str, str], path: Path) -> None:
    date = meta["DATE_ACQUIRED"].replace("-", "")
    pathrow = f"{int(meta.get('WRS_PATH', 0)):03d}{int(meta.get('WRS_ROW', 0)):03d}"
    for scene in scenes.values():
        m = _PID.search(scene.pid)
        assert m is not None
        if m.group(6) == date and m.group(4) + m.group(5) == pathrow:
            scene.mtl = dict(meta)
            return
    raise ProductError(
        describe(
            f"MTL {path.name} matches none of the products",
            expected="path/row and date of one of " + ", ".join(scenes),
            found=f"path/row {pathrow}, acquired {meta['DATE_ACQUIRED']}",
            fix="pass the MTL files of these products (or leave mtl= out)",
        )
    )


def _time(scene: _Scene) -> np.datetime64:
    if scene.mtl:
        clock = scene.mtl.get("SCENE_CENTER_TIME", "00:00:00").strip('"')
        return parse_time(f"{scene.mtl['DATE_ACQUIRED']}T{clock}")
    m = _PID.search(scene.pid)
    assert m is not None
    d = m.group(6)
    return np.datetime64(f"{d[:4]}-{d[4:6]}-{d[6:]}", "ns")


def _platform(scene: _Scene) -> str:
    spacecraft = scene.mtl.get("SPACECRAFT_ID")
    if spacecraft:
        return spacecraft.lower().replace("_", "-")
    return "landsat-8" if scene.pid.startswith("LC08") else "landsat-9"
