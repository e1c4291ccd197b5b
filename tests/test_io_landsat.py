"""Tests of xharm.io.landsat: real L8 C2 L2 sample, synthetic per-band products, bad inputs."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from xharm.exceptions import (
    CorruptProductError,
    GridError,
    MissingBandError,
    ProductError,
    ProductNotFoundError,
    SensorError,
    XharmError,
)
from xharm.io import read_landsat_c2l2, read_mtl

PID1 = "LC09_L2SP_193024_20230510_20230512_02_T1"
PID2 = "LC09_L2SP_193024_20230426_20230428_02_T1"


def _write(path: Path, data: np.ndarray, *, origin=(600000.0, 5000000.0), res=30.0, nodata=None) -> Path:
    data = data if data.ndim == 3 else data[None]
    with rasterio.open(
        path, "w", driver="GTiff", dtype=data.dtype, count=data.shape[0], height=data.shape[1],
        width=data.shape[2], crs="EPSG:32633", transform=from_origin(*origin, res, res), nodata=nodata,
    ) as dst:  # fmt: skip
        dst.write(data)
    return path


def _dn(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    dn = rng.integers(7273, 40000, size=(3, 6, 8), dtype="uint16")
    dn[:, 0, 0] = 0  # fill
    return dn


def _product(folder: Path, pid: str, seed: int, **kw) -> dict[str, np.ndarray]:
    folder.mkdir(exist_ok=True)
    dn = _dn(seed)
    for i, band in enumerate(["B2", "B3", "B4"]):
        _write(folder / f"{pid}_SR_{band}.TIF", dn[i], **kw)
    qa = np.full((6, 8), 21824, dtype="uint16")
    qa[0, 0] = 1  # fill bit
    _write(folder / f"{pid}_QA_PIXEL.TIF", qa, **kw)
    return {"dn": dn, "qa": qa}


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def india(real_data: Path) -> Path:
    path = real_data / "deep_harmonization_l8_c2l2_india"
    if not path.is_dir():
        pytest.skip("deep_harmonization_l8_c2l2_india sample missing")
    return path


def test_real_l8_sr_stack_is_lazy_and_decoded(india: Path, compute_counter) -> None:
    files = sorted((india / "sr").glob("*_SR.tif"))
    ds = read_landsat_c2l2(files, mtl=sorted((india / "mtl").glob("*.json")))
    assert compute_counter.calls == 0
    cube = ds["reflectance"]
    assert isinstance(cube.data, da.Array) and isinstance(ds["qa_pixel"].data, da.Array)
    assert cube.dims == ("time", "band", "y", "x") and cube.dtype == np.float32
    assert cube.band.values.tolist() == ["B2", "B3", "B4", "B5", "B6", "B7"]
    assert cube.attrs["sensor"] == "landsat-8" and cube.attrs["platform"] == "landsat-8"
    assert cube.odc.geobox.crs.epsg == 32643 and cube.shape == (3, 6, 177, 174)
    # time from the MTL JSON: DATE_ACQUIRED + SCENE_CENTER_TIME (05:06:10.54 UTC)
    assert cube.time.values[0] == np.datetime64("2023-02-13T05:06:10.540840", "ns")
    assert [str(t)[:10] for t in cube.time.values] == ["2023-02-13", "2023-04-18", "2023-05-20"]

    values = cube.values
    assert np.nanmin(values) >= -0.2 and np.nanmax(values) <= 1.6
    # scene means published in SOURCE.md for 2023-02-13
    np.testing.assert_allclose(
        values[0].mean(axis=(1, 2)), [0.080, 0.119, 0.141, 0.270, 0.269, 0.202], atol=6e-4
    )
    # independent decode of the raw stack
    with rasterio.open(files[1]) as src:
        raw = src.read()
    np.testing.assert_allclose(values[1], raw[:6] * 2.75e-5 - 0.2, atol=1e-6)

    qa = ds["qa_pixel"].values
    assert qa.dtype == np.uint16
    np.testing.assert_array_equal(qa[1], raw[6].astype("uint16"))
    assert ((qa & 1) == 0).all()  # bit 0: no fill pixel anywhere
    clear = ((qa >> 6) & 1).mean(axis=(1, 2))  # bit 6: clear
    np.testing.assert_allclose(clear, [1.0, 1.0, 0.997], atol=5e-4)
    assert ((qa[2] >> 3) & 1).sum() == 25  # bit 3: the 25 cloud pixels of 2023-05-20


def test_real_time_from_file_name_without_mtl(india: Path) -> None:
    ds = read_landsat_c2l2(sorted((india / "sr").glob("*_SR.tif"))[:2], bands=["red", "SR_B5"])
    np.testing.assert_array_equal(
        ds.time.values, np.array(["2023-02-13", "2023-04-18"], dtype="datetime64[ns]")
    )
    assert ds.reflectance.band.values.tolist() == ["B4", "B5"]
    assert ds.product.values[0] == "LC08_L2SP_143054_20230213_20230218_02_T1"
    assert ds.reflectance.attrs["processing_level"] == "L2"  # issue 18 item 4


def test_read_mtl_json_and_odl(india: Path, real_data: Path) -> None:
    meta = read_mtl(india / "mtl" / "LC08_L1TP_143054_20230418_20230429_02_T1.json")
    assert meta["DATE_ACQUIRED"] == "2023-04-18" and meta["SPACECRAFT_ID"] == "LANDSAT_8"
    odl = real_data / "ukis_pysat_tiny_l1_crops" / "LC08_L1TP_193024_20200509_20200509_01_RT_MTL.txt"
    if odl.exists():
        meta = read_mtl(odl)
        assert meta["SCENE_CENTER_TIME"] == "10:02:20.6710970Z" and meta["WRS_PATH"] == "193"


# --------------------------------------------------------------------------- synthetic


def test_real_l2sp_folder_per_band_files(real_data: Path) -> None:
    """A USGS C2 L2SP folder as delivered (per-band SR_B*, QA_PIXEL, MTL txt/json/xml)."""
    folder = real_data / "riotilerpds_l8_c2_l2sp_001062_20201031_decimated"
    if not folder.is_dir():
        pytest.skip("riotilerpds_l8_c2_l2sp_001062_20201031_decimated sample missing")
    from xharm.core.qa import decode_qa_pixel, valid_mask

    ds = read_landsat_c2l2(folder)
    cube = ds["reflectance"]
    assert cube.band.values.tolist() == ["B1", "B2", "B3", "B4", "B5", "B6", "B7"]
    assert cube.attrs["level"] == "L2SP" and cube.attrs["platform"] == "landsat-8"
    assert cube.odc.geobox.crs.epsg == 32620 and cube.shape == (1, 7, 386, 379)
    # the MTL beside the files: DATE_ACQUIRED + SCENE_CENTER_TIME
    assert cube.time.values[0] == np.datetime64("2020-10-31T14:31:47.808399", "ns")
    with rasterio.open(folder / "LC08_L2SP_001062_20201031_20201106_02_T2_SR_B4.TIF") as src:
        raw = src.read(1)
    red = cube.sel(band="B4").values[0]
    np.testing.assert_array_equal(np.isnan(red), raw == 0)  # DN 0 is fill
    np.testing.assert_allclose(red[raw > 0], raw[raw > 0] * 2.75e-5 - 0.2, atol=1e-6)
    qa = decode_qa_pixel(ds["qa_pixel"]).compute()
    inside = ~qa["fill"].values
    assert qa["cloud"].values[inside].mean() > 0.99  # MTL CLOUD_COVER 99.94
    assert valid_mask(ds["qa_pixel"]).values[inside].mean() < 0.001


@pytest.mark.parametrize(
    "sample", ["riotilerpds_l8_c1_l1tp_016037_20170813_pan_ms_decimated", "ukis_pysat_tiny_l1_crops"]
)
def test_real_level1_folder_names_its_level(real_data: Path, sample: str) -> None:
    """A folder of Level-1 files (per-band or stacks) is refused naming the level, not a missing file."""
    folder = real_data / sample
    if not folder.is_dir():
        pytest.skip(f"{sample} sample missing")
    with pytest.raises(ProductError, match=r"Level-1 product \(L1TP\).*\n.*\n.*\n.*Level-2 product \(L2SP\)"):
        read_landsat_c2l2(folder)


def test_per_band_files_with_mtl_beside(tmp_path: Path, compute_counter) -> None:
    a = _product(tmp_path, PID1, 1)
    b = _product(tmp_path, PID2, 2)
    (tmp_path / f"{PID1}_MTL.txt").write_text(
        'GROUP = LANDSAT_METADATA_FILE\n  SPACECRAFT_ID = "LANDSAT_9"\n  WRS_PATH = 193\n'
        '  WRS_ROW = 24\n  DATE_ACQUIRED = 2023-05-10\n  SCENE_CENTER_TIME = "10:02:20.5Z"\n'
        "END_GROUP = LANDSAT_METADATA_FILE\n"
    )
    ds = read_landsat_c2l2(tmp_path, chunks=4)
    assert compute_counter.calls == 0
    cube = ds.reflectance
    assert cube.attrs["platform"] == "landsat-9" and cube.attrs["sensor"] == "landsat-9"
    # sorted by time; the first from the name, the second from the MTL
    expected_times = np.array(["2023-04-26", "2023-05-10T10:02:20.5"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(cube.time.values, expected_times)
    assert cube.chunks[2:] == ((4, 2), (4, 4))
    values = cube.values
    for t, src in enumerate([b, a]):
        expected = src["dn"].astype("float64") * 0.0000275 - 0.2
        expected[:, 0, 0] = np.nan
        np.testing.assert_allclose(values[t], expected, atol=1e-6)
    assert np.isnan(values[:, :, 0, 0]).all()
    np.testing.assert_array_equal(ds.qa_pixel.values[0], b["qa"])
    assert ds.qa_pixel.product.values.tolist() == [PID2, PID1]


def test_stack_band_order_argument(tmp_path: Path) -> None:
    dn = _dn(3)
    path = _write(tmp_path / f"{PID1}_stack.tif", dn[::-1].copy())
    ds = read_landsat_c2l2(path, band_order=["B4", "B3", "B2"])
    assert "qa_pixel" not in ds
    np.testing.assert_allclose(
        ds.reflectance.sel(band="B2").values[0, 1], dn[0, 1] * 0.0000275 - 0.2, atol=1e-6
    )


# --------------------------------------------------------------------------- bad inputs


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProductNotFoundError, match="does not exist"):
        read_landsat_c2l2(tmp_path / f"{PID1}_SR_B2.TIF")


def test_truncated_and_non_raster_files(tmp_path: Path) -> None:
    good = _write(tmp_path / "x.tif", np.ones((3, 200, 200), "uint16"))
    cut = tmp_path / f"{PID1}_SR_B2.TIF"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CorruptProductError, match="truncated"):
        read_landsat_c2l2(cut)
    junk = tmp_path / f"{PID2}_SR_B2.TIF"
    junk.write_text("not a tiff")
    with pytest.raises(CorruptProductError, match="cannot be read as a raster"):
        read_landsat_c2l2(junk)


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("LC08_L1TP_193024_20230510_20230512_02_T1_B2.TIF", ProductError, "Level-1"),
        ("LC08_L2SP_193024_20230510_20230512_01_T1_SR_B2.TIF", ProductError, "Collection 01"),
        ("LE07_L2SP_193024_20230510_20230512_02_T1_SR_B2.TIF", SensorError, "Landsat-8/9 OLI"),
        ("S2B_MSIL1C_20200406T101559_N0209_R065_T32UPC_20200406T130159.tif", ProductError, "not named like"),
    ],
)
def test_wrong_products(tmp_path: Path, name: str, error: type, message: str) -> None:
    path = _write(tmp_path / name, np.ones((4, 4), "uint16"))
    with pytest.raises(error, match=message) as info:
        read_landsat_c2l2(path)
    assert isinstance(info.value, XharmError)


def test_grids_bands_and_metadata_mismatches(tmp_path: Path) -> None:
    _product(tmp_path / "a", PID1, 1)
    _product(tmp_path / "b", PID2, 2, origin=(600030.0, 5000000.0))
    with pytest.raises(GridError, match="not on the same grid"):
        read_landsat_c2l2([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(MissingBandError, match="B5"):
        read_landsat_c2l2(tmp_path / "a", bands=["B4", "nir08"])
    mtl = tmp_path / "other_MTL.txt"
    mtl.write_text("WRS_PATH = 1\nWRS_ROW = 2\nDATE_ACQUIRED = 2020-01-01\n")
    with pytest.raises(ProductError, match="matches none of the products"):
        read_landsat_c2l2(tmp_path / "a", mtl=mtl)
    notmtl = tmp_path / "x_MTL.txt"
    notmtl.write_text("hello = 1\n")
    with pytest.raises(ProductError, match="not a Landsat MTL"):
        read_mtl(notmtl)
    l8 = tmp_path / "c"
    _product(l8, PID2.replace("LC09", "LC08"), 3)
    with pytest.raises(SensorError, match="different platforms"):
        read_landsat_c2l2([tmp_path / "a", l8])
    stack = _write(tmp_path / f"{PID1}_SR.tif", np.ones((5, 4, 4), "uint16"))
    with pytest.raises(ProductError, match="5 bands without names"):
        read_landsat_c2l2(stack)
    with pytest.raises(ProductError, match="names 3 bands"):
        read_landsat_c2l2(stack, band_order=["B2", "B3", "B4"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ProductNotFoundError, match="no Landsat C2 L2 band files"):
        read_landsat_c2l2(empty)
