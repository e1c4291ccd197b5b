"""ModelSpec / NormStats value objects: validation, exact JSON round trip, hashing, tokens."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from dask.base import tokenize
from hypothesis import given, settings
from hypothesis import strategies as st

from xharm.exceptions import DimensionError, GridError, MissingBandError
from xharm.spec import MGAN_SPEC, InputGroup, ModelSpec, NormStats, OutputGroup, mgan_spec

L8 = ("B2", "B3", "B4", "B5", "B6", "B7")


def _stats(bands, seed=0):
    rng = np.random.default_rng(seed)
    lo = rng.uniform(-0.1, 0.1, len(bands))
    return NormStats(
        bands, tuple(lo), tuple(lo + 0.5), tuple(lo + 0.2), tuple(rng.uniform(0.1, 1, len(bands)))
    )


def test_mgan_spec_matches_paper():
    s = MGAN_SPEC
    assert [(g.name, g.bands, g.resolution, g.patch) for g in s.inputs] == [
        ("s2_10m", ("B02", "B03", "B04", "B08"), 10.0, 384),
        ("s2_20m", ("B11", "B12"), 20.0, 192),
    ]
    assert (s.output.name, s.output.bands, s.output.resolution, s.output.patch) == ("l8", L8, 30.0, 128)
    assert s.buffer == 0.25 and s.buffer_px == 32 and s.sensor_out == "landsat-8"
    assert mgan_spec(32).inputs[1].patch == 48
    with pytest.raises(GridError, match="multiple of 8"):
        mgan_spec(20)


def test_json_round_trip_hash_and_token():
    s = mgan_spec(64).with_norm({"l8": _stats(L8), "s2_20m": _stats(("B12", "B11"), 1)})
    s = ModelSpec(
        **{**{k: getattr(s, k) for k in s.__dataclass_fields__}, "checksum": "sha256:ab", "meta": {"a": "1"}}
    )
    back = ModelSpec.from_json(s.to_json())
    assert back == s and hash(back) == hash(s) and back.to_json() == s.to_json()
    assert tokenize(back) == tokenize(s) != tokenize(mgan_spec(64))
    assert {s: 1}[back] == 1
    assert s.norm_for("s2_20m").bands == ("B11", "B12")  # reordered to the group's bands
    code = "from xharm.spec import mgan_spec; from dask.base import tokenize; print(tokenize(mgan_spec(64)))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert other == tokenize(mgan_spec(64))  # deterministic across processes


def test_validation():
    g10 = InputGroup("a", ("B02",), 10, 48)
    with pytest.raises(GridError, match="footprint"):
        ModelSpec("m", "0", (g10,), OutputGroup("o", ("B2",), 30, 15))
    with pytest.raises(DimensionError, match="unique"):
        ModelSpec("m", "0", (g10,), OutputGroup("a", ("B2",), 30, 16))
    with pytest.raises(DimensionError, match="buffer"):
        ModelSpec("m", "0", (g10,), OutputGroup("o", ("B2",), 30, 16), buffer=0.5)
    with pytest.raises(MissingBandError, match="B03"):
        ModelSpec("m", "0", (g10,), OutputGroup("o", ("B2",), 30, 16), norm={"a": _stats(("B03",))})
    with pytest.raises(MissingBandError, match="twice"):
        InputGroup("a", ("B02", "B02"), 10, 48)
    with pytest.raises(DimensionError, match="length"):
        NormStats(("B02",), (0.0, 1.0), (1.0,), (0.0,), (1.0,))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1, 2, width=32), min_size=3, max_size=3),
    st.floats(-0.2, 0.2),
    st.floats(0.05, 2),
)
def test_normalize_inverse_exact_on_clipped_values(values, mean, scale):
    s = NormStats(("a", "b", "c"), (-0.1,) * 3, (1.0,) * 3, (mean,) * 3, (scale,) * 3)
    x = np.array(values, dtype=np.float64)[None]
    back = s.denormalize(s.normalize(x))
    np.testing.assert_allclose(back, np.clip(x, -0.1, 1.0), rtol=0, atol=1e-12)
    x32 = x.astype(np.float32)
    assert s.normalize(x32).dtype == np.float32
    np.testing.assert_allclose(s.denormalize(s.normalize(x32)), np.clip(x32, -0.1, 1.0), atol=1e-6)


def test_normalize_axis_and_nan():
    s = _stats(("x", "y"))
    x = np.full((3, 2, 4), 0.3)
    x[0, 1, 0] = np.nan
    n = s.normalize(x, axis=1)
    assert np.isnan(n[0, 1, 0]) and np.isfinite(n).sum() == n.size - 1
    np.testing.assert_allclose(n[1, :, 0], (0.3 - np.array(s.mean)) / np.array(s.scale))
    with pytest.raises(DimensionError, match="bands"):
        s.normalize(x, axis=0)
