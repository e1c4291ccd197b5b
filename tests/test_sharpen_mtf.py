"""MTF degradation and the exact consistency projection (expected values computed independently)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from xharm.exceptions import GridError
from xharm.sharpening.mtf import (
    DEFAULT_MTF,
    blur_kernel,
    degrade,
    gaussian_sigma,
    halo,
    project_consistent,
    upsample_cubic,
)


@pytest.mark.parametrize("scale", [2, 6])
def test_cosine_is_attenuated_by_the_gaussian_and_box_transfer(scale):
    """A cosine that is symmetric at the borders passes the mirrored blur exactly (kernel's DTFT)."""
    w = 12 * scale
    k = 3
    f = k / (2 * w)  # cycles per fine px; cos(2 pi f (x + 1/2)) is even about x = -1/2
    x = np.arange(w)
    img = np.tile(np.cos(2 * np.pi * f * (x + 0.5)), (scale * 2, 1))
    k = blur_kernel(scale)
    n = np.arange(len(k)) - len(k) // 2
    gain = float(np.sum(k * np.cos(2 * np.pi * f * n)))
    # the block mean of a cosine: sum over the block / scale, centred on the block centre
    box = math.sin(math.pi * f * scale) / (scale * math.sin(math.pi * f))
    centres = np.arange(w // scale) * scale + (scale - 1) / 2
    expected = gain * box * np.cos(2 * np.pi * f * (centres + 0.5))
    np.testing.assert_allclose(degrade(img, scale)[0], expected, atol=1e-12)


def test_sigma_matches_the_mtf_at_nyquist():
    s = gaussian_sigma(2, 0.3) / 2  # coarse px
    assert math.exp(-2 * math.pi**2 * s**2 * 0.25) * 2 / math.pi == pytest.approx(0.3)
    assert DEFAULT_MTF == 0.3


@pytest.mark.parametrize("scale", [2, 6])
def test_the_sampled_kernel_keeps_the_mtf(scale):
    """The sampled kernel's transfer at the coarse Nyquist frequency, times the box's 2/pi, is the MTF."""
    k = blur_kernel(scale)
    n = np.arange(len(k)) - len(k) // 2
    f = 1 / (2 * scale)
    assert float(np.sum(k * np.cos(2 * np.pi * f * n))) * 2 / math.pi == pytest.approx(DEFAULT_MTF, rel=1e-9)
    assert k.argmax() == len(k) // 2 and np.all(np.diff(k[: len(k) // 2 + 1]) > 0)  # a bell


@pytest.mark.parametrize("scale", [2, 6])
def test_a_block_with_its_halo_degrades_as_the_whole_image(scale):
    rng = np.random.default_rng(4)
    x = rng.random((2, 30 * scale, 24 * scale))
    whole = degrade(x, scale)
    h = halo(scale)
    y0, y1, x0, x1 = 10, 20, 8, 20  # an interior block, coarse px
    block = degrade(x[:, (y0 - h) * scale : (y1 + h) * scale, (x0 - h) * scale : (x1 + h) * scale], scale)
    np.testing.assert_array_equal(block[:, h:-h, h:-h], whole[:, y0:y1, x0:x1])
    corner = degrade(x[:, : (y1 + h) * scale, : (x1 + h) * scale], scale)  # image borders: no halo
    np.testing.assert_array_equal(corner[:, :y1, :x1], whole[:, :y1, :x1])


@pytest.mark.parametrize("scale", [2, 6])
def test_projection_exact_idempotent_and_minimal(scale):
    rng = np.random.default_rng(1)
    x = rng.random((2, 6 * scale, 4 * scale))
    y = rng.random((2, 6, 4))
    p = project_consistent(x, y, scale)
    np.testing.assert_allclose(degrade(p, scale), y, atol=1e-12)
    np.testing.assert_allclose(project_consistent(p, y, scale), p, atol=1e-12)
    # minimal change: p - x is orthogonal to the null space of D (a null vector: z - P0(z))
    z = rng.random(x.shape)
    n0 = project_consistent(z, np.zeros_like(y), scale)  # D n0 = 0
    np.testing.assert_allclose(degrade(n0, scale), 0, atol=1e-12)
    assert abs(np.sum((p - x) * n0)) < 1e-9 * np.sum(np.abs(n0))


def test_projection_with_nan():
    rng = np.random.default_rng(2)
    x, y = rng.random((8, 8)), rng.random((4, 4))
    x[1, 1] = np.nan
    y[3, 3] = np.nan
    p = project_consistent(x, y, 2)
    assert np.isnan(p[1, 1]) and np.isfinite(np.delete(p.ravel(), 9)).all()
    d = degrade(np.where(np.isnan(p), 0.0, p), 2)
    ok = np.ones((4, 4), bool)
    ok[3, 3] = False
    ok[0, 0] = False  # touches the NaN fine pixel, filled during the solve
    assert np.abs(d - y)[ok].max() < 0.05


def test_shapes_checked():
    with pytest.raises(GridError):
        degrade(np.zeros((5, 6)), 2)
    with pytest.raises(GridError):
        project_consistent(np.zeros((8, 8)), np.zeros((3, 4)), 2)


def test_cubic_upsampling_keeps_constants_and_ramps():
    np.testing.assert_allclose(upsample_cubic(np.full((3, 4), 0.2), 2), 0.2)
    assert upsample_cubic(np.zeros((1, 3, 4)), 6).shape == (1, 18, 24)
