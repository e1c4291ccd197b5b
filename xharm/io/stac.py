"""Load STAC items (a catalog on disk, an ItemCollection, a list of Items) through ``odc-stac``.

Assets are matched to the requested bands by their key (``"B04"``, ``"red"``, ``"SR_B4"``)
or by the ``eo:bands`` common name they carry. Values are decoded per item with the
asset's ``raster:bands`` scale/offset/nodata when present, otherwise with the sensor's
rule (for Sentinel-2 the DN offset follows the item's ``s2:processing_baseline``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import xarray as xr

from ..core.cube import to_canonical
from ..core.sensors import ANGLE_NAMES, Sensor, get_sensor, normalize_band_name, s2_boa_offset
from ..exceptions import CatalogError, MissingDependencyError, ProductNotFoundError, describe
from ._raster import DEFAULT_CHUNKS, Chunks, spatial_chunks

__all__ = ["load_stac", "offset_applied", "s2_item_facts", "stac_items", "sun_angles"]

#: Item properties saying that the DN offset of baseline >= 04.00 is already in the values
#: (Earth Search; its older items used the ``sentinel:`` prefix).
OFFSET_APPLIED = ("earthsearch:boa_offset_applied", "sentinel:boa_offset_applied")

StacSource = str | Path | pystac.Catalog | pystac.ItemCollection | pystac.Item | Iterable[pystac.Item]


def stac_items(source: StacSource) -> list[pystac.Item]:
    """All items of a catalog (path to ``catalog.json``/``collection.json``, or object), recursively.

    Raises
    ------
    ProductNotFoundError
        A catalog path that does not exist.
    CatalogError
        The catalog cannot be read, or holds no items.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise ProductNotFoundError(
                describe(
                    f"STAC catalog {str(path)!r} does not exist", expected="a catalog.json/collection.json"
                )
            )
        try:
            obj = pystac.read_file(str(path))
        except Exception as err:  # pystac raises many kinds on bad JSON / unknown types
            raise CatalogError(
                describe(f"{path.name} cannot be read as STAC", found=f"{type(err).__name__}: {err}"[:200])
            ) from err
        source = obj  # type: ignore[assignment]
    if isinstance(source, pystac.Item):
        items = [source]
    elif isinstance(source, pystac.Catalog):
        items = list(source.get_items(recursive=True))
    elif isinstance(source, pystac.ItemCollection):
        items = list(source.items)
    else:
        items = list(source)  # type: ignore[arg-type]
    if not items:
        raise CatalogError(
            describe(
                "the STAC catalog holds no items",
                expected="at least one item",
                found="0 items",
                fix="check the catalog (or the search that built it) returned items",
            )
        )
    return items


