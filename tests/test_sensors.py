"""Band tables, aliases, scaling rules and SRFs of xharm.core.sensors."""

from __future__ import annotations

import re
from pathlib import Path

import dask.array as da
import numpy as np
import pytest

from xharm.core.sensors import SENSORS, BandSpec, get_sensor, hls_bandpass, s2_boa_offset
from xharm.exceptions import SensorError, UnknownBandError, XharmError

SRF_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "srf" / "srf_long_nm.csv"


def test_s2_resolution_groups_match_the_mgan_heads():
    s2 = get_sensor("sentinel-2a")
    assert [b.id for b in s2.bands_at(10.0)] == ["B02", "B03", "B04", "B08"]
    assert [b.id for b in s2.bands_at(20.0)] == ["B05", "B06", "B07", "B8A", "B11", "B12"]
    assert [b.id for b in s2.bands_at(60.0)] == ["B01", "B09", "B10"]


def test_landsat_common_names_follow_usgs_stac():
    l8 = get_sensor("landsat-8")
    names = dict(zip(l8.band_ids, l8.common_names, strict=True))
    assert [names[f"B{i}"] for i in range(1, 8)] == [
        "coastal",
        "blue",
        "green",
        "red",
        "nir08",
        "swir16",
        "swir22",
    ]


@pytest.mark.parametrize(
    ("sensor", "alias", "band_id"),
    [
        ("landsat-8", "SR_B5", "B5"),
        ("landsat-8", "B05", "B5"),
        ("landsat-9", "nir08", "B5"),
        ("sentinel-2b", "B2", "B02"),
        ("sentinel-2b", "b8a", "B8A"),
        ("sentinel-2b", "B08A", "B8A"),
        ("sentinel-2c", "swir22", "B12"),
        ("hls-l30", "B5", "B05"),
        ("hls-s30", "nir08", "B8A"),
        ("sentinel-1", "vh", "VH"),
    ],
)
def test_band_aliases(sensor, alias, band_id):
    assert get_sensor(sensor).band(alias).id == band_id


def test_hls_nir_numbering_differs_between_l30_and_s30():
    assert get_sensor("hls-l30").band("nir08").id == "B05"
    assert get_sensor("hls-s30").band("nir08").id == "B8A"
    assert get_sensor("hls-s30").band("B05").common_name == "rededge071"


def test_unknown_band_message_lists_valid_names():
    with pytest.raises(UnknownBandError) as err:
        get_sensor("sentinel-2a").band("B13")
    msg = str(err.value)
    assert "'B13'" in msg and "B8A" in msg and "swir16" in msg and "fix:" in msg
    assert isinstance(err.value, KeyError) and isinstance(err.value, XharmError)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("S2A", "sentinel-2a"),
        ("LC08", "landsat-8"),
        ("Landsat 9", "landsat-9"),
        ("S30", "hls-s30"),
        ("s1", "sentinel-1"),
    ],
)
def test_sensor_aliases(alias, name):
    assert get_sensor(alias).name == name


def test_unknown_sensor():
    with pytest.raises(SensorError, match="unknown sensor 'MODIS'"):
        get_sensor("MODIS")


def test_wavelength_ranges_contain_srf_centroids():
    for name in ("sentinel-2a", "sentinel-2b", "landsat-8", "landsat-9"):
        s = get_sensor(name)
        for b in s.bands:
            if b.id in ("B10", "B11") and s.family == "landsat":
                continue  # thermal: pyrsr tables are in other units
            wvl, resp = s.srf(b.id)
            centroid = float((wvl * resp).sum() / resp.sum())
            lo, hi = b.wavelength
            assert lo - 10 <= centroid <= hi + 10, (name, b.id, centroid, b.wavelength)


def test_srf_matches_the_shared_tables():
    if not SRF_CSV.is_file():
        pytest.skip("shared SRF tables not present")
    import pandas as pd

    table = pd.read_csv(SRF_CSV)
    rows = table[(table.sensor == "S2A_MSI") & (table.band.astype(str) == "8A")]
    wvl, resp = get_sensor("sentinel-2a").srf("B8A")
    ref = np.interp(wvl, rows.wavelength_nm.to_numpy(), rows.relative_response.to_numpy())
    np.testing.assert_allclose(resp, ref, atol=2e-3)
    # published response-weighted centres (see shared/data/srf/SOURCE.md)
    for sensor, band, centre in [
        ("sentinel-2a", "B02", 492.4),
        ("sentinel-2a", "B11", 1613.7),
        ("landsat-8", "B5", 864.6),
        ("landsat-8", "B7", 2201.2),
    ]:
        w, r = get_sensor(sensor).srf(band)
        assert abs((w * r).sum() / r.sum() - centre) < 0.5


def test_no_srf_for_s2c():
    with pytest.raises(SensorError, match="no spectral response table for sentinel-2c"):
        get_sensor("sentinel-2c").srf("B04")


@pytest.mark.parametrize(
    ("baseline", "offset"),
    [("04.00", -1000.0), ("N0400", -1000.0), ("N0509", -1000.0), ("02.09", 0.0), ("N0209", 0.0), (None, 0.0)],
)
def test_s2_offset_rule(baseline, offset):
    assert s2_boa_offset(baseline) == offset


def test_s2_offset_rule_rejects_garbage():
    with pytest.raises(SensorError, match="processing baseline"):
        s2_boa_offset("latest")


def test_scaling_decode_numpy_and_dask():
    sc = get_sensor("landsat-8").scaling
    dn = np.array([0, 7273, 43636], dtype="uint16")
    expected = np.array([np.nan, 7273 * 2.75e-5 - 0.2, 43636 * 2.75e-5 - 0.2], dtype="float32")
    np.testing.assert_allclose(sc.decode(dn), expected, rtol=1e-6, atol=1e-7)
    out = sc.decode(da.from_array(dn, chunks=2))
    assert isinstance(out, da.Array)
    np.testing.assert_allclose(out.compute(), expected, rtol=1e-6, atol=1e-7)
    s2 = get_sensor("sentinel-2b").scaling
    np.testing.assert_allclose(s2.decode(np.array([2000], "uint16"), offset_dn=-1000.0), [0.1], rtol=1e-6)


def test_hls_bandpass_tables():
    for platform in ("sentinel-2a", "sentinel-2b", "sentinel-2c"):
        table = hls_bandpass(platform)
        assert [v[0] for v in table.values()] == [f"B{i}" for i in range(1, 8)]
        assert all(0.95 < v[1] < 1.02 and abs(v[2]) < 0.005 for v in table.values())
    assert hls_bandpass("S2A")["B02"] == ("B2", 0.9778, -0.0040)
    with pytest.raises(SensorError, match="only for Sentinel-2"):
        hls_bandpass("landsat-8")


def test_bandspec_is_frozen_hashable_and_tokenizes():
    from dask.base import tokenize

    a = BandSpec.of("s2a", ["blue", "green"])
    b = BandSpec.of("sentinel-2a", ["B02", "B3"])
    assert a == b and hash(a) == hash(b) and tokenize(a) == tokenize(b)
    assert a.common_names == ("blue", "green")
    with pytest.raises(AttributeError):
        a.resolution = 20.0  # type: ignore[misc]


def test_every_table_is_consistent():
    for s in SENSORS.values():
        assert len(set(s.band_ids)) == len(s.band_ids)
        assert len(set(s.common_names)) == len(s.common_names)
        for b in s.bands:
            assert re.fullmatch(r"B\d{1,2}A?|VV|VH", b.id)
            assert b.resolution > 0
