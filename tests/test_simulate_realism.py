"""Tests of xharm.simulate.realism, and the simulator against the real samples and published figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from xharm import simulate
from xharm.simulate import realism as rl


def test_texture_stats_known_values() -> None:
    rng = np.random.default_rng(0)
    white = rl.texture_stats(0.2 + 0.02 * rng.standard_normal((120, 120)))
    assert (
        white["power_lt60"] > 80 and 80 < white["var_in30"] < 100 and white["cv"] == pytest.approx(0.1, 0.05)
    )
    x = np.mgrid[0:120, 0:120][1]
    halves = np.where(x < 60, 0.1, 0.3).astype(float)
    s = rl.texture_stats(halves)
    assert s["edge"] == pytest.approx(100 * 2 / 118, abs=0.1)  # the two columns beside the step
    assert s["var_in30"] < 1e-9 and s["cv"] == pytest.approx(0.5)
    smooth = rl.texture_stats(0.2 + 0.05 * np.sin(2 * np.pi * x / 600.0))
    assert smooth["power_lt60"] < 1 and smooth["edge"] == 0


def test_residual_structure_separates_smooth_from_white() -> None:
    rng = np.random.default_rng(1)
    white = rl.residual_structure(rng.standard_normal((80, 80)))
    y, x = np.mgrid[0:80, 0:80]
    smooth = rl.residual_structure(np.sin(2 * np.pi * x / 40.0) + np.cos(2 * np.pi * y / 50.0))
    assert abs(white["lag1"]) < 0.05 and white["above200"] < 10
    assert smooth["lag1"] > 0.95 and smooth["above200"] > 90


@pytest.mark.parametrize("archetype", ["central_europe", "forest_hills"])
def test_summer_texture_inside_the_real_range(real_data: Path, archetype: str) -> None:
    """Red and NIR texture of a simulated summer L1C scene inside the real samples' 5-95 % range.

    Real: the five eo-learn Slovenia L1C scenes (1 km, a forest / grassland mosaic on hills)
    and the 18SVG L1C scene cut into 2.4 km tiles, measured in this run. Simulated: a clear
    2.4 km scene on 2021-06-25 at Level 1 (TOA, with the atmosphere and adjacency effect):
    the summer farmland (``central_europe``) and the kind of landscape the Slovenia sample is
    (``forest_hills``).
    """
    real = rl.real_texture(real_data)
    if not real:
        pytest.skip("no real L1C samples")
    sim = simulate.scene("2021-06-25", size_km=2.4, seed=0, cloud_cover=0.0, level="L1", archetype=archetype)
    sim = sim.s2_10m
    for band in ("B04", "B08"):
        got = rl.texture_stats(sim.sel(band=band).values[0])
        for k, (lo, hi) in rl.ranges(real[band]).items():
            assert lo <= got[k] <= hi, (band, k, lo, got[k], hi)


#: Raw Sentinel-2 vs Landsat-8 RMSE of Table IV of Sedona et al. (2021) (``shared/seeds``),
#: 1e-4 reflectance units: the published same-day discrepancy without any harmonisation.
TABLE_IV_RAW_S2 = {"B2": 285, "B3": 371, "B4": 393, "B5": 1344, "B6": 843, "B7": 607}


@pytest.fixture(scope="module")
def same_day() -> list[dict[str, dict[str, float]]]:
    return rl.same_day_discrepancy()


def test_same_day_discrepancy_within_published_range(same_day) -> None:  # type: ignore[no-untyped-def]
    """Per band: RMSE between the LaSRC/Sen2Cor floor and the raw-S2 row of Table IV; small bias."""
    for lb, ceiling in TABLE_IV_RAW_S2.items():
        rmse = np.mean([d[lb]["rmse"] for d in same_day])
        bias = np.mean([d[lb]["bias"] for d in same_day])
        assert 0.005 <= rmse <= ceiling / 1e4, (lb, rmse)
        assert abs(bias) <= 0.01, (lb, bias)


def test_affine_residual_is_smooth(same_day) -> None:  # type: ignore[no-untyped-def]
    """After a per-band affine fit: lag-1 autocorrelation >= 0.7, >= 25 % of the variance above 200 m."""
    for lb in rl.PAIRS:
        lag = np.mean([d[lb]["lag1"] for d in same_day])
        big = np.mean([d[lb]["above200"] for d in same_day])
        assert lag >= 0.7 and big >= 25.0, (lb, lag, big)
