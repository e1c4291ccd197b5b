"""Tests of xharm.io.hls: real HLS v2.0 Fmask samples + metadata, synthetic COGs, bad inputs."""

from __future__ import annotations

from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from xharm.core.sensors import hls_bandpass
from xharm.exceptions import (
    CorruptProductError,
    GridError,
    MissingBandError,
    ProductError,
    ProductNotFoundError,
    SensorError,
)
from xharm.io import read_hls
from xharm.io.hls import read_metadata

S30 = "HLS.S30.T13RCN.2024128T173909.v2.0"
L30 = "HLS.L30.T06WVS.2024120T211159.v2.0"


def _cog(path: Path, data: np.ndarray, *, origin=(300000.0, 3300000.0), nodata=None) -> Path:
    with rasterio.open(
        path, "w", driver="COG", dtype=data.dtype, count=1, height=data.shape[0], width=data.shape[1],
        crs="EPSG:32613", transform=from_origin(*origin, 30.0, 30.0), nodata=nodata, blocksize=16,
    ) as dst:  # fmt: skip
        dst.write(data[None])
    return path


def _granule(folder: Path, name: str, bands: dict[str, int], seed: int, **kw) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for band in bands:
        dn = rng.integers(-50, 6000, size=(20, 24)).astype("int16")
        dn[rng.random(dn.shape) < 0.1] = -9999
        out[band] = dn
        _cog(folder / f"{name}.{band}.tif", dn, nodata=-9999, **kw)
    out["Fmask"] = rng.integers(0, 255, size=(20, 24)).astype("uint8")
    _cog(folder / f"{name}.Fmask.tif", out["Fmask"], nodata=255, **kw)
    return out


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def hls(real_data: Path) -> Path:
    path = real_data / "hls_v2_fmask_samples"
    if not path.is_dir():
        pytest.skip("hls_v2_fmask_samples sample missing")
    return path


@pytest.mark.parametrize(("granule", "fill_fraction"), [(S30, 0.0), (L30, 0.0013556690)])
def test_real_fmask_decoding(hls: Path, granule: str, fill_fraction: float, compute_counter) -> None:
    ds = read_hls(hls / f"{granule}.Fmask.tif")
    assert compute_counter.calls == 0
    assert list(ds.data_vars) == ["fmask"]  # Fmask-only set: no reflectance
    fmask = ds["fmask"]
    assert isinstance(fmask.data, da.Array) and fmask.dims == ("time", "y", "x") and fmask.dtype == np.uint8
    assert fmask.shape == (1, 3660, 3660) and fmask.odc.geobox.resolution.x == 30
    meta = read_metadata(hls / f"{granule}.cmr.xml")  # independent of the Fmask pixels
    assert fmask.time.values[0] == meta["time"]
    values = fmask.values[0]
    with rasterio.open(hls / f"{granule}.Fmask.tif") as src:
        np.testing.assert_array_equal(
            values[1000:1100, 2000:2100], src.read(1, window=Window(2000, 1000, 100, 100))
        )
    valid = values != 255
    assert abs((~valid).mean() - fill_fraction) < 1e-6
    bits = values[valid]
    cloud, shadow = (bits >> 1) & 1, (bits >> 3) & 1
    # HLS cloud_coverage = percentage of valid pixels flagged cloud or cloud shadow
    assert round(100 * float((cloud | shadow).mean())) == meta["cloud_coverage"]
    assert (bits & 1).sum() == 0  # no cirrus flags in either granule (bit 0)


@pytest.mark.parametrize("suffix", [".Fmask.tif", ".cmr.xml"])
def test_real_s2b_bandpass_tags_match_sensors(hls: Path, suffix: str) -> None:
    meta = read_metadata(hls / f"{S30}{suffix}")
    assert meta["platform"] == "sentinel-2b" and meta["product"] == "S30" and meta["tile"] == "13RCN"
    official = hls_bandpass(meta["platform"])
    assert sorted(meta["bandpass"]) == sorted(official)
    for band, (slope, offset) in meta["bandpass"].items():
        assert slope == pytest.approx(official[band][1], abs=1e-9)
        assert offset == pytest.approx(official[band][2], abs=1e-9)
    l30 = read_metadata(hls / f"{L30}{suffix}")
    assert l30["platform"] == "landsat-8" and l30["bandpass"] == {}
    assert l30["time"] == np.datetime64("2024-04-29T21:11:59.722175", "ns")  # earliest of the two scenes


