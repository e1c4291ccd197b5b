"""Tests of xharm.simulate.parcels: continuous parcel geometry and its pixel coverage."""

from __future__ import annotations

import numpy as np
import pytest

from xharm.simulate import parcels as pc


@pytest.fixture(scope="module")
def parcels() -> pc.Parcels:
    return pc.make_parcels(3000.0, 3000.0, 900.0, (60.0, 220.0), (150.0, 600.0), seed=4)


def test_hash_is_uniform_and_deterministic() -> None:
    a = pc.hash01(np.arange(20000), 3)
    assert abs(a.mean() - 0.5) < 0.01 and abs(a.std() - np.sqrt(1 / 12)) < 0.01
    np.testing.assert_array_equal(a, pc.hash01(np.arange(20000), 3))
    assert not np.array_equal(a, pc.hash01(np.arange(20000), 4))


def test_line_cover_is_the_exact_overlap() -> None:
    h = np.full(4, 10.0)
    np.testing.assert_allclose(pc.line_cover(np.array([0.0, 2.5, 7.5, 8.0]), 5.0, h), [0.5, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(pc.line_cover(np.array([5.0]), 20.0, np.array([10.0])), [1.0])


def test_keys_are_a_function_of_position(parcels: pc.Parcels) -> None:
    """The same point gives the same field whatever grid it is sampled on."""
    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 3000, 5000), rng.uniform(0, 3000, 5000)
    k = parcels.key_at(x, y)
    perm = rng.permutation(5000)
    np.testing.assert_array_equal(parcels.key_at(x[perm], y[perm]), k[perm])
    assert np.unique(k).size > 50  # many fields
    b1, _, d, nx, ny = parcels.blocks_at(x, y)
    assert np.all(d >= 0) and np.allclose(np.hypot(nx, ny), 1.0)
    # a point stepped across its nearest block edge lands in the other block
    b_after = parcels.blocks_at(x + nx * (d + 0.5), y + ny * (d + 0.5))[0]
    assert np.mean(b_after != b1) > 0.99


def test_orientation_is_arbitrary(parcels: pc.Parcels) -> None:
    th = np.mod(parcels.theta.ravel(), np.pi / 2)  # angle modulo the pixel lattice symmetry
    assert np.histogram(th, bins=4, range=(0, np.pi / 2))[0].min() > 0
    plains = pc.make_parcels(3000.0, 3000.0, 2400.0, (250, 800), (400, 1600), seed=4, theta_spread_deg=8)
    assert np.ptp(plains.theta) <= np.radians(8)


def test_edge_distance_and_neighbour_field(parcels: pc.Parcels) -> None:
    rng = np.random.default_rng(1)
    x, y = rng.uniform(100, 2900, 4000), rng.uniform(100, 2900, 4000)
    e = parcels.edges_at(x, y)
    near = e["d"] < 5.0
    assert near.any() and np.all(e["key2"][near] != e["key"][near])
    # the point mirrored through the edge has the neighbour's key
    step = 2 * e["d"][near] + 0.1
    across = parcels.key_at(x[near] + e["nx"][near] * step, y[near] + e["ny"][near] * step)
    assert np.mean(across == e["key2"][near]) > 0.97


def test_mixed_cells_do_not_depend_on_grid_alignment(parcels: pc.Parcels) -> None:
    """30 m cells holding two fields: the same share on the S2-aligned and a (6, -4) m shifted grid."""
    aligned = pc.mixed_fraction(parcels, (3000.0, 3000.0))
    shifted = pc.mixed_fraction(parcels, (3000.0, 3000.0), offset_m=(6.0, -4.0))
    assert 0.1 < aligned < 0.9
    assert abs(aligned - shifted) <= 0.02, (aligned, shifted)


def test_pixel_lattice_parcels_fail_the_alignment_check() -> None:
    """Control: fields snapped to the 10 m lattice (simulator v1) are mixed more on the shifted grid."""
    p = pc.make_parcels(3000.0, 3000.0, 900.0, (60.0, 220.0), (150.0, 600.0), seed=4,
                        theta_spread_deg=0.0, jitter=0.0)  # fmt: skip
    snapped = pc.Parcels(p.block_m, p.seeds, np.zeros_like(p.theta), np.round(p.width / 30) * 30,
                         np.round(p.length / 30) * 30, p.salt)  # fmt: skip
    snapped = pc.Parcels(snapped.block_m, np.round(snapped.seeds / 30) * 30 + 15, snapped.theta,
                         snapped.width, snapped.length, 0)  # fmt: skip
    # strips start at the seed (cell centre + 15 m): edges on the aligned 30 m lattice
    aligned = pc.mixed_fraction(snapped, (3000.0, 3000.0), offset_m=(15.0, -15.0))
    shifted = pc.mixed_fraction(snapped, (3000.0, 3000.0), offset_m=(21.0, -19.0))
    assert shifted - aligned > 0.02