def load_stac(
    source: StacSource,
    *,
    bands: Sequence[str],
    sensor: str | Sensor,
    chunks: Chunks = None,
    crs: Any = None,
    resolution: float | None = None,
    groupby: str | None = "time",
    **odc_kwargs: Any,
) -> xr.DataArray:
    """Load STAC items lazily with ``odc.stac.load`` into a canonical cube.

    Parameters
    ----------
    source
        A catalog / collection (object or path to its JSON), an ItemCollection, an Item or
        a list of Items.
    bands
        Bands to load, as ids or common names of ``sensor``.
    sensor
        The sensor the items come from (``"sentinel-2b"``, ``"landsat-8"``, ``"hls-s30"``).
    chunks
        Spatial chunk size in pixels.
    crs, resolution, groupby, odc_kwargs
        Passed to :func:`odc.stac.load` (by default the items' own CRS and resolution).

    Returns
    -------
    xarray.DataArray
        Canonical float32 ``(time, band, y, x)`` cube, decoded per item, fill -> NaN.

    Raises
    ------
    ProductNotFoundError, CatalogError, UnknownBandError, SensorError

    Examples
    --------
    >>> cube = load_stac("catalog/catalog.json", bands=["red", "nir"], sensor="sentinel-2b")  # doctest: +SKIP
    >>> cube.dims  # doctest: +SKIP
    ('time', 'band', 'y', 'x')
    """
    try:
        import odc.stac
    except ImportError as err:  # pragma: no cover - odc-stac is a dependency
        raise MissingDependencyError("load_stac needs odc-stac: pip install odc-stac") from err
    s = get_sensor(sensor)
    items = stac_items(source)
    wanted = s.resolve(bands)
    keys = _asset_keys(items, wanted)
    rules = [_rules(item, keys, s) for item in items]
    cy, cx = spatial_chunks(chunks)
    kwargs = dict(odc_kwargs)
    if crs is not None:
        kwargs["crs"] = crs
    if resolution is not None:
        kwargs["resolution"] = resolution
    ds = odc.stac.load(
        items,
        bands=[keys[b.id] for b in wanted],
        chunks={"x": cx or DEFAULT_CHUNKS, "y": cy or DEFAULT_CHUNKS},  # type: ignore[dict-item]
        groupby=groupby,
        **kwargs,
    )
    times = ds["time"].values
    decoded = {}
    for band in wanted:
        raw = ds[keys[band.id]]
        scale, offset, fill = _per_time(items, rules, band.id, times)
        value = raw.astype("float64") * scale + offset
        decoded[band.id] = value.where(raw != fill).astype("float32")
    out = xr.Dataset(decoded, coords={k: v for k, v in ds.coords.items()})
    out = out.assign_coords(time=np.asarray(times, dtype="datetime64[ns]"))
    cube = to_canonical(out, s)
    cube = cube.assign_coords(_sun_per_time(items, cube["time"].values))
    cube.attrs.update(product=",".join(sorted({i.id for i in items})), source="stac")
    level = _unique_level(items, s)
    if level is not None:
        cube.attrs["processing_level"] = level
    return cube


def offset_applied(properties: Mapping[str, Any]) -> bool | None:
    """Whether a Sentinel-2 item's values already have the baseline >= 04.00 DN offset applied.

    ``earthsearch:boa_offset_applied`` (or the older ``sentinel:boa_offset_applied``) when
    the item has it, else None (unknown: the processing baseline decides). Earth Search sets
    ``raster:bands`` ``offset: -0.1`` on such items even when the offset is already applied;
    its maintainers name this flag as the one to follow (Element84/earth-search issue 9).

    Examples
    --------
    >>> offset_applied({"earthsearch:boa_offset_applied": True}), offset_applied({})
    (True, None)
    """
    for key in OFFSET_APPLIED:
        if key in properties:
            return bool(properties[key])
    return None


def s2_item_facts(item: pystac.Item | Mapping[str, Any]) -> dict[str, Any]:
    """What a Sentinel-2 STAC item says of its product (as :func:`~xharm.io.read_s2_metadata` of an MTD).

    Keys (absent when the item does not tell): ``product`` (``s2:product_uri`` without
    ``.SAFE``, else the item id), ``level``, ``platform``, ``time``,
    ``processing_baseline``, ``offsets`` (DN offset per band: 0 when
    :func:`offset_applied`) and ``angles`` (``sun_zenith`` / ``sun_azimuth`` in degrees from
    ``view:sun_elevation`` / ``view:sun_azimuth`` or ``s2:mean_solar_zenith`` /
    ``s2:mean_solar_azimuth``).

    Examples
    --------
    >>> item = {"type": "Feature", "stac_version": "1.0.0", "id": "S2A_29RKH_20200219_0_L2A",
    ...         "geometry": None, "links": [], "assets": {},
    ...         "properties": {"datetime": "2020-02-19T11:34:25Z", "platform": "sentinel-2a",
    ...                        "s2:processing_baseline": "02.14", "s2:product_type": "S2MSI2A"}}
    >>> facts = s2_item_facts(item)
    >>> facts["level"], facts["platform"], facts["processing_baseline"], "offsets" in facts
    ('L2A', 'sentinel-2a', '02.14', False)
    """
    if not isinstance(item, pystac.Item):
        item = pystac.Item.from_dict(dict(item), preserve_dict=False)
    props = item.properties
    s = get_sensor("sentinel-2a")
    out: dict[str, Any] = {"product": str(props.get("s2:product_uri") or item.id).removesuffix(".SAFE")}
    if level := _item_level(item, s):
        out["level"] = level
    if props.get("platform"):
        out["platform"] = get_sensor(str(props["platform"])).name
    if (stamp := _item_time(item)) is not None:
        out["time"] = stamp
    if props.get("s2:processing_baseline"):
        out["processing_baseline"] = str(props["s2:processing_baseline"])
    if offset_applied(props):
        out["offsets"] = {b.id: 0.0 for b in s.bands}
    if angles := sun_angles(props):
        out["angles"] = angles
    return out


