"""xharm.sharpen: lazy, seamless, chunking-independent, consistent, and clear about bad input."""

from __future__ import annotations

import dask.array as da
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
from odc.geo.geobox import GeoBox

import xharm  # noqa: F401  (accessor)
from xharm.core.cube import make_cube
from xharm.exceptions import GridError, MissingBandError, ProductError, XharmError
from xharm.models.dsen2 import DSen2, DSen2Config
from xharm.sharpening import sharpen
from xharm.sharpening.classic import hpf
from xharm.sharpening.data import BANDS, scene_to_cubes
from xharm.sharpening.mtf import degrade
from xharm.zoo import resolve
from xharm.zoo.dsen2 import init_params, load_dsen2, save_dsen2

B10, B20, B60 = BANDS[10], BANDS[20], BANDS[60]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    """A tiny DSen2 with random weights (mechanics only): patch 48, buffer 12 px > receptive field."""
    cfg = DSen2Config.preset("tiny")
    path = tmp_path_factory.mktemp("zoo") / "tiny-dsen2"
    save_dsen2(path, init_params(cfg, seed=3), cfg, patch=48, buffer=0.25, meta={"training_data": "none"})
    return str(path)


@pytest.fixture(scope="module")
def tiny60(tmp_path_factory) -> str:
    cfg = DSen2Config.preset("tiny", scale=6)
    path = tmp_path_factory.mktemp("zoo") / "tiny-dsen2-60"
    save_dsen2(path, init_params(cfg, 48, seed=4), cfg, patch=48, buffer=0.25)
    return str(path)


def scene(h: int = 60, w: int = 72, seed: int = 0) -> dict[int, np.ndarray]:
    rng = np.random.default_rng(seed)
    base = rng.random((h, w))
    s = {10: np.stack([base * (0.1 + 0.05 * i) + 0.02 * rng.random((h, w)) for i in range(4)])}
    s[20] = degrade(np.stack([base * (0.15 + 0.05 * i) for i in range(6)]), 2).astype(np.float32)
    s[60] = degrade(np.stack([base * 0.12, base * 0.05]), 6).astype(np.float32)
    return s


def test_chunked_equals_unchunked_and_dask_is_lazy(tiny, compute_counter):
    s = scene()
    ref = sharpen(scene_to_cubes(s), model=tiny).values
    before = compute_counter.calls
    lazy = sharpen(scene_to_cubes(s, chunks=24), model=tiny, chunks={"y": 24, "x": 24})
    lazy_c = sharpen(scene_to_cubes(s, chunks=24), model=tiny, consistent=True, method="dsen2")
    lazy_h = sharpen(scene_to_cubes(s, chunks=24), method="hpf", consistent=True)
    assert compute_counter.calls == before
    assert isinstance(lazy.data, da.Array) and len(lazy.chunks[2]) > 1
    np.testing.assert_array_equal(lazy.values, ref)
    assert compute_counter.calls == before + 1
    assert lazy_c.shape == lazy_h.shape == ref.shape


def _whole_image(model: str, s: dict[int, np.ndarray], pad: int) -> np.ndarray:
    """The network run once on the whole image, zero-padded (normalized units) like the engine's fill."""
    spec, params, cfg = load_dsen2(model)
    xs = []
    for g in spec.inputs:
        src = hpf(s[20], s[10], 2) if g.name == "physics" else s[int(g.resolution)]  # anchored: its physics
        a = spec.norm_for(g.name).normalize(np.moveaxis(src, 0, -1))
        p = pad * 10 // int(g.resolution)
        xs.append(jnp.asarray(np.pad(a, ((p, p), (p, p), (0, 0))))[None])
    out = np.asarray(DSen2(cfg).apply({"params": params}, *xs))[0, pad:-pad, pad:-pad]
    return np.moveaxis(spec.norm_for("s2_sharp").denormalize(out), -1, 0)


@pytest.mark.parametrize("scale", [2, 6])
def test_an_untrained_hpf_anchored_network_is_hpf_and_chunking_free(tmp_path, scale):
    cfg = DSen2Config(scale=scale, blocks=1, features=8, anchor="hpf", bound=0.25)
    path = tmp_path / "anchored"
    save_dsen2(path, init_params(cfg, 48, seed=5), cfg, patch=48, buffer=0.25)
    s, bands = scene(), (B20 if scale == 2 else B60)
    hpf_out = sharpen(scene_to_cubes(s), bands=bands, method="hpf").values
    net = sharpen(scene_to_cubes(s), bands=bands, model={scale: str(path)})
    np.testing.assert_allclose(net.values, hpf_out, atol=1e-6)
    chunked = sharpen(scene_to_cubes(s, chunks=24), bands=bands, model={scale: str(path)}, chunks={"y": 24})
    np.testing.assert_array_equal(chunked.values, net.values)


