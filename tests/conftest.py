"""Shared fixtures: where the real samples live, and a compute-counting scheduler."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """``../shared/data/real`` beside the clone; skips the test when it is absent."""
    path = SHARED / "data" / "real"
    if not path.is_dir():
        pytest.skip(f"real samples not found at {path}")
    return path


class ComputeCounter:
    """A Dask scheduler that counts how often it is asked to compute."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, dsk, keys, **kwargs):  # type: ignore[no-untyped-def]
        self.calls += 1
        return dask.get(dsk, keys, **kwargs)


@pytest.fixture
def compute_counter() -> Iterator[ComputeCounter]:
    """Route every Dask compute through a counter: ``counter.calls`` after the code under test."""
    counter = ComputeCounter()
    with dask.config.set(scheduler=counter):
        yield counter


# A persistent XLA compile cache roughly halves the time of the JAX tests.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(Path(__file__).resolve().parents[1] / ".jax_cache"))


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> str:
    """A tiny MGAN with random weights saved as a zoo model folder (mechanics only, never quality)."""
    from xharm import zoo
    from xharm.models.mgan import MGANConfig, init_generator

    cfg = MGANConfig.tiny()
    params = init_generator(cfg)
    path = tmp_path_factory.mktemp("zoo") / "tiny-mgan"
    zoo.save_model(path, params, cfg, meta={"training_data": "none (random weights, tests only)"})
    return str(path)


@pytest.fixture(scope="module")
def anchored_model(tmp_path_factory) -> str:
    """A tiny physics-anchored MGAN (random weights, the U-Net's last layer scaled up so that the
    bounded correction saturates), with norm stats and a training range: mechanics only."""
    import dataclasses

    import jax

    from xharm import zoo
    from xharm.models.mgan import MGANConfig, init_generator
    from xharm.spec import NormStats

    bands = {"s2_10m": ("B02", "B03", "B04", "B08"), "s2_20m": ("B8A", "B11", "B12")}
    l8 = ("B2", "B3", "B4", "B5", "B6", "B7")
    out = NormStats(l8, (0.0,) * 6, (0.45,) * 6, (0.15,) * 6, (0.4,) * 6, clip=False)
    norm = {g: NormStats(b, (0.0,) * len(b), (0.45,) * len(b), (0.15,) * len(b), (0.4,) * len(b))
            for g, b in bands.items()}  # fmt: skip
    norm.update(l8=out, physics=out)
    cfg = dataclasses.replace(
        MGANConfig.tiny(), anchor=True, output_activation="linear", bands_20m=3,
        s2_20m_bands=bands["s2_20m"], out_scale=(0.4,) * 6,
    )  # fmt: skip
    params = init_generator(cfg, seed=1)
    params["out"] = jax.tree_util.tree_map(lambda a: a + 0.5, params["out"])  # zero-init -> large
    path = tmp_path_factory.mktemp("zoo") / "tiny-anchored"
    meta = {"training_data": "none (random weights, tests only)", "processing_level": "L2A"}
    zoo.save_model(path, params, cfg, norm=norm, meta=meta)
    return str(path)


@pytest.fixture(scope="module")
def sun_range_model(anchored_model, tmp_path_factory) -> str:
    """``anchored_model`` with a training sun-zenith range of 40-55 deg in its spec: of the
    default simulated dates (1 April, 15 October at 48.7 N) April is inside, October not."""
    from xharm.zoo.io import load_model, save_model

    spec, params, config = load_model(anchored_model)
    path = tmp_path_factory.mktemp("zoo") / "sun-range"
    save_model(
        path, params, config, norm=spec.norms(), meta={**dict(spec.meta), "sun_zenith_range": "[40, 55]"}
    )
    return str(path)


@pytest.fixture(scope="module")
def scene():
    """A 1.2 km, 2-date simulated pair series (in memory)."""
    from xharm import simulate

    return simulate.pair_series(n_dates=2, size_km=1.2, seed=4, lazy=False)


def _s2_inputs(ps, chunks=None):
    c10, c20 = ps.s2_10m, ps.s2_20m
    if chunks:
        c10, c20 = c10.chunk({"time": 1, "y": 3 * chunks, "x": 3 * chunks}), c20.chunk({"time": 1})
    return {10: c10, 20: c20}


@pytest.fixture
def s2_inputs():
    """``s2_inputs(series, chunks=None)`` -> ``{10: s2_10m, 20: s2_20m}``, Dask-chunked when
    ``chunks`` (30 m px) is given."""
    return _s2_inputs
