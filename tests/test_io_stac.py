"""Tests of xharm.io.stac: a small local STAC catalog read back through odc-stac, bad inputs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dask.array as da
import numpy as np
import pystac
import pytest
import rasterio
from pystac.extensions.eo import Band, EOExtension
from pystac.extensions.projection import ProjectionExtension
from rasterio.transform import from_origin

from xharm.exceptions import CatalogError, ProductNotFoundError
from xharm.io import load_stac, stac_items

TRANSFORM = from_origin(600000.0, 5000000.0, 10.0, 10.0)
SHAPE = (8, 12)


def _item(
    folder: Path, name: str, date: str, assets: dict[str, tuple[str, np.ndarray]], **props
) -> pystac.Item:
    item = pystac.Item(
        id=name,
        geometry={"type": "Polygon", "coordinates": [[[9, 45], [9.1, 45], [9.1, 45.1], [9, 45.1], [9, 45]]]},
        bbox=[9, 45, 9.1, 45.1],
        datetime=dt.datetime.fromisoformat(f"{date}T10:00:00+00:00"),
        properties=dict(props),
    )
    for key, (common, data) in assets.items():
        path = folder / f"{name}_{key}.tif"
        with rasterio.open(
            path, "w", driver="GTiff", dtype=data.dtype, count=1, height=SHAPE[0], width=SHAPE[1],
            crs="EPSG:32632", transform=TRANSFORM,
        ) as dst:  # fmt: skip
            dst.write(data[None])
        asset = pystac.Asset(href=str(path), media_type=pystac.MediaType.GEOTIFF, roles=["data"])
        item.add_asset(key, asset)
        EOExtension.ext(asset, add_if_missing=True).bands = [Band.create(name=key, common_name=common)]
    proj = ProjectionExtension.ext(item, add_if_missing=True)
    proj.epsg, proj.transform, proj.shape = 32632, list(TRANSFORM)[:6], list(SHAPE)
    return item


def _dn(seed: int) -> np.ndarray:
    dn = np.random.default_rng(seed).integers(1000, 9000, size=SHAPE, dtype="uint16")
    dn[0, 0] = 0
    return dn


def _catalog(root: Path, items: list[pystac.Item]) -> Path:
    cat = pystac.Catalog(id="xharm-test", description="local test catalog")
    for item in items:
        cat.add_item(item)
    cat.normalize_hrefs(str(root / "catalog"))
    cat.save(pystac.CatalogType.SELF_CONTAINED)
    return root / "catalog" / "catalog.json"


def test_sentinel2_catalog_per_item_baseline(tmp_path: Path, compute_counter) -> None:
    dn = {k: {"red": _dn(2 * k), "nir": _dn(2 * k + 1)} for k in range(2)}
    items = [
        _item(tmp_path, "old", "2021-06-01", {"B04": ("red", dn[0]["red"]), "B08": ("nir", dn[0]["nir"])},
              **{"s2:processing_baseline": "03.01", "s2:product_type": "S2MSI2A"}),
        _item(tmp_path, "new", "2022-06-01", {"B04": ("red", dn[1]["red"]), "B08": ("nir", dn[1]["nir"])},
              **{"s2:processing_baseline": "04.00", "s2:product_type": "S2MSI2A"}),
    ]  # fmt: skip
    path = _catalog(tmp_path, items)
    cube = load_stac(path, bands=["red", "nir"], sensor="sentinel-2b", chunks=4)
    assert compute_counter.calls == 0
    assert isinstance(cube.data, da.Array) and cube.dtype == np.float32
    assert cube.dims == ("time", "band", "y", "x") and cube.band.values.tolist() == ["B04", "B08"]
    assert cube.time.dtype == np.dtype("datetime64[ns]") and cube.attrs["sensor"] == "sentinel-2b"
    assert cube.attrs["processing_level"] == "L2A"  # from s2:product_type (issue 18 item 4)
    assert cube.odc.geobox.crs.epsg == 32632 and cube.shape[2:] == SHAPE
    assert cube.chunks[2:] == ((4, 4), (4, 4, 4))
    values = cube.values
    for t, offset in ((0, 0.0), (1, -1000.0)):
        for b, name in enumerate(("red", "nir")):
            raw = dn[t][name].astype("float64")
            expected = np.where(raw == 0, np.nan, (raw + offset) / 10000.0)
            np.testing.assert_allclose(values[t, b], expected, atol=1e-7)


def test_raster_extension_scaling_and_eo_names(tmp_path: Path) -> None:
    dn = _dn(7)
    item = _item(tmp_path, "l8", "2023-02-13", {"surface_red": ("red", dn)})
    item.assets["surface_red"].extra_fields["raster:bands"] = [
        {"scale": 2.75e-5, "offset": -0.2, "nodata": 0}
    ]
    cube = load_stac([item], bands=["B4"], sensor="landsat-8")
    expected = np.where(dn == 0, np.nan, dn * 2.75e-5 - 0.2)
    np.testing.assert_allclose(cube.values[0, 0], expected, atol=1e-6)
    assert cube.band.values.tolist() == ["B4"]


@pytest.mark.parametrize(("applied", "offset"), [(True, 0.0), (False, -0.1)])
def test_earth_search_offset_flag_wins_over_raster_bands(tmp_path: Path, applied, offset) -> None:
    """Earth Search items say ``raster:bands`` offset -0.1 even where the offset is already applied."""
    dn = _dn(11)
    props = {"s2:processing_baseline": "05.09", "earthsearch:boa_offset_applied": applied}
    item = _item(tmp_path, f"es{applied}", "2023-03-01", {"B04": ("red", dn)}, **props)
    item.assets["B04"].extra_fields["raster:bands"] = [{"scale": 0.0001, "offset": -0.1, "nodata": 0}]
    cube = load_stac([item], bands=["red"], sensor="sentinel-2a")
    expected = np.where(dn == 0, np.nan, dn * 0.0001 + offset)
    np.testing.assert_allclose(cube.values[0, 0], expected, atol=1e-6)


def test_items_sun_position_becomes_per_date_coordinates(tmp_path: Path) -> None:
    items = [
        _item(tmp_path, f"d{k}", date, {"B04": ("red", _dn(20 + k))},
              **{"s2:processing_baseline": "03.01", "view:sun_elevation": elev, "view:sun_azimuth": az})
        for k, (date, elev, az) in enumerate((("2021-06-01", 60.0, 150.0), ("2021-06-11", 55.0, 155.0)))
    ]  # fmt: skip
    cube = load_stac(items, bands=["red"], sensor="sentinel-2a")
    np.testing.assert_allclose(cube.sun_zenith.values, [30.0, 35.0])
    np.testing.assert_allclose(cube.sun_azimuth.values, [150.0, 155.0])
    assert cube.sun_zenith.dims == ("time",) and "view_zenith" not in cube.coords
    del items[1].properties["view:sun_elevation"]  # one date without it: no coordinate at all
    assert "sun_zenith" not in load_stac(items, bands=["red"], sensor="sentinel-2a").coords


def test_bad_catalogs(tmp_path: Path) -> None:
    empty = pystac.Catalog(id="empty", description="nothing here")
    with pytest.raises(CatalogError, match="holds no items"):
        load_stac(empty, bands=["red"], sensor="sentinel-2a")
    empty.normalize_hrefs(str(tmp_path / "empty"))
    empty.save(pystac.CatalogType.SELF_CONTAINED)
    with pytest.raises(CatalogError, match="holds no items"):
        stac_items(tmp_path / "empty" / "catalog.json")
    with pytest.raises(ProductNotFoundError, match="does not exist"):
        load_stac(tmp_path / "nowhere" / "catalog.json", bands=["red"], sensor="sentinel-2a")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CatalogError, match="cannot be read as STAC"):
        stac_items(bad)
    item = _item(tmp_path, "a", "2021-06-01", {"B04": ("red", _dn(0))})
    with pytest.raises(CatalogError, match="no asset for band B08"):
        load_stac([item], bands=["red", "nir"], sensor="sentinel-2a")
    same_day = [
        _item(tmp_path, "b", "2022-01-20", {"B04": ("red", _dn(1))}, **{"s2:processing_baseline": "03.01"}),
        _item(tmp_path, "c", "2022-01-20", {"B04": ("red", _dn(2))}, **{"s2:processing_baseline": "04.00"}),
    ]
    with pytest.raises(CatalogError, match="different scale/offset"):
        load_stac(same_day, bands=["red"], sensor="sentinel-2a")
