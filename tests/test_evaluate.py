"""xharm.evaluate: the one evaluation module (score tables, methods on pairs, Table IV)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xharm import simulate
from xharm.evaluate import (
    METRICS,
    better_than,
    markdown,
    real_l2a_check,
    run_methods,
    score_series,
    score_table,
    table_iv,
)
from xharm.exceptions import EmptyDataError, SensorError


@pytest.fixture(scope="module")
def series():
    return simulate.pair_series(n_dates=2, size_km=1.8, seed=17, lazy=False)


def test_score_table_of_the_reference_itself_is_perfect(series):
    ref = series.l8_truth.sel(band=["B2", "B3", "B4", "B5", "B6", "B7"])
    noisy = ref + np.random.default_rng(0).normal(0, 0.01, ref.shape).astype("float32")
    valid = series.l8_valid.assign_coords(time=ref.time.values)  # Landsat passes 20 min earlier
    overall, per_band = score_table({"same": ref, "noisy": noisy}, ref, valid)
    assert list(overall.columns) == list(METRICS) and list(overall.index) == ["same", "noisy"]
    assert overall.loc["same", "rmse"] == 0 and overall.loc["same", "sam"] < 1e-3
    assert overall.loc["noisy", "rmse"] == pytest.approx(0.01, rel=0.05)  # the noise put in
    assert per_band.index.names == ["method", "band"] and len(per_band) == 12


def test_run_methods_gives_every_method_the_mask_and_one_grid(series):
    s2 = {10: series.s2_10m, 20: series.s2_20m}
    preds = run_methods(s2, ["resample", "hls"], valid=series.s2_valid)
    assert set(preds) == {"resample", "hls"}
    assert preds["resample"].odc.geobox == preds["hls"].odc.geobox
    for p in preds.values():
        assert "valid" not in p.coords and not hasattr(p.data, "dask")
    cloudy = ~series.s2_valid.any(("y", "x")).values  # no date is entirely cloudy in this scene
    assert not cloudy.any()
    assert bool(preds["hls"].isnull().any()) == bool((~series.s2_valid).any())  # clouds masked
    with pytest.raises(SensorError, match="unknown method"):
        run_methods(s2, ["magic"])


def test_score_series_references_and_extra(series):
    out = score_series(
        series, ["resample", "hls"], references=["truth", "l8"], extra={"truth": series.l8_truth}
    )
    assert set(out) == {"truth", "l8"}
    assert list(out["truth"][0].index) == ["resample", "hls"]
    # the truth scored as a product against the observation: only noise and AC residual remain
    l8 = out["l8"][0]
    assert list(l8.index) == ["resample", "hls", "truth"]
    assert l8.loc["truth", "rmse"] < l8.loc["resample", "rmse"]
    with pytest.raises(SensorError, match="unknown reference"):
        score_series(series, ["hls"], references=["moon"])


def test_table_iv_averages_seeds_with_sd():
    tables = table_iv([17, 18], ["resample", "hls"], size_km=1.2, n_dates=1, references=["truth"])
    overall, per_band = tables["truth"]
    assert {"sam", "sam_sd", "rmse_sd"} <= set(overall.columns)
    assert (overall["rmse_sd"] >= 0).all() and len(per_band) == 12


def test_better_than_and_markdown():
    df = pd.DataFrame({"sam": [1.0, 2.0], "psnr": [30.0, 31.0], "ssim": [np.nan, 0.9]}, index=["a", "b"])
    assert better_than(df, "a", "b") == ["sam"] and better_than(df, "b", "a") == ["psnr"]
    text = markdown(df)
    assert text.splitlines()[0] == "|  | sam | psnr | ssim |" and "| a | 1.0000 | 30.0000 | nan |" in text


def test_training_targets_are_coregistered_onto_sentinel2():
    """Issue 17 item 1 (in part): the Landsat target of training pairs carries no drawn shift."""
    from xharm import simulate
    from xharm.evaluate import coregistered_target

    ps = simulate.pair_series(
        n_dates=3, size_km=2.4, seed=11, cloud_cover=0.0, start="2021-05-01", end="2021-09-15"
    )
    l8, valid = coregistered_target(ps)
    drawn = np.stack([ps.l8.misregistration_dx.values, ps.l8.misregistration_dy.values], 1)
    found = np.stack([l8.coreg_dx.values, l8.coreg_dy.values], 1)
    np.testing.assert_array_less(np.abs(found - drawn), 1.5)
    assert bool(valid.any()) and not bool(l8.where(valid).isnull().all("band").where(valid, False).any())
    assert l8.time.values.tolist() == ps.s2_10m.time.values.tolist()


def test_table_iv_v2_scores_every_reference_pixel_set_and_method():
    from xharm.evaluate import PIXEL_SETS, summarize, table_iv_v2

    tab = table_iv_v2({"plains": [31]}, ["resample", "hls", "hls_psf"], size_km=1.8, n_dates=1)
    assert set(tab.reference) == {"target", "truth", "l8_coreg"} and set(tab.pixels) == set(PIXEL_SETS)
    assert len(tab) == 3 * 3 * 3 and {"rmse_B2", "rmse_B7", "sam", "ssim"} <= set(tab.columns)
    s = summarize(tab)
    assert s.loc[("target", "all", "hls_psf"), "rmse"] < s.loc[("target", "all", "resample"), "rmse"]


def test_tra_is_the_least_squares_fit_to_the_scenes_own_landsat_dates():
    """The per-pixel regression row: fitted per pixel on the co-registered Landsat dates, so on
    those dates (in sample) it is never further from them than the plain regrid (identity)."""
    from xharm.evaluate import table_iv_v2, tra_product

    ps = simulate.pair_series(n_dates=5, size_km=1.2, seed=23, lazy=False, cloud_cover=0.0)
    tra = tra_product(ps)
    res = run_methods({10: ps.s2_10m, 20: ps.s2_20m}, ["resample"], valid=ps.s2_valid)["resample"]
    assert tra.odc.geobox == res.odc.geobox and tra.band.values.tolist() == res.band.values.tolist()
    assert "valid" not in tra.coords and tra.attrs["harmonization_method"] == "tra"
    rows = ["resample", "hls_psf", "tra", "tra_psf"]
    tab = table_iv_v2({"plains": [23]}, rows, size_km=1.2, n_dates=5, pixels=("all",))
    tab = tab[tab.reference == "l8_coreg"].set_index("method")
    bands = [c for c in tab.columns if c.startswith("rmse_B")]
    assert (tab.loc["tra", bands] < tab.loc["resample", bands]).all()
    assert (tab.loc["tra_psf", bands] < tab.loc["hls_psf", bands]).all()  # the same fit on hls_psf
    with pytest.raises(SensorError, match="unknown TRA input"):
        tra_product(ps, on="hls")


def test_goal_check_needs_both_physical_baselines_beaten_on_every_metric():
    from xharm.evaluate import goal_check

    rows = []
    for seed in (1, 2):
        for method, k in (("hls", 1.0), ("hls_psf", 0.9), ("mgan", 0.6)):
            worse = seed == 2 and method == "mgan"  # loses SSIM to hls_psf on one scene
            ssim = 0.5 if worse else 1 - 0.1 * k
            rows.append({"archetype": "plains", "seed": seed, "reference": "target", "pixels": "all",
                         "method": method, "sam": 3 * k, "ergas": 20 * k, "rmse": 0.02 * k,
                         "uiqi": 1 - 0.1 * k, "psnr": 40 - 5 * k, "ssim": ssim})  # fmt: skip
    goal = goal_check(pd.DataFrame(rows))
    assert goal["wins"]["plains/1"] == ["sam", "ergas", "rmse", "uiqi", "psnr", "ssim"]
    assert "ssim" not in goal["wins"]["plains/2"] and not goal["every_seed_every_metric"]
    assert goal["sam_ratio"] == pytest.approx(0.6 / 0.9) and goal["rmse_ratio"] == pytest.approx(0.6 / 0.9)


def test_real_l2a_patches_stay_near_hls_and_snow_is_flagged(real_data):
    """Issue 17: real Sentinel-2 L2A (BigEarthNet, 6 patches of 1.2 km, smaller than one model
    patch: padded, not refused): the bundled starter stays within a median 0.02 of HLS per band,
    makes < 0.5 % negatives where HLS is positive, and flags what lies outside its training range."""
    root = real_data / "bigearthnet_s2_l2a_patches"
    if len(list(root.glob("S2*"))) < 6:
        pytest.skip("bigearthnet_s2_l2a_patches sample missing")
    table = real_l2a_check(root)
    assert len(table) == 6 * 6 and table["patch"].nunique() == 6
    assert table["median_vs_hls"].max() < 0.02, table.sort_values("median_vs_hls").tail(3)
    assert table["negative_pct"].max() < 0.5
    snow = table[(table["band"] == "B2") & (table["hls_median"] > 0.25)]  # far outside the training range
    assert len(snow) == 1 and float(snow["outside_pct"].iloc[0]) > 50


def test_real_l2a_check_needs_patches(tmp_path):
    with pytest.raises(EmptyDataError, match="BigEarthNet"):
        real_l2a_check(tmp_path)
