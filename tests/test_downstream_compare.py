"""Tests of xharm.downstream.compare: crop mapping v2 (methods x calendar x pixel set x split)."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from xharm import simulate
from xharm.downstream import (
    CALENDARS,
    LANDSAT,
    PIXEL_SETS,
    compare_crop_mapping,
    crop_mapping,
    parcel_labels,
)
from xharm.exceptions import ArgumentError, BandError, DimensionError, GridError, ProductError

FAST = {"blocks": (4, 4), "max_train_per_class": 60, "cv": 2, "param_grid": {"C": [10.0], "gamma": [1.0]}}


@pytest.fixture(scope="module")
def pairs() -> simulate.PairSeries:
    return simulate.pair_series(n_dates=4, size_km=1.8, seed=11, cloud_cover=0.0, lazy=False)


def _truth(ps: simulate.PairSeries):
    def run(s2_10m: xr.DataArray, s2_20m: xr.DataArray, valid: xr.DataArray) -> xr.DataArray:
        return ps.l8_truth.sel(band=["B2", "B3", "B4", "B5", "B6", "B7"])

    return run


def _noisy(ps: simulate.PairSeries, sigma: float = 0.04):
    def run(s2_10m: xr.DataArray, s2_20m: xr.DataArray, valid: xr.DataArray) -> xr.DataArray:
        t = _truth(ps)(s2_10m, s2_20m, valid)
        noise = np.random.default_rng(0).normal(0.0, sigma, t.shape).astype("float32")
        return t + noise

    return run


@pytest.fixture(scope="module")
def result(pairs):
    methods = {"truth": _truth(pairs), "noisy": _noisy(pairs)}
    return compare_crop_mapping(pairs, methods, reference="noisy", s2_only=2, splits=2, **FAST)


def test_table_is_tidy_and_complete(pairs, result):
    t = result.table
    assert list(t.columns) == ["method", "calendar", "pixels", "split", "OA", "n"]
    assert len(t) == 3 * len(CALENDARS) * len(PIXEL_SETS) * 2
    assert result.methods == ["truth", "noisy", LANDSAT]
    assert set(t["calendar"]) == set(CALENDARS) and set(t["pixels"]) == set(PIXEL_SETS)
    assert t["OA"].between(0, 100).all() and (t["n"] > 0).all()
    # interior and edge test pixels partition all test pixels
    wide = t.pivot_table(index=["method", "calendar", "split"], columns="pixels", values="n")
    np.testing.assert_array_equal(wide["interior"] + wide["edge"], wide["all"])
    s = result.summary()
    assert s.shape == (3 * 2 * 3, 5) and (s["splits"] == 2).all()
    days = [str(pd.Timestamp(t).date()) for t in pairs.s2_10m.time.values]
    assert result.dates == {"landsat": [days[0], days[1], days[3]], "s2_only": days[2]}


def test_overall_accuracy_matches_a_direct_crop_mapping_run(pairs, result):
    """The 'all' OA of the table is crop_mapping's own overall accuracy on the same inputs."""
    truth = _truth(pairs)(pairs.s2_10m, pairs.s2_20m, pairs.s2_valid)
    lab = parcel_labels(pairs.s2_10m, truth.odc.geobox)
    keep = [0, 1, 3]  # the Landsat dates: date 2 is the S2-only one
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        r = crop_mapping(
            truth.isel(time=keep),
            lab.labels,
            valid=pairs.s2_valid.isel(time=keep),
            classes=["wheat", "maize", "rapeseed", "soybean", "sugarbeet", "grassland"],
            seed=1,
            **FAST,
        )
    row = result.table.query("method == 'truth' and calendar == 'paper' and pixels == 'all' and split == 1")
    assert row["OA"].item() == pytest.approx(100 * r.overall_accuracy)


