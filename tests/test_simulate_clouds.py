"""Tests of xharm.simulate.clouds: weather sharing, shadows and the mask bit conventions."""

from __future__ import annotations

import numpy as np
import pytest

from xharm.simulate import clouds as cl

W = cl.Weather(cover=0.3, cirrus=0.2, height_m=2000.0, wind_ms=5.0, wind_dir=45.0, soil_moisture=0.3, aot=0.1)


def layers(role: str, gap: float = 20.0, weather: cl.Weather = W, sun_az: float = 150.0):  # type: ignore[no-untyped-def]
    return cl.cloud_layers(
        (200, 200), 10.0, weather, 3, 1, role=role, sun_zenith=40.0, sun_azimuth=sun_az, gap_minutes=gap
    )


def test_cover_fraction_and_determinism() -> None:
    op, ci, sh = layers("s2")
    assert float((op >= 0.5).mean()) == pytest.approx(0.3, abs=0.03)
    assert 0 < ci.max() <= 0.3 and sh.min() >= 0
    np.testing.assert_array_equal(op, layers("s2")[0])


def test_pair_shares_weather_partly() -> None:
    s2 = layers("s2")[0]
    same = layers("l8", gap=0.0)[0]
    np.testing.assert_allclose(same, s2, atol=1e-6)  # no gap: the same sky
    corr = lambda a, b: float(np.corrcoef(a.ravel(), b.ravel())[0, 1])  # noqa: E731
    calm = cl.Weather(**{**W.__dict__, "wind_ms": 0.0})
    c = [corr(layers("s2", weather=calm)[0], layers("l8", gap, calm)[0]) for gap in (5.0, 30.0, 120.0)]
    assert c[0] > c[1] > c[2] and c[0] > 0.6 and abs(c[2]) < 0.15  # r = exp(-gap / 30 min) in the noise
    assert float((layers("l8", 60.0)[0] >= 0.5).mean()) == pytest.approx(0.3, abs=0.05)  # same regime


def test_shadow_falls_away_from_the_sun() -> None:
    w = cl.Weather(**{**W.__dict__, "cirrus": 0.0})
    op, _, sh = cl.cloud_layers((200, 200), 10.0, w, 0, 0, role="s2", sun_zenith=45.0, sun_azimuth=180.0)
    # sun in the south -> shadows north of clouds (smaller row index) by h tan(45) = 2000 m = 200 px (wraps)
    d = 2000.0 / 10.0
    expect = np.roll(op, (int(-d), 0), axis=(0, 1)) * (1 - op)
    np.testing.assert_allclose(sh, expect, atol=1e-6)


def test_scl_classes() -> None:
    op = np.array([[0.9, 0.45, 0.0, 0.0, 0.0, 0.0]])
    ci = np.array([[0.0, 0.0, 0.2, 0.0, 0.0, 0.0]])
    sh = np.array([[0.0, 0.0, 0.0, 0.8, 0.0, 0.0]])
    water = np.array([[False, False, False, False, True, False]])
    ndvi = np.array([[0.0, 0.0, 0.0, 0.0, 0.0, 0.6]])
    assert cl.scl_layer(op, ci, sh, water, ndvi).tolist() == [[9, 8, 10, 3, 6, 4]]


def test_qa_pixel_bits() -> None:
    op = np.zeros((9, 9), "float32")
    op[4, 4] = 0.9
    z = np.zeros_like(op)
    sh = z.copy()
    sh[0, 8] = 0.6
    qa = cl.qa_pixel_layer(op, z, sh, np.zeros((9, 9), bool))
    bit = lambda v, b: (int(v) >> b) & 1  # noqa: E731
    c = qa[4, 4]
    assert bit(c, 3) == 1 and bit(c, 6) == 0 and (int(c) >> 8) & 3 == 3
    assert bit(qa[4, 6], 1) == 1 and bit(qa[4, 6], 3) == 0 and bit(qa[4, 6], 6) == 0  # dilated ring
    assert qa[0, 0] == 21824  # clear land as in real C2 L2 products
    assert bit(qa[0, 8], 4) == 1 and (int(qa[0, 8]) >> 10) & 3 == 3
    assert ((qa[0, 0] & 0b11111) == 0) and ((c & 0b11111) != 0)


def test_diffuse_fraction_is_rayleigh_like() -> None:
    d = cl.diffuse_fraction(np.array([443.0, 865.0, 2200.0]), 0.0, 0.0)
    tau = 0.008569 * 0.443**-4 * (1 + 0.0113 * 0.443**-2 + 0.00013 * 0.443**-4)
    assert d[0] == pytest.approx(1 - np.exp(-tau / 2))
    assert d[0] > d[1] > d[2]


def test_draw_weather() -> None:
    assert cl.draw_weather(1, 2) == cl.draw_weather(1, 2)
    assert cl.draw_weather(1, 2, cloud_cover=0.0).cover == 0.0
    covers = [cl.draw_weather(0, i).cover for i in range(40)]
    assert min(covers) == 0.0 and max(covers) < 0.5