@pytest.mark.parametrize("chunk", [24, 48])
def test_seamless_across_patch_borders(tiny, chunk):
    s = scene(60, 72, seed=1)
    out = sharpen(scene_to_cubes(s, chunks=chunk), model=tiny, chunks={"y": chunk, "x": chunk}).values[0]
    np.testing.assert_allclose(out, _whole_image(tiny, s, 12), atol=2e-6, rtol=0)


def test_the_bundled_anchored_starter_is_seamless():
    """Several 128 px patches (96 kept) and chunks that cut through them: equal to one whole-image run."""
    s = scene(240, 264, seed=3)
    out = sharpen(scene_to_cubes(s, chunks=100), chunks={"y": 100, "x": 100}).values[0]
    want = _whole_image(str(resolve("dsen2-starter")), s, 16)
    want = np.where((want < 0) & (hpf(s[20], s[10], 2) >= 0), 0.0, want)  # the fail-safe rule, as sharpen
    np.testing.assert_allclose(out, want, atol=2e-6, rtol=0)


def test_seams_would_show_without_buffer(tmp_path):
    """The test above can fail: with no buffer, patch edges differ from the whole-image run."""
    cfg = DSen2Config.preset("tiny")
    path = tmp_path / "m"
    save_dsen2(path, init_params(cfg, seed=3), cfg, patch=24, buffer=0.0)
    s = scene(48, 48, seed=1)
    out = sharpen(scene_to_cubes(s), model=str(path)).values[0]
    assert np.abs(out - _whole_image(str(path), s, 12)).max() > 1e-3


@pytest.mark.parametrize("method", ["dsen2", "bicubic", "hpf"])
def test_consistency_projection_is_exact(tiny, method):
    s = scene(60, 72, seed=2)
    obs = s[20]
    raw = sharpen(scene_to_cubes(s), model=tiny, method=method).values[0]
    proj = sharpen(scene_to_cubes(s, chunks=24), model=tiny, method=method, consistent=True)
    assert proj.attrs["radiometric_consistency"] == "projected"
    err_raw = np.abs(degrade(raw, 2) - obs).max()
    err = np.abs(degrade(proj.values[0], 2) - obs).max()
    assert err < 1e-6 < err_raw


def test_60m_network_and_mixed_bands(tiny, tiny60):
    s = scene(72, 72, seed=5)
    out = sharpen(scene_to_cubes(s), bands=["B09", "B05", "B01"], model={2: tiny, 6: tiny60}, consistent=True)
    assert out.band.values.tolist() == ["B09", "B05", "B01"] and out.shape == (1, 3, 72, 72)
    np.testing.assert_allclose(degrade(out.sel(band=["B01", "B09"]).values[0], 6), s[60], atol=1e-6)


def test_masks_and_grid_kept(tiny):
    s = scene(60, 72, seed=6)
    s[20] = s[20].copy()
    s[20][2, 10, 10] = np.nan
    cubes = scene_to_cubes(s, crs="EPSG:32618", origin=(435720.0, 4179460.0))
    out = sharpen(cubes, model=tiny)
    v = out.values[0]
    assert np.isnan(v[:, 20:22, 20:22]).all()  # every band under the NaN 20 m pixel
    assert np.isfinite(v[:, :18]).all()
    g = out.odc.geobox
    assert g.crs == cubes[10].odc.geobox.crs and g.resolution.x == 10 and g.shape == (60, 72)
    xr.testing.assert_equal(out.x, cubes[10].x)
    assert out.attrs["model_checksum"].startswith("sha256:") and out.attrs["sharpening_method"] == "dsen2"


def test_accessor_binds_the_function(tiny):
    c = scene_to_cubes(scene())
    out = c[10].harmonize.sharpen(c[20], method="bicubic")
    np.testing.assert_array_equal(out.values, sharpen(c, method="bicubic").values)
    assert "Sharpen" in c[10].harmonize.sharpen.__doc__


def test_output_grid_nests_when_extents_differ(tiny):
    """The real 18SVG layout: the 10 m image starts one 10 m pixel right of the 20 m grid."""
    s = scene(60, 72)
    c = scene_to_cubes(s)
    c10 = c[10].isel(x=slice(1, None))
    out = sharpen({10: c10, 20: c[20]}, method="bicubic")
    assert out.sizes["x"] == 70 and float(out.x[0]) == float(c[10].x[2])


# ----------------------------------------------------------------------------- bad inputs