# --------------------------------------------------------------------------- synthetic COGs


def test_synthetic_s30_reflectance_and_fmask(tmp_path: Path, compute_counter) -> None:
    later = "HLS.S30.T13RCN.2024130T173909.v2.0"
    a = _granule(tmp_path, S30, {"B04": 0, "B8A": 0}, 1)
    b = _granule(tmp_path, later, {"B04": 0, "B8A": 0}, 2)
    ds = read_hls(sorted(tmp_path.glob("*.tif"))[::-1], chunks=16)
    assert compute_counter.calls == 0
    cube = ds["reflectance"]
    assert isinstance(cube.data, da.Array) and cube.attrs["sensor"] == "hls-s30"
    assert cube.band.values.tolist() == ["B04", "B8A"] and cube.common_name.values.tolist() == [
        "red",
        "nir08",
    ]
    expected_times = np.array(["2024-05-07T17:39:09", "2024-05-09T17:39:09"], dtype="datetime64[ns]")
    np.testing.assert_array_equal(cube.time.values, expected_times)  # from the names (DOY 128, 130)
    assert cube.chunks[2:] == ((16, 4), (16, 8))
    for t, src in enumerate((a, b)):
        for band in ("B04", "B8A"):
            expected = np.where(src[band] == -9999, np.nan, src[band] * 1e-4)
            np.testing.assert_allclose(cube.sel(band=band).values[t], expected, atol=1e-7)
        np.testing.assert_array_equal(ds.fmask.values[t], src["Fmask"])
    assert ds.product.values.tolist() == [S30, later]
    red = read_hls(tmp_path, bands=["red"])
    assert red.reflectance.band.values.tolist() == ["B04"]


def test_synthetic_l30_numbering(tmp_path: Path) -> None:
    _granule(tmp_path, L30, {"B05": 0}, 3, origin=(399960.0, 7200000.0))
    ds = read_hls(tmp_path)
    assert ds.reflectance.attrs["sensor"] == "hls-l30"
    assert ds.reflectance.common_name.values.tolist() == ["nir08"]


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(ProductNotFoundError, match="does not exist"):
        read_hls(tmp_path / f"{S30}.B04.tif")
    a = tmp_path / "a"
    a.mkdir()
    _granule(a, S30, {"B04": 0}, 1)
    good = a / f"{S30}.B04.tif"
    cut = tmp_path / f"{S30}.B03.tif"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size - 300])
    with pytest.raises(CorruptProductError, match="truncated"):
        read_hls(cut)
    odd = _cog(tmp_path / "T13RCN_B04.tif", np.zeros((4, 4), "int16"))
    with pytest.raises(ProductError, match="not named like an HLS"):
        read_hls(odd)
    old = _cog(tmp_path / "HLS.S30.T13RCN.2020128T173909.v1.4.B04.tif", np.zeros((4, 4), "int16"))
    with pytest.raises(ProductError, match=r"v1\.4"):
        read_hls(old)
    wrong = _cog(tmp_path / "HLS.S30.T13RCN.2020128T173909.v2.0.B04.tif", np.zeros((4, 4), "float32"))
    with pytest.raises(ProductError, match="does not look like an HLS B04"):
        read_hls(wrong)
    b = tmp_path / "b"
    b.mkdir()
    _granule(b, L30, {"B04": 0}, 2)
    with pytest.raises(SensorError, match="S30 and L30"):
        read_hls([a, b])
    c = tmp_path / "c"
    c.mkdir()
    _granule(c, "HLS.S30.T13RCN.2024133T173909.v2.0", {"B03": 0}, 4)
    with pytest.raises(MissingBandError, match="lacks band"):
        read_hls([a, c])
    d = tmp_path / "d"
    d.mkdir()
    _granule(d, "HLS.S30.T13RCP.2024128T173909.v2.0", {"B04": 0}, 5, origin=(300000.0, 3400000.0))
    with pytest.raises(GridError, match="not on the same grid"):
        read_hls([a, d])
