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
