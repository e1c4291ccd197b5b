"""Monte-Carlo dropout uncertainty: lazy, reproducible, chunk-independent, masked."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

import xharm
from xharm.exceptions import DimensionError, SensorError


def test_lazy_and_attached_as_coordinate(s2_inputs, tiny_model, scene, compute_counter):
    out = xharm.to_landsat(s2_inputs(scene, chunks=20), model=tiny_model, uncertainty=True, samples=3)
    assert compute_counter.calls == 0
    assert out["uncertainty"].dims == ("time", "band", "y", "x")
    assert out["uncertainty"].dtype == np.float32
    assert out.attrs["uncertainty_samples"] == 3
    # the coordinate follows selections
    sub = out.isel(time=0).sel(band="B4")
    assert sub["uncertainty"].dims == ("y", "x")
    values = out.compute()
    std = values["uncertainty"].values
    assert np.isfinite(std).all() and (std >= 0).all() and (std > 0).mean() > 0.5


def test_prediction_is_the_deterministic_one(s2_inputs, tiny_model, scene):
    plain = xharm.to_landsat(s2_inputs(scene), model=tiny_model).compute()
    with_u = xharm.to_landsat(s2_inputs(scene), model=tiny_model, uncertainty=True, samples=2).compute()
    np.testing.assert_array_equal(with_u.values, plain.values)


def test_std_of_two_samples(s2_inputs, tiny_model, scene):
    """With 2 samples the (ddof=1) std is |a - b| / sqrt(2) of the two dropout runs."""
    from xharm.engine.apply import apply_model
    from xharm.spec import ModelSpec
    from xharm.zoo import ZooHandle, resolve
    from xharm.zoo.mc import MCDropoutHandle

    h = ZooHandle.of(tiny_model)
    spec = ModelSpec.from_json((resolve(tiny_model) / "spec.json").read_text())
    cubes = {"s2_10m": scene.s2_10m, "s2_20m": scene.s2_20m}
    a, b = (apply_model(cubes, spec, MCDropoutHandle(h.name_or_path, h.checksum, k)).values for k in (0, 1))
    assert np.abs(a - b).max() > 1e-4  # dropout does something
    out = xharm.to_landsat(s2_inputs(scene), model=tiny_model, uncertainty=True, samples=2)
    np.testing.assert_allclose(out["uncertainty"].values, np.abs(a - b) / np.sqrt(2), rtol=1e-5, atol=1e-7)


def test_chunked_equals_unchunked_and_reproducible(s2_inputs, tiny_model, scene):
    whole = xharm.to_landsat(s2_inputs(scene), model=tiny_model, uncertainty=True, samples=3).compute()
    again = xharm.to_landsat(s2_inputs(scene), model=tiny_model, uncertainty=True, samples=3).compute()
    np.testing.assert_array_equal(again["uncertainty"].values, whole["uncertainty"].values)
    part = xharm.to_landsat(
        s2_inputs(scene, chunks=16), model=tiny_model, chunks={"y": 16, "x": 16}, uncertainty=True, samples=3
    ).compute()
    xr.testing.assert_allclose(part["uncertainty"], whole["uncertainty"], atol=1e-6)


def test_masked_like_the_output(s2_inputs, tiny_model, scene):
    out = xharm.to_landsat(
        s2_inputs(scene), model=tiny_model, valid=scene.s2_valid, uncertainty=True, samples=2
    ).compute()
    assert bool((~out.valid).any())
    np.testing.assert_array_equal(np.isnan(out["uncertainty"].values), np.isnan(out.values))


def test_mc_samples_do_not_depend_on_batching(tiny_model):
    from xharm.zoo import ZooHandle
    from xharm.zoo.mc import MCDropoutHandle

    h = ZooHandle.of(tiny_model)
    fn = MCDropoutHandle(h.name_or_path, h.checksum, seed=7).load()
    rng = np.random.default_rng(0)
    batch = {
        "s2_10m": rng.normal(size=(5, 96, 96, 4)).astype(np.float32),
        "s2_20m": rng.normal(size=(5, 48, 48, 2)).astype(np.float32),
    }
    whole = fn(batch)
    order = [3, 0, 4]
    part = fn({k: v[order] for k, v in batch.items()})
    np.testing.assert_allclose(part, whole[order], atol=1e-6)
    other_seed = MCDropoutHandle(h.name_or_path, h.checksum, seed=8).load()(batch)
    assert np.abs(other_seed - whole).max() > 1e-4


def test_bad_arguments(s2_inputs, tiny_model, scene):
    with pytest.raises(DimensionError, match="at least 2 samples"):
        xharm.to_landsat(s2_inputs(scene), model=tiny_model, uncertainty=True, samples=1)
    with pytest.raises(SensorError, match="uncertainty needs a model with dropout"):
        xharm.to_landsat(s2_inputs(scene), method="hls", uncertainty=True)
