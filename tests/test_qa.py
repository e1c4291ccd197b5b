"""Tests for xharm.core.qa: every bit/class of the QA tables, NumPy == Dask, laziness, real layers."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr

from xharm.core.qa import (
    DEFAULT_EXCLUDE,
    decode,
    decode_fmask,
    decode_qa_pixel,
    decode_scl,
    infer_kind,
    reasons,
    valid_mask,
)
from xharm.exceptions import DimensionError, ProductError, SensorError, UnitsError

# Tables typed from shared/reference/SENSORS.md, independently of xharm/qa.py.
QA_PIXEL_BITS = {
    0: "fill",
    1: "dilated_cloud",
    2: "cirrus",
    3: "cloud",
    4: "shadow",
    5: "snow",
    6: "clear",
    7: "water",
}
QA_PIXEL_FIELDS = {
    8: "cloud_confidence",
    10: "shadow_confidence",
    12: "snow_confidence",
    14: "cirrus_confidence",
}
SCL_CLASSES = {
    0: "fill",
    1: "saturated",
    2: "dark",
    3: "shadow",
    4: "vegetation",
    5: "bare",
    6: "water",
    7: "unclassified",
    8: "cloud_medium",
    9: "cloud_high",
    10: "cirrus",
    11: "snow",
}
FMASK_BITS = {0: "cirrus", 1: "cloud", 2: "adjacent", 3: "shadow", 4: "snow", 5: "water"}


def _da(values, dtype, name=None, dims=("x",)):
    return xr.DataArray(np.asarray(values, dtype=dtype), dims=dims, name=name)


# --------------------------------------------------------------------------- QA_PIXEL


def test_qa_pixel_every_single_bit():
    qa = _da([1 << b for b in range(8)], "uint16")
    ds = decode_qa_pixel(qa)
    for bit, name in QA_PIXEL_BITS.items():
        expected = np.zeros(8, bool)
        expected[bit] = True
        np.testing.assert_array_equal(ds[name].values, expected, err_msg=name)
        assert ds[name].dtype == bool
    for name in QA_PIXEL_FIELDS.values():
        assert (ds[name].values == 0).all()


@pytest.mark.parametrize("start", sorted(QA_PIXEL_FIELDS))
def test_qa_pixel_confidence_fields(start):
    levels = np.arange(4)
    qa = _da(levels << start, "uint16")
    ds = decode_qa_pixel(qa)
    for s, name in QA_PIXEL_FIELDS.items():
        expected = levels if s == start else np.zeros(4)
        np.testing.assert_array_equal(ds[name].values, expected, err_msg=name)
        assert ds[name].dtype == np.uint8
    assert not any(ds[n].values.any() for n in QA_PIXEL_BITS.values())


def test_qa_pixel_values_seen_in_real_landsat():
    # Values and meanings as listed in deep_harmonization_l8_c2l2_india/SOURCE.md
    ds = decode_qa_pixel(_da([21824, 21952, 21762, 22280], "uint16"))
    assert ds.clear.values.tolist() == [True, True, False, False]
    assert ds.water.values.tolist() == [False, True, False, False]
    assert ds.dilated_cloud.values.tolist() == [False, False, True, False]
    assert ds.cloud.values.tolist() == [False, False, False, True]
    assert ds.cloud_confidence.values.tolist() == [1, 1, 1, 3]


def test_qa_pixel_default_valid_all_values():
    values = np.arange(2**16, dtype="uint16")
    valid = valid_mask(_da(values, "uint16"), "qa_pixel")
    expected = (values & 0b111111) == 0  # fill, dilated cloud, cirrus, cloud, shadow, snow
    np.testing.assert_array_equal(valid.values, expected)


def test_qa_pixel_signed_input_reads_same_bits():
    values = np.arange(2**16, dtype="uint16")
    a = decode_qa_pixel(_da(values, "uint16"))
    b = decode_qa_pixel(_da(values.view("int16"), "int16"))
    xr.testing.assert_equal(a, b)


# --------------------------------------------------------------------------- SCL


def test_scl_every_class():
    codes = np.arange(16, dtype="uint8")
    ds = decode_scl(_da(codes, "uint8"))
    for code, name in SCL_CLASSES.items():
        np.testing.assert_array_equal(ds[name].values, codes == code, err_msg=name)
    np.testing.assert_array_equal(ds.cloud.values, (codes == 8) | (codes == 9))
    np.testing.assert_array_equal(ds.unknown.values, codes > 11)


def test_scl_default_valid_all_values():
    codes = np.arange(256, dtype="uint8")
    valid = valid_mask(_da(codes, "uint8", name="SCL"))
    np.testing.assert_array_equal(valid.values, np.isin(codes, [2, 4, 5, 6, 7]))


# --------------------------------------------------------------------------- Fmask


def test_fmask_every_bit_and_aerosol():
    ds = decode_fmask(_da([1 << b for b in range(6)], "uint8"))
    for bit, name in FMASK_BITS.items():
        expected = np.zeros(6, bool)
        expected[bit] = True
        np.testing.assert_array_equal(ds[name].values, expected, err_msg=name)
    assert not ds.fill.values.any()
    aero = decode_fmask(_da([0 << 6, 1 << 6, 2 << 6, 3 << 6], "uint8"))
    assert aero.aerosol.values.tolist() == [0, 1, 2, 3]
    assert aero.high_aerosol.values.tolist() == [False, False, False, True]
    assert not any(aero[n].values.any() for n in FMASK_BITS.values())


def test_fmask_fill_is_only_fill():
    ds = decode_fmask(_da([255, 254], "uint8"))
    assert ds.fill.values.tolist() == [True, False]
    for name in [*FMASK_BITS.values(), "high_aerosol"]:
        assert ds[name].values[0] == False  # noqa: E712 - fill wins over the set bits
    assert ds.aerosol.values[0] == 0
    assert ds.cloud.values[1] and ds.aerosol.values[1] == 3


def test_fmask_default_valid_all_values():
    v = np.arange(256, dtype="uint8")
    valid = valid_mask(_da(v, "uint8", name="Fmask"))
    np.testing.assert_array_equal(valid.values, (v != 255) & ((v & 0b00011110) == 0))


# --------------------------------------------------------------------------- valid_mask


def test_valid_mask_custom_exclude_and_attrs():
    scl = _da([0, 4, 6, 9, 11, 2], "uint8", name="SCL")
    default = valid_mask(scl)
    assert default.name == "valid" and default.dtype == bool
    assert default.attrs["qa_kind"] == "scl"
    assert default.attrs["exclude"].split() == list(DEFAULT_EXCLUDE["scl"])
    assert "water" not in default.attrs["exclude"].split()  # water valid by default
    custom = valid_mask(scl, exclude=["fill", "water", "dark"])
    assert custom.values.tolist() == [False, True, False, True, True, False]
    assert custom.attrs["rule"] == "valid = not (fill | water | dark)"
    assert valid_mask(scl, exclude=[]).values.all()
    assert valid_mask(scl, exclude="water").values.tolist() == [True, True, False, True, True, True]


def test_valid_mask_keeps_dims_and_coords():
    qa = xr.DataArray(
        np.zeros((2, 3, 4), "uint16"),
        dims=("time", "y", "x"),
        coords={
            "time": np.array(["2020-01-01", "2020-01-02"], "datetime64[ns]"),
            "y": [3, 2, 1],
            "x": range(4),
        },
        name="QA_PIXEL",
    )
    v = valid_mask(qa)
    assert v.dims == qa.dims
    xr.testing.assert_identical(v.coords.to_dataset(), qa.coords.to_dataset())


def test_reasons_exclude_information_layers():
    assert "clear" not in reasons("qa_pixel") and "cloud_confidence" not in reasons("qa_pixel")
    assert set(reasons("scl")) == {*SCL_CLASSES.values(), "cloud", "unknown"}
    for kind, names in DEFAULT_EXCLUDE.items():
        assert set(names) <= set(reasons(kind))


@pytest.mark.parametrize(
    ("name", "attrs", "kind"),
    [
        ("QA_PIXEL", {}, "qa_pixel"),
        ("qa_pixel", {}, "qa_pixel"),
        ("SCL", {}, "scl"),
        ("HLS.S30.T13RCN.2024128T173909.v2.0.Fmask", {}, "fmask"),
        (None, {"qa_kind": "fmask"}, "fmask"),
    ],
)
def test_infer_kind(name, attrs, kind):
    qa = _da([0], "uint8", name=name)
    qa.attrs.update(attrs)
    assert infer_kind(qa) == kind


# --------------------------------------------------------------------------- NumPy == Dask, laziness


@pytest.mark.parametrize(
    ("kind", "dtype", "high"), [("qa_pixel", "uint16", 2**16), ("scl", "uint8", 16), ("fmask", "uint8", 256)]
)
def test_numpy_equals_dask_and_lazy(kind, dtype, high, compute_counter):
    rng = np.random.default_rng(1)
    values = rng.integers(0, high, size=(3, 17, 19)).astype(dtype)
    eager = xr.DataArray(values, dims=("time", "y", "x"))
    lazy = xr.DataArray(da.from_array(values, chunks=(1, 8, 7)), dims=("time", "y", "x"))
    ds_lazy = decode(lazy, kind)
    v_lazy = valid_mask(lazy, kind, exclude=[*DEFAULT_EXCLUDE[kind], "water"])
    assert compute_counter.calls == 0
    assert all(isinstance(ds_lazy[n].data, da.Array) for n in ds_lazy.data_vars)
    assert isinstance(v_lazy.data, da.Array) and v_lazy.dtype == bool
    xr.testing.assert_equal(ds_lazy.compute(), decode(eager, kind))
    xr.testing.assert_equal(
        v_lazy.compute(), valid_mask(eager, kind, exclude=[*DEFAULT_EXCLUDE[kind], "water"])
    )
    assert compute_counter.calls == 2


# --------------------------------------------------------------------------- bad input


def test_float_input_is_a_units_error():
    with pytest.raises(UnitsError, match="float32 values, not integer flags") as err:
        valid_mask(_da([21824.0], "float32", name="QA_PIXEL"))
    assert "astype('uint16')" in str(err.value)
    with pytest.raises(UnitsError):
        decode_scl(_da([4.0, np.nan], "float64"))
    with pytest.raises(UnitsError):
        decode_fmask(_da([True], bool))


def test_unknown_kind_lists_options():
    with pytest.raises(SensorError, match="unknown quality layer kind 'bqa'") as err:
        valid_mask(_da([0], "uint16"), kind="bqa")
    assert "qa_pixel, scl, fmask" in str(err.value)
    with pytest.raises(SensorError, match="cannot tell which kind of quality layer"):
        valid_mask(_da([0], "uint16", name="band_7"))


def test_unknown_or_information_reason():
    with pytest.raises(ProductError, match="unknown scl layer"):
        valid_mask(_da([0], "uint8"), "scl", exclude=["clouds"])
    with pytest.raises(ProductError, match="information layer"):
        valid_mask(_da([0], "uint16"), "qa_pixel", exclude=["clear"])


def test_not_a_dataarray():
    with pytest.raises(DimensionError, match="not a DataArray"):
        valid_mask(np.zeros(3, "uint8"), "scl")


# --------------------------------------------------------------------------- real data


def _bits(values: np.ndarray) -> np.ndarray:
    """(..., 8) little-endian bits of a uint8 array, via np.unpackbits (independent of shifts)."""
    return np.unpackbits(values[..., None], axis=-1, bitorder="little").astype(bool)


@pytest.mark.parametrize("granule", ["HLS.S30.T13RCN.2024128T173909", "HLS.L30.T06WVS.2024120T211159"])
def test_real_hls_fmask(real_data, granule):
    rioxarray = pytest.importorskip("rioxarray")
    path = real_data / "hls_v2_fmask_samples" / f"{granule}.v2.0.Fmask.tif"
    if not path.exists():
        pytest.skip(f"{path} not found")
    layer = rioxarray.open_rasterio(path, mask_and_scale=False, chunks={"x": 1830, "y": 1830}).squeeze(
        "band", drop=True
    )
    assert layer.dtype == np.uint8
    raw = layer.values
    bits = _bits(raw)
    fill = raw == 255
    ds = decode_fmask(layer.rename("Fmask"))
    valid = valid_mask(layer.rename("Fmask"))
    assert isinstance(valid.data, da.Array)
    means = ds.assign(valid=valid).mean().compute()  # one pass over the file
    for bit, name in FMASK_BITS.items():
        expected = (bits[..., bit] & ~fill).mean()
        assert float(means[name]) == pytest.approx(expected, abs=1e-12), name
    assert float(means.fill) == pytest.approx(fill.mean(), abs=1e-12)
    clear = ~fill & ~bits[..., 1:5].any(-1)
    assert float(means.valid) == pytest.approx(clear.mean(), abs=1e-12)
    assert 0.5 < clear.mean() < 1.0  # mostly clear granules (9 % and 6 % cloud cover)


def test_real_landsat_qa_pixel(real_data):
    rioxarray = pytest.importorskip("rioxarray")
    files = sorted((real_data / "deep_harmonization_l8_c2l2_india" / "sr").glob("*_SR.tif"))
    if not files:
        pytest.skip("Landsat SR samples not found")
    expected_valid = {"20230213": 1.0, "20230418": 1.0, "20230520": 0.997}  # SOURCE.md clear fractions
    for path in files:
        band7 = rioxarray.open_rasterio(path).isel(band=6, drop=True).rename("QA_PIXEL")  # band 7 = QA_PIXEL
        with pytest.raises(UnitsError):
            valid_mask(band7)  # stored as float32 DNs
        qa = band7.astype("uint16")
        raw = qa.values
        bits = np.concatenate(
            [_bits((raw & 0xFF).astype("uint8")), _bits((raw >> 8).astype("uint8"))], axis=-1
        )
        ds = decode_qa_pixel(qa)
        for bit, name in QA_PIXEL_BITS.items():
            assert float(ds[name].mean()) == pytest.approx(bits[..., bit].mean(), abs=1e-12), name
        conf = bits[..., 8].astype(int) + 2 * bits[..., 9].astype(int)
        np.testing.assert_array_equal(ds.cloud_confidence.values, conf)
        valid = valid_mask(qa)
        assert float(valid.mean()) == pytest.approx(float((~bits[..., :6].any(-1)).mean()), abs=1e-12)
        date = path.name.split("_")[3]
        assert float(valid.mean()) == pytest.approx(expected_valid[date], abs=1e-3)
        assert float(ds.clear.mean()) == pytest.approx(expected_valid[date], abs=1e-3)
