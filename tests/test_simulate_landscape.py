"""Tests of xharm.simulate.landscape: archetypes, sub-pixel mixing, features, terrain."""

from __future__ import annotations

import numpy as np
import pytest

from xharm.exceptions import XharmError
from xharm.simulate import landscape as ls
from xharm.simulate.parcels import mixed_fraction


def test_deterministic_and_seed_dependent() -> None:
    a, b = ls.make_landscape((120, 150), seed=4), ls.make_landscape((120, 150), seed=4)
    c = ls.make_landscape((120, 150), seed=5)
    for name in ("labels", "texture", "mix_frac", "feat_frac", "field_id"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.labels, c.labels)


def test_every_class_in_a_2km_scene() -> None:
    land = ls.make_landscape((200, 200), seed=0)
    assert set(np.unique(land.labels).tolist()) == set(ls.CLASSES)
    assert land.labels.dtype == np.uint8 and land.field_id.dtype == np.int32
    assert land.archetype == "central_europe"


def test_pixels_mix_their_neighbours_at_sub_pixel_edges() -> None:
    land = ls.make_landscape((300, 300), seed=1)
    assert land.mix_frac is not None and land.mix_label is not None and land.feat_frac is not None
    m = land.mix_frac > 0
    assert 0.1 < m.mean() < 0.5 and land.mix_frac.max() <= 0.5
    # coverage is continuous (any sub-pixel position), not a few lattice values
    assert np.unique(np.round(land.mix_frac[m], 3)).size > 200
    assert np.all(land.mix_label[m] > 0) and np.all(land.mix_label[~m] == 0)
    # features: roads, woody lines / trees and farm roofs, each sub-pixel
    kinds = set(np.unique(land.feat_kind[land.feat_frac > 0]).tolist())
    assert kinds == {1, 2, 3}
    assert 0.01 < (land.feat_frac > 0).mean() < 0.2 and land.feat_frac.max() <= 1.0


def test_mixed_30m_pixels_same_on_aligned_and_shifted_grid() -> None:
    """Parcel edges sit anywhere: +-2 points between the S2-aligned grid and a (6, -4) m shift."""
    land = ls.make_landscape((300, 300), seed=2)
    assert land.parcels is not None
    a = mixed_fraction(land.parcels, (3000.0, 3000.0))
    s = mixed_fraction(land.parcels, (3000.0, 3000.0), offset_m=(6.0, -4.0))
    assert abs(a - s) <= 0.02, (a, s)


@pytest.mark.parametrize("name", sorted(ls.ARCHETYPES))
def test_archetypes_build(name: str) -> None:
    land = ls.make_landscape((120, 120), seed=3, archetype=name)
    assert land.archetype == name and land.labels.shape == (120, 120)
    assert np.isfinite(land.texture).all() and land.texture.min() > 0
    assert (land.normal is not None) == (ls.ARCHETYPES[name].relief_m > 0)


def test_archetypes_differ_as_documented() -> None:
    def field_area(name: str) -> float:
        land = ls.make_landscape((240, 240), seed=6, archetype=name)
        return float(np.median(np.bincount(land.field_id.ravel())[np.unique(land.field_id)]))

    assert field_area("plains") > 4 * field_area("central_europe") > 4 * field_area("smallholder")
    hills = ls.make_landscape((240, 240), seed=6, archetype="forest_hills")
    forest = np.isin(hills.labels, [ls.CLASS_CODES["deciduous"], ls.CLASS_CODES["conifer"]]).mean()
    assert forest > 0.4 and hills.normal is not None
    ne, nn, nu = hills.normal
    np.testing.assert_allclose(ne**2 + nn**2 + nu**2, 1.0, atol=1e-5)
    assert nu.min() < 0.99  # real slopes
    town = ls.make_landscape((240, 240), seed=6, archetype="peri_urban")
    assert (town.labels == ls.CLASS_CODES["urban"]).mean() > 0.2


def test_archetype_choice() -> None:
    assert ls.archetype_for("auto", 5) == ls.archetype_for("auto", 5)
    assert {ls.archetype_for("auto", s).name for s in range(40)} == set(ls.ARCHETYPES)
    with pytest.raises(ls.ArchetypeError) as e:
        ls.archetype_for("tundra", 0)
    assert isinstance(e.value, XharmError) and isinstance(e.value, ValueError)


def test_texture_has_fine_scale_variation() -> None:
    land = ls.make_landscape((240, 240), seed=2)
    assert abs(float(np.median(land.texture)) - 1.0) < 0.1
    t = np.log(land.texture)
    # neighbouring 10 m pixels differ: variance at 10-30 m, not only smooth trends
    assert np.abs(np.diff(t, axis=1)).mean() > 0.05
    urban = land.labels == ls.CLASS_CODES["urban"]
    assert np.all(land.urban_green[~urban] == 0) and land.urban_green[urban].max() <= 0.9
    assert land.urban_material.max() < len(ls.URBAN_STREETS) + len(ls.URBAN_BLOCKS)


def test_fractal_noise_statistics() -> None:
    n = ls.fractal_noise((128, 96), np.random.default_rng(0), beta=3.0)
    assert n.shape == (128, 96) and abs(float(n.mean())) < 1e-5 and abs(float(n.std()) - 1) < 1e-4
    smooth = ls.fractal_noise((128, 128), np.random.default_rng(0), beta=4.0)
    rough = ls.fractal_noise((128, 128), np.random.default_rng(0), beta=1.0)
    # steeper spectrum -> neighbours more alike
    assert np.abs(np.diff(smooth)).mean() < np.abs(np.diff(rough)).mean()
    up = ls.fractal_noise((64, 64), np.random.default_rng(1), coarsen=4)
    assert up.shape == (64, 64)


@pytest.mark.parametrize("name", ["central_europe", "forest_hills", "peri_urban"])
def test_labels_at_is_the_class_map_that_labels_samples(name: str) -> None:
    """At the 10 m pixel centres the continuous map gives ``labels`` exactly; between them it
    gives parcels (fields by key, forest / water as one parcel per class)."""
    land = ls.make_landscape((90, 90), seed=5, archetype=name)
    yy, xx = (np.mgrid[0:90, 0:90] + 0.5) * 10.0
    code, parcel = land.labels_at(xx, yy)
    np.testing.assert_array_equal(code, land.labels)
    natural = np.isin(code, [ls.CLASS_CODES[c] for c in ("deciduous", "conifer", "water")])
    np.testing.assert_array_equal(parcel[natural], -code[natural].astype("int64"))
    assert (parcel[~natural] >= 0).all()
    # off-centre points: the same parcel as the centre one pixel away from any parcel edge
    assert land.mix_frac is not None
    calm = (land.mix_frac == 0) & ~natural
    _, p2 = land.labels_at(xx + 2.5, yy - 2.5)
    assert (p2[calm] == parcel[calm]).mean() > 0.97


def test_labels_at_needs_the_continuous_map() -> None:
    import dataclasses

    land = dataclasses.replace(ls.make_landscape((30, 30), seed=0), field_keys=None)
    with pytest.raises(ls.ArchetypeError, match="no continuous class map"):
        land.labels_at(np.zeros(1), np.zeros(1))
