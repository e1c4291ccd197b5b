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
    run_methods,
    score_series,
    score_table,
    table_iv,
)
from xharm.exceptions import SensorError


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