def sun_angles(properties: Mapping[str, Any]) -> dict[str, float]:
    """``sun_zenith`` / ``sun_azimuth`` (degrees) an item's properties give, if any.

    From ``view:sun_elevation`` / ``view:sun_azimuth`` (the STAC view extension: Earth
    Search, Landsat Collection 2) or ``s2:mean_solar_zenith`` / ``s2:mean_solar_azimuth``
    (Planetary Computer). View angles are not taken: the view extension's azimuth is
    measured at the sub-satellite point, not from the ground towards the sensor.

    Examples
    --------
    >>> sun_angles({"view:sun_elevation": 50.0, "view:sun_azimuth": 150.0})
    {'sun_zenith': 40.0, 'sun_azimuth': 150.0}
    """
    out = {}
    if properties.get("view:sun_elevation") is not None:
        out["sun_zenith"] = 90.0 - float(properties["view:sun_elevation"])
    elif properties.get("s2:mean_solar_zenith") is not None:
        out["sun_zenith"] = float(properties["s2:mean_solar_zenith"])
    for key in ("view:sun_azimuth", "s2:mean_solar_azimuth"):
        if properties.get(key) is not None:
            out["sun_azimuth"] = float(properties[key])
            break
    return out


def _unique_level(items: Sequence[pystac.Item], s: Sensor) -> str | None:
    """The processing level of the items (``L1C``/``L2A``/``L1``/``L2``), when they tell and agree."""
    levels = {_item_level(item, s) for item in items}
    return levels.pop() if len(levels) == 1 else None


def _item_level(item: pystac.Item, s: Sensor) -> str | None:
    props = item.properties
    text = " ".join(
        str(v)
        for v in (props.get("processing:level"), props.get("s2:product_type"), item.collection_id, item.id)
        if v
    ).upper()
    if s.family == "sentinel-2":
        for code in ("L2A", "L1C"):
            if code in text or code.replace("L", "MSI") in text:
                return code
        return None
    m = re.search(r"(?<![A-Z0-9])(?:C2[-_])?(L[12])", text)
    return m.group(1) if m else None


def _asset_keys(items: Sequence[pystac.Item], wanted: Sequence[Any]) -> dict[str, str]:
    """Map band ids to the asset key that holds them in every item."""
    sensor_bands = {b.id: b for b in wanted}
    out: dict[str, str] = {}
    for band_id, band in sensor_bands.items():
        for item in items:
            key = _find_asset(item, band)
            if key is None:
                raise CatalogError(
                    describe(
                        f"item {item.id!r} has no asset for band {band_id} ({band.common_name})",
                        expected=f"an asset keyed {band_id!r}/{band.common_name!r} or with that eo:band",
                        found=sorted(item.assets),
                        fix="load only the bands every item has, or fix the item's asset keys",
                    )
                )
            if out.setdefault(band_id, key) != key:
                raise CatalogError(
                    describe(
                        f"band {band_id} is stored under different asset keys",
                        expected=out[band_id],
                        found=f"{key} in item {item.id!r}",
                    )
                )
    return out


