"""``xharm sharpen IN OUT``: the Zarr job equals the in-memory call, refuses to clobber, resumes."""

from __future__ import annotations

import numpy as np
import pytest

from xharm.cli import main
from xharm.io.zarr import open_cube, write_cube
from xharm.jobs import sharpen as sharpen_zarr
from xharm.models.dsen2 import DSen2Config
from xharm.sharpening import sharpen
from xharm.sharpening.api import uses_fit
from xharm.sharpening.data import scene_to_cubes
from xharm.sharpening.mtf import degrade
from xharm.zoo.dsen2 import init_params, save_dsen2


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    rng = np.random.default_rng(0)
    base = rng.random((48, 60))
    scene = {10: np.stack([base * (i + 1) / 10 for i in range(4)]), 20: rng.random((6, 24, 30))}
    cubes = scene_to_cubes(scene)
    path = str(tmp_path_factory.mktemp("job") / "s2.zarr")
    write_cube(cubes[10], path, group="s2_10m")
    write_cube(cubes[20], path, group="s2_20m", mode="a")
    model = tmp_path_factory.mktemp("zoo") / "m"
    cfg = DSen2Config.preset("tiny")
    save_dsen2(model, init_params(cfg, seed=2), cfg, patch=24, buffer=0.25)
    return path, cubes, str(model)


def _anchored(path, scale: float, meta=None) -> str:
    """A saved HPF-anchored net whose last layer is not zero (a correction of about ``scale``)."""
    cfg = DSen2Config(blocks=1, features=8, anchor="hpf", bound=0.25)
    params = init_params(cfg, 24, seed=1)
    last = max(k for k in params if k.startswith("Conv_"))
    kernel = np.random.default_rng(3).normal(size=params[last]["kernel"].shape) * scale
    params = {**params, last: {**params[last], "kernel": kernel}}
    save_dsen2(path, params, cfg, patch=24, buffer=0.25, meta=meta)
    return str(path)


def _job_and_reference(src, dst, cubes, method, model, consistent):
    """``xharm sharpen`` at 24 px chunks (its region calls recorded) and the in-memory result."""
    seen: list[tuple[int, int]] = []
    out = sharpen_zarr(
        src, dst, method=method, model=model, consistent=consistent, chunk=24,
        on_region=lambda i, n: seen.append((i, n)),
    )  # fmt: skip
    want = sharpen(cubes, method=method, model=model, consistent=consistent).values
    return out, want, seen