def test_missing_guide_band(tiny):
    c = scene_to_cubes(scene())
    with pytest.raises(MissingBandError, match="B08"):
        sharpen({10: c[10].sel(band=["B02", "B03", "B04"]), 20: c[20]}, model=tiny)
    with pytest.raises(MissingBandError, match="10 m guide"):
        sharpen({20: c[20]}, model=tiny)


def test_coarse_grid_not_nested(tiny):
    c = scene_to_cubes(scene())
    shifted = c[20].assign_coords(x=c[20].x + 5.0)
    with pytest.raises(GridError, match="not nested in the 10 m grid"):
        sharpen({10: c[10], 20: shifted}, model=tiny)


def test_input_already_at_10m(tiny):
    c = scene_to_cubes(scene())
    g = GeoBox.from_bbox(c[10].odc.geobox.boundingbox, "EPSG:32633", resolution=10)
    at10 = make_cube(np.zeros((1, 6, 60, 72)), geobox=g, bands=B20, sensor="sentinel-2a", time=["2017-05-27"])
    with pytest.raises(GridError, match="already"):
        sharpen({10: c[10], 20: at10}, model=tiny)


def test_level_mismatch(tiny):
    c = scene_to_cubes(scene(), level="L2A")
    with pytest.raises(ProductError, match=r"trained on L1C \(top of atmosphere\) input, this input is L2A"):
        sharpen(c, model=tiny)
    with pytest.raises(ProductError):
        sharpen(scene_to_cubes(scene(), level=None), model=tiny, level="L2A")


def test_errors_are_xharm_errors_before_compute(tiny, compute_counter):
    c = scene_to_cubes(scene(), chunks=24)
    for kwargs in ({"method": "nearest"}, {"bands": ["B02"]}, {"bands": ["B01"]}):
        with pytest.raises(XharmError):
            sharpen({10: c[10], 20: c[20]}, model=tiny, **kwargs)
    assert compute_counter.calls == 0


def test_no_bundled_60m_model_is_a_clear_error():
    with pytest.raises(MissingBandError, match="no bundled DSen2 model sharpens the 60 m bands"):
        sharpen(scene_to_cubes(scene(72, 72)), bands=["B01"])


def test_top_level_function_survives_subpackage_import():
    import xharm.sharpening.mtf

    assert callable(xharm.sharpen) and xharm.sharpen is sharpen


def test_the_bundled_starter_stays_within_its_bound_of_hpf_on_unfamiliar_input():
    """Fail-safe: on a scene unlike its training data (bright snow with dark rock) the anchored
    starter's output is never further than its correction bound (0.05 reflectance) from hpf."""
    rng = np.random.default_rng(7)
    rock = rng.random((96, 96)) < 0.2
    s10 = np.where(rock, 0.08, 0.85)[None] * np.array([1.0, 0.98, 0.95, 0.9])[:, None, None]
    s20 = degrade(np.where(rock, 0.1, 0.6)[None] * np.linspace(1.0, 0.1, 6)[:, None, None], 2)
    cubes = scene_to_cubes({10: s10.astype(np.float32), 20: s20.astype(np.float32)})
    out = sharpen(cubes)  # the default model: dsen2-starter
    net, ref = out.values, sharpen(cubes, method="hpf").values
    dev = np.abs(net - ref)
    assert np.isfinite(net).all() and dev.max() <= 0.05 + 1e-5, dev.max()
    # ... and says so, per pixel: bit 1 where the correction sits at its bound in some band
    q = out.coords["quality"]
    assert q.dims == ("time", "y", "x") and q.dtype == np.uint8 and "bound" in out.attrs["quality"]
    at_bound = (dev >= 0.98 * 0.05).any(axis=1)
    np.testing.assert_array_equal(q.values & 1 == 1, at_bound | (net == 0).any(axis=1))
    assert 0 < at_bound.mean() < 1


def test_quality_bits_follow_the_bands_asked_for_and_plain_methods_have_none(tmp_path):
    cfg = DSen2Config(blocks=1, features=8, anchor="hpf", bound=0.25)
    params = init_params(cfg, 48, seed=5)
    import jax

    params = jax.tree_util.tree_map(lambda a: a + 0.3, params)  # a correction large enough to saturate
    save_dsen2(tmp_path / "m", params, cfg, patch=48, buffer=0.25, meta={"correction_bound": "0.05"})
    s = scene()
    both = sharpen(scene_to_cubes(s), model=str(tmp_path / "m"), bands=["B05", "B12"])
    one = sharpen(scene_to_cubes(s), model=str(tmp_path / "m"), bands=["B05"])
    q2, q1 = both.quality.values, one.quality.values
    assert (q1 <= q2).all() and q2.any()  # more bands, more chances to hit the bound
    assert "quality" not in sharpen(scene_to_cubes(s), method="hpf").coords