def _find_asset(item: pystac.Item, band: Any) -> str | None:

    for key, asset in item.assets.items():
        norm = normalize_band_name(key)
        if norm in (normalize_band_name(band.id), band.common_name.upper()):
            return key
        for eo in asset.extra_fields.get("eo:bands", []) + asset.extra_fields.get("bands", []):
            if str(eo.get("common_name", "")).lower() == band.common_name or (
                normalize_band_name(str(eo.get("name", ""))) == normalize_band_name(band.id)
            ):
                return key
    return None


def _rules(item: pystac.Item, keys: Mapping[str, str], s: Sensor) -> dict[str, tuple[float, float, float]]:
    """Per band (scale, offset, fill) of one item, in physical units."""
    out = {}
    sc = s.scaling
    dn_offset = 0.0
    applied = offset_applied(item.properties) if s.family == "sentinel-2" else None
    if s.family == "sentinel-2" and not applied:
        dn_offset = s2_boa_offset(item.properties.get("s2:processing_baseline"))
    for band_id, key in keys.items():
        asset = item.assets[key]
        rb = (asset.extra_fields.get("raster:bands") or [{}])[0]
        scale = float(rb.get("scale", sc.scale))
        if applied:  # the values are reflectance / scale already, whatever raster:bands says
            offset = sc.offset
        elif "offset" in rb:
            offset = float(rb["offset"])
        else:
            offset = sc.offset + dn_offset * scale
        fill = rb.get("nodata", sc.fill)
        out[band_id] = (scale, offset, np.nan if fill is None else float(fill))
    return out


def _item_time(item: pystac.Item) -> np.datetime64 | None:
    """An item's ``datetime`` as naive UTC ``datetime64[ns]`` (the cubes' time), if it has one."""
    return None if item.datetime is None else np.datetime64(item.datetime.replace(tzinfo=None), "ns")


def _sun_per_time(items: Sequence[pystac.Item], times: Any) -> dict[str, tuple[str, np.ndarray]]:
    """Per-date sun angles (coordinates on ``time``) where the items of every date give them."""
    by_time: dict[Any, list[dict[str, float]]] = {}
    for item in items:
        if (stamp := _item_time(item)) is not None:
            by_time.setdefault(stamp, []).append(sun_angles(item.properties))
    out = {}
    for name in ANGLE_NAMES[:2]:  # the sun's
        values = [[a[name] for a in by_time.get(np.datetime64(t, "ns"), []) if name in a] for t in times]
        if all(values):  # one date without it: none (a partial coordinate would mislead the BRDF step)
            out[name] = ("time", np.array([float(np.mean(v)) for v in values]))
    return out


def _per_time(
    items: Sequence[pystac.Item],
    rules: Sequence[Mapping[str, tuple[float, float, float]]],
    band: str,
    times: Any,
) -> tuple[Any, Any, Any]:
    """Scale, offset and fill of one band for every time step (scalars when all items agree)."""
    distinct = {rule[band] for rule in rules}
    if len(distinct) == 1:
        return distinct.pop()
    by_time: dict[Any, set[tuple[float, float, float]]] = {}
    for item, rule in zip(items, rules):
        if (stamp := _item_time(item)) is not None:
            by_time.setdefault(stamp, set()).add(rule[band])
    values = []
    for t in times:
        found = by_time.get(np.datetime64(t, "ns"), set())
        if len(found) != 1:
            raise CatalogError(
                describe(
                    f"cannot tell how to decode band {band} at {t}: its items use different scale/offset",
                    expected="one scale/offset/nodata per time step",
                    found=sorted(found) or "no item with exactly this time",
                    fix="load with groupby='time' (the default), or load items of one processing baseline",
                )
            )
        values.append(found.pop())
    arr = np.asarray(values, dtype="float64")
    return tuple(  # type: ignore[return-value]
        xr.DataArray(arr[:, i].astype("float32"), dims=("time",), coords={"time": times}) for i in range(3)
    )