def test_cli_equals_in_memory_and_refuses_to_overwrite(store, tmp_path, capsys):
    src, cubes, model = store
    dst = str(tmp_path / "out.zarr")
    assert main(["sharpen", src, dst, "--model", model, "--chunk", "24", "--consistent"]) == 0
    want = sharpen(cubes, model=model, consistent=True).values
    np.testing.assert_allclose(open_cube(dst).values, want, atol=1e-6)
    err = capsys.readouterr().err  # a progress bar over the regions, as xharm harmonize shows
    assert "xharm sharpen (dsen2)" in err and "region" in err
    assert main(["sharpen", src, dst, "--model", model]) == 2
    assert "already exists" in capsys.readouterr().err
    args = ["sharpen", src, dst, "--model", model, "--chunk", "24", "--consistent", "--resume", "--quiet"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "nothing to do: all" in out and f"wrote {dst}" in out and "xharm sharpen (dsen2)" not in err


def test_bad_input_is_exit_2(store, tmp_path, capsys):
    src, _, model = store
    assert main(["sharpen", src, str(tmp_path / "o.zarr"), "--model", model, "--bands", "B02"]) == 2
    assert "cannot sharpen" in capsys.readouterr().err


def test_job_function_method_bicubic(store, tmp_path):
    src, cubes, _ = store
    out = sharpen_zarr(src, tmp_path / "b.zarr", method="bicubic", chunk=24)
    np.testing.assert_allclose(out.values, sharpen(cubes, method="bicubic").values, atol=1e-6)


@pytest.mark.parametrize(
    ("method", "consistent", "regions"),
    [("dsen2", False, 1 * 2), ("dsen2", True, 1 * 2), ("hpf", False, 1 * 2), ("bicubic", False, 1 * 2)],
)
def test_regions_are_two_by_two_chunks(store, tmp_path, method, consistent, regions):
    """Regions of 2 x 2 chunks for every method (the classical fit is computed first; the
    projection is local), never whole dates (memory would grow with the scene)."""
    src, cubes, model = store
    out, want, seen = _job_and_reference(src, tmp_path / "o.zarr", cubes, method, model, consistent)
    assert seen[-1] == (regions, regions)
    assert out.chunks[2][0] == out.chunks[3][0] == 24  # output chunks as asked either way
    np.testing.assert_allclose(out.values, want, atol=1e-6)


def test_an_hpf_anchored_model_needs_the_fit(tmp_path):
    cfg = DSen2Config(blocks=1, features=8, anchor="hpf", bound=0.25)
    save_dsen2(tmp_path / "a", init_params(cfg, 24), cfg, patch=24, buffer=0.25)
    plain = DSen2Config.preset("tiny")
    save_dsen2(tmp_path / "p", init_params(plain, 24), plain, patch=24, buffer=0.25)
    assert uses_fit("dsen2", str(tmp_path / "a")) and not uses_fit("dsen2", str(tmp_path / "p"))
    assert uses_fit("dsen2", {2: str(tmp_path / "p"), 6: str(tmp_path / "a")}, bands=["B01"])


def test_an_anchored_model_writes_its_quality_bits_beside_the_cube(store, tmp_path):
    src, cubes, _ = store
    model = _anchored(tmp_path / "a", 0.03, meta={"correction_bound": "0.05"})  # saturates in places
    out = sharpen_zarr(src, tmp_path / "o.zarr", model=model, chunk=24)
    want = sharpen(cubes, model=model)
    np.testing.assert_allclose(out.values, want.values, atol=1e-6)
    quality = open_cube(str(tmp_path / "o.zarr"), var="quality")
    assert quality.dims == ("time", "y", "x") and quality.dtype == np.uint8
    np.testing.assert_array_equal(quality.values, want["quality"].values)
    assert 0 < (quality.values > 0).mean() < 1 and "bound" in quality.attrs["description"]


@pytest.mark.parametrize("method", ["hpf", "bicubic", "anchored", "plain", "anchored+consistent"])
def test_regions_cut_with_a_margin_equal_the_whole_scene(tmp_path, method):
    """Each region reads and computes its window only (its patches' reach and hpf's halo, on the
    patch lattice) with the scene's fit, and still equals the whole scene computed at once."""
    rng = np.random.default_rng(5)
    base = np.cumsum(np.cumsum(rng.normal(size=(216, 240)), 0), 1)
    base = (base - base.min()) / np.ptp(base) * 0.3 + 0.05
    g = np.stack([base * (0.8 + 0.1 * i) + 0.01 * rng.random(base.shape) for i in range(4)])
    scene = {10: g.astype(np.float32), 20: degrade(np.stack([base * (0.9 + 0.05 * i) for i in range(6)]), 2)}
    cubes = scene_to_cubes({10: scene[10], 20: scene[20].astype(np.float32)})
    src = str(tmp_path / "s2.zarr")
    write_cube(cubes[10], src, group="s2_10m")
    write_cube(cubes[20], src, group="s2_20m", mode="a")
    consistent = method.endswith("+consistent")
    method = method.removesuffix("+consistent")
    model = None
    if method == "anchored":  # a correction that is not zero
        model = _anchored(tmp_path / "m", 0.01)
    elif method == "plain":
        cfg = DSen2Config.preset("tiny")
        save_dsen2(tmp_path / "m", init_params(cfg, 24, seed=1), cfg, patch=24, buffer=0.25)
        model = str(tmp_path / "m")
    kind = "dsen2" if model else method
    out, want, seen = _job_and_reference(src, tmp_path / "o.zarr", cubes, kind, model, consistent)
    assert seen[-1][1] == 5 * 5  # 216 x 240 px in regions of 2 x 2 chunks of 24 px
    np.testing.assert_allclose(out.values, want, atol=2e-6)