def test_perfect_product_scores_at_least_a_degraded_one(result):
    s = result.summary()
    for cal in CALENDARS:
        for pix in PIXEL_SETS:
            assert s.loc[("truth", cal, pix), "mean"] >= s.loc[("noisy", cal, pix), "mean"], (cal, pix)
    v = result.versus()
    assert v.loc[("truth", "paper", "all"), "holds"]
    assert v.loc[("truth", "paper", "all"), "mean"] > 0
    assert set(v.index.get_level_values("method")) == {"truth", LANDSAT}
    # reference swapped: the degraded product does not meet the criterion against the truth
    assert not result.versus("truth").loc[("noisy", "paper", "all"), "holds"]
    g = result.gain()
    assert g.shape == (3 * 3, 4) and (g["splits"] == 2).all()


def test_landsat_row_uses_its_own_grid(pairs, result):
    dx = pairs.l8.misregistration_dx.values[[0, 1, 3]].mean()
    dy = pairs.l8.misregistration_dy.values[[0, 1, 3]].mean()
    assert result.info["landsat_shift_m"] == pytest.approx((dx, dy))
    ef = result.info["edge_fraction"]
    assert set(ef) == {"truth", "noisy", LANDSAT} and ef["truth"] == ef["noisy"]
    assert 0.2 < ef[LANDSAT] < 0.7 and 0.2 < ef["truth"] < 0.7


def test_lazy_pairs_compute_once_and_results_repeat(compute_counter):
    ps = simulate.pair_series(n_dates=3, size_km=1.2, seed=12, cloud_cover=0.0, lazy=True)
    kw = {**FAST, "blocks": (3, 3), "classes": ["wheat", "maize", "grassland", "rapeseed"], "landsat": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a = compare_crop_mapping(ps, {"truth": _truth(ps)}, reference="truth", splits=[3], **kw)
        assert compute_counter.calls == 1
        b = compare_crop_mapping(ps, {"truth": _truth(ps)}, reference="truth", splits=[3], **kw)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert set(a.table["method"]) == {"truth"}


def test_bad_arguments_are_refused_before_work(pairs):
    ok = {"truth": _truth(pairs)}
    with pytest.raises(ArgumentError, match="reference"):
        compare_crop_mapping(pairs, ok, reference="hls")
    with pytest.raises(ArgumentError, match="s2_only"):
        compare_crop_mapping(pairs, ok, reference="truth", s2_only="2030-01-01")
    with pytest.raises(ArgumentError, match="Landsat observation"):
        compare_crop_mapping(pairs, {LANDSAT: _truth(pairs)}, reference=LANDSAT)
    with pytest.raises(ArgumentError, match="no block split"):
        compare_crop_mapping(pairs, ok, reference="truth", splits=0)
    with pytest.raises(ArgumentError, match="no methods"):
        compare_crop_mapping(pairs, {}, reference="truth")
    with pytest.raises(ArgumentError, match="too few Landsat dates"):
        two = dataclasses.replace(pairs, s2_10m=pairs.s2_10m.isel(time=[0, 1]))
        compare_crop_mapping(two, ok, reference="truth")
    with pytest.raises(ProductError):
        plain = dataclasses.replace(pairs, s2_10m=pairs.s2_10m.assign_attrs(simulated=None))
        compare_crop_mapping(plain, ok, reference="truth")
    with pytest.raises(DimensionError, match="number of dates"):
        compare_crop_mapping(
            pairs, {"x": lambda a, b, v: _truth(pairs)(a, b, v).isel(time=[0])}, reference="x"
        )
    with pytest.raises(DimensionError, match="did not return"):
        compare_crop_mapping(pairs, {"x": lambda a, b, v: _truth(pairs)(a, b, v).isel(band=0)}, reference="x")
    cropped = {"x": lambda a, b, v: _truth(pairs)(a, b, v).isel(y=slice(0, 30))}
    with pytest.raises(GridError, match="cannot fill"):
        compare_crop_mapping(pairs, cropped, reference="x", splits=[0], **FAST)
    renamed = {"x": lambda a, b, v: _truth(pairs)(a, b, v).assign_coords(band=list("abcdef"))}
    with pytest.raises(BandError, match="not all Landsat bands"):
        compare_crop_mapping(pairs, renamed, reference="x")
