"""``xharm.jobs``: integrity and hostile input of the Zarr batch job (issue 19).

Byte-level checks read the stores' files; the jobs run the fast baselines on a tiny
simulated store.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import zarr

from xharm import jobs, simulate
from xharm.evaluate import score_stores
from xharm.exceptions import (
    ArgumentError,
    CorruptProductError,
    DimensionError,
    GridError,
    ProductNotFoundError,
    SchedulerError,
    StorageError,
)
from xharm.io.zarr import RegionWriter, SourceCache, finished_regions, open_cube


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "sim.zarr"
    simulate.to_zarr(str(path), n_dates=2, size_km=1.2, seed=5)
    return str(path)


@pytest.fixture
def own_store(store, tmp_path):
    """A private copy of the store, for tests that damage or change it."""
    dst = tmp_path / "own.zarr"
    shutil.copytree(store, dst)
    return str(dst)


def _files(path: str | Path) -> dict[str, bytes]:
    root = Path(path)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _flip(path: Path, start: int = 30, n: int = 60) -> None:
    b = bytearray(path.read_bytes())
    for i in range(start, min(start + n, len(b))):
        b[i] ^= 0x5A
    path.write_bytes(bytes(b))


def _chunk(dst: str, var: str = "reflectance", t: int = 1) -> Path:
    return Path(dst) / var / "c" / str(t) / "0" / "0" / "0"


# --------------------------------------------------------------------------- row 2: corrupt chunks


def test_stores_are_written_with_zstd_checksums(store, tmp_path):
    dst = str(tmp_path / "o.zarr")
    jobs.harmonize(store, dst, method="resample")
    for meta in (Path(store) / "s2_10m/reflectance/zarr.json", Path(dst) / "reflectance/zarr.json"):
        assert '"checksum": true' in meta.read_text()


def test_fault_injection_resume_rewrites_a_corrupt_output_chunk(store, tmp_path):
    ref, dst = str(tmp_path / "ref.zarr"), str(tmp_path / "o.zarr")
    jobs.harmonize(store, ref, method="hls")
    jobs.harmonize(store, dst, method="hls")
    assert _files(dst) == _files(ref)
    _flip(_chunk(dst))
    assert _files(dst) != _files(ref)
    with pytest.warns(UserWarning, match=r"1 finished region\(s\) \(1\)"):
        jobs.harmonize(store, dst, method="hls", resume=True)
    assert _files(dst) == _files(ref)  # byte for byte


def test_deleted_output_chunk_is_redone_on_resume(store, tmp_path):
    ref, dst = str(tmp_path / "ref.zarr"), str(tmp_path / "o.zarr")
    jobs.harmonize(store, ref, method="resample")
    jobs.harmonize(store, dst, method="resample")
    _chunk(dst, t=0).unlink()
    with pytest.warns(UserWarning, match="do not match their recorded digests"):
        out = jobs.harmonize(store, dst, method="resample", resume=True)
    assert np.isfinite(out.isel(time=0).values).any() and _files(dst) == _files(ref)


def test_truncated_output_chunk_is_redone_on_resume(store, tmp_path):
    ref, dst = str(tmp_path / "ref.zarr"), str(tmp_path / "o.zarr")
    jobs.harmonize(store, ref, method="resample")
    jobs.harmonize(store, dst, method="resample")
    c = _chunk(dst)
    c.write_bytes(c.read_bytes()[:20])
    with pytest.warns(UserWarning):
        jobs.harmonize(store, dst, method="resample", resume=True)
    assert _files(dst) == _files(ref)


def test_flipped_output_bytes_fail_the_read(store, tmp_path):
    dst = str(tmp_path / "o.zarr")
    jobs.harmonize(store, dst, method="resample")
    _flip(_chunk(dst))
    with pytest.raises(RuntimeError, match=r"(?i)checksum|corrupt"):
        open_cube(dst).values  # noqa: B018


def test_corrupt_input_chunk_is_named(own_store, tmp_path):
    bad = Path(own_store) / "s2_20m/reflectance/c/1/0/0/0"
    _flip(bad)
    with pytest.raises(CorruptProductError, match=r"s2_20m/reflectance/c/1/0/0/0"):
        jobs.harmonize(own_store, str(tmp_path / "o.zarr"), method="hls")


def test_verify_passes_on_an_intact_store(store, tmp_path):
    dst = str(tmp_path / "o.zarr")
    out = jobs.harmonize(store, dst, method="resample")
    writer = RegionWriter(out, dst, fingerprint="x", region={"time": 1})
    assert writer.verify() == [] and len(finished_regions(dst)) == 2


# --------------------------------------------------------------------------- row 3: IN == OUT


def test_output_equal_to_input_is_refused_and_input_survives(own_store):
    before = _files(own_store)
    for kwargs in ({"overwrite": True}, {"overwrite": True, "out_group": "s2_10m"}):
        with pytest.raises(ArgumentError, match="is the input store"):
            jobs.harmonize(own_store, own_store, method="resample", **kwargs)
    assert _files(own_store) == before


def test_output_inside_the_input_is_refused(own_store):
    with pytest.raises(ArgumentError, match="lies inside the input store"):
        jobs.harmonize(own_store, os.path.join(own_store, "out.zarr"), method="resample")


def test_output_through_a_symlink_to_the_input_is_refused(own_store, tmp_path):
    link = tmp_path / "link.zarr"
    link.symlink_to(own_store)
    with pytest.raises(ArgumentError, match="is the input store"):
        jobs.harmonize(own_store, str(link), method="resample", overwrite=True)


# --------------------------------------------------------------------------- row 4: masks


def test_landsat_mask_on_other_dates_is_refused(store, tmp_path):
    with pytest.raises(DimensionError, match="lacks"):
        jobs.harmonize(store, str(tmp_path / "o.zarr"), method="resample", valid="l8/l8_valid")


def test_mask_with_a_subset_of_dates_is_refused(own_store, tmp_path):
    import xarray as xr

    ds = xr.open_zarr(own_store, group="s2_20m", consolidated=False)
    sub = ds[["s2_valid"]].isel(time=[0]).rename({"s2_valid": "part"})
    sub.to_zarr(own_store, group="masks", mode="w", consolidated=False)
    with pytest.raises(DimensionError, match="lacks 1 of the cube's 2 dates"):
        jobs.harmonize(own_store, str(tmp_path / "o.zarr"), method="resample", valid="masks/part")


def test_mask_cut_short_is_refused(own_store, tmp_path):
    import xarray as xr

    ds = xr.open_zarr(own_store, group="s2_20m", consolidated=False)
    cut = ds[["s2_valid"]].isel(y=slice(0, 25)).drop_vars(["band", "common_name"], errors="ignore")
    cut.to_zarr(own_store, group="masks", mode="w", consolidated=False)
    with pytest.raises(GridError, match="does not cover"):
        jobs.harmonize(own_store, str(tmp_path / "o.zarr"), method="resample", valid="masks/s2_valid")


# --------------------------------------------------------------------------- row 6: changed input


def _interrupted_after_one_region(src: str, dst: str) -> None:
    """A resample job killed (KeyboardInterrupt) once its first region is written."""

    def crash(done: int, total: int) -> None:
        if done >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs.harmonize(src, dst, method="resample", on_region=crash)


def test_changed_input_refuses_resume(own_store, tmp_path):
    dst = str(tmp_path / "o.zarr")
    _interrupted_after_one_region(own_store, dst)
    time.sleep(0.01)
    arr = zarr.open_array(own_store, path="s2_10m/reflectance", mode="r+")
    arr[1] = arr[1] * 0.5  # the input changes at the same path
    with pytest.raises(FileExistsError, match=r"input .* changed"):
        jobs.harmonize(own_store, dst, method="resample", resume=True)


def test_unchanged_input_resumes(own_store, tmp_path):
    dst = str(tmp_path / "o.zarr")
    _interrupted_after_one_region(own_store, dst)
    out = jobs.harmonize(own_store, dst, method="resample", resume=True)
    assert len(finished_regions(dst)) == 2 and np.isfinite(out.values).any()


def test_input_identity_tracks_the_used_groups_only(own_store):
    a = jobs.input_identity(own_store, ["s2_10m", "s2_20m"])
    (Path(own_store) / "labels" / "extra.txt").write_text("unrelated")
    assert jobs.input_identity(own_store, ["s2_10m", "s2_20m"]) == a
    (Path(own_store) / "s2_10m" / "extra.txt").write_text("changed")
    assert jobs.input_identity(own_store, ["s2_10m", "s2_20m"]) != a


# --------------------------------------------------------------------------- rows 1, 11, 12: arguments


@pytest.mark.parametrize(
    "kwargs",
    [
        {"batch_size": -4},
        {"batch_size": 0},
        {"chunk": 0},
        {"chunk": -64},
        {"time_chunk": 0},
        {"chunk": 2.5},
        {"region": {"time": 0}},
    ],
)
def test_bad_numbers_are_refused_before_work(store, tmp_path, kwargs):
    dst = tmp_path / "o.zarr"
    with pytest.raises(ArgumentError):
        jobs.harmonize(store, str(dst), method="resample", **kwargs)
    assert not dst.exists()


def test_unknown_method_is_refused(store, tmp_path):
    with pytest.raises(DimensionError, match="unknown method"):
        jobs.harmonize(store, str(tmp_path / "o.zarr"), method="magic")


def test_group_naming_an_array_is_refused(store, tmp_path):
    with pytest.raises(ProductNotFoundError, match="is an array, not a group"):
        jobs.harmonize(store, str(tmp_path / "o.zarr"), method="resample", s2_20m="s2_20m/reflectance")


def test_output_under_a_file_is_refused(store, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(StorageError, match="is a file"):
        jobs.harmonize(store, str(f / "o.zarr"), method="resample")


def test_disk_full_is_a_storage_error_and_resumable(store, tmp_path, monkeypatch):
    dst = str(tmp_path / "o.zarr")
    real = RegionWriter.write

    def full(self, index):
        if index == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, index)

    monkeypatch.setattr(RegionWriter, "write", full)
    with pytest.raises(StorageError, match="No space left"):
        jobs.harmonize(store, dst, method="resample")
    monkeypatch.setattr(RegionWriter, "write", real)
    jobs.harmonize(store, dst, method="resample", resume=True)
    assert len(finished_regions(dst)) == 2


def test_bad_tolerance_is_refused(store):
    with pytest.raises(ArgumentError, match="not a time span"):
        score_stores(store, store, pred_group="l8", tolerance="abc")


@pytest.mark.parametrize("n", [-1, 0, 1.5])
def test_bad_local_worker_counts_are_refused(n):
    with pytest.raises(ArgumentError, match="local_workers"), jobs.dask_client(local_workers=n):
        pass


def test_missing_scheduler_file_is_refused(tmp_path):
    with pytest.raises(ProductNotFoundError, match="scheduler file"):
        with jobs.dask_client(scheduler=str(tmp_path / "missing.json")):
            pass


def test_unreachable_scheduler_times_out_with_a_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SchedulerError, match="cannot reach the dask scheduler"):
        with jobs.dask_client(scheduler=f"tcp://127.0.0.1:{port}", timeout=1):
            pass


# --------------------------------------------------------------------------- issue 20: streaming layout


def test_each_input_chunk_is_decoded_once(store, tmp_path, monkeypatch):
    caches: list[SourceCache] = []

    class Spy(SourceCache):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            caches.append(self)

    monkeypatch.setattr(jobs, "SourceCache", Spy)
    out = jobs.harmonize(store, str(tmp_path / "o.zarr"), method="resample", chunk=16)
    assert len(finished_regions(tmp_path / "o.zarr")) == 2 * 3 * 3  # 2 dates x 3 x 3 chunks of 16 px
    (cache,) = caches
    # the simulator writes one chunk per date and group: 2 dates x (10 m + 20 m)
    assert len(cache.decodes) == 4 and set(cache.decodes.values()) == {1}
    want = xharm_resample(store)
    np.testing.assert_array_equal(out.values, want)


def xharm_resample(store: str) -> np.ndarray:
    """The resample baseline straight from the inputs (no job, no regions)."""
    import xharm

    cubes = {10: open_cube(store, "s2_10m"), 20: open_cube(store, "s2_20m")}
    return xharm.to_landsat(cubes, method="resample").values


def test_mgan_chunks_are_whole_kept_centres(store, tmp_path, tiny_model):
    dst = tmp_path / "o.zarr"
    jobs.harmonize(store, str(dst), model=tiny_model, chunk=20)  # tiny model: kept centres of 16 px
    assert zarr.open_array(str(dst), path="reflectance", mode="r").chunks[-2:] == (16, 16)


def test_anchored_region_jobs_equal_the_whole_scene_graph(store, tmp_path, anchored_model):
    """Regions of 16 px each compute their own physics part (hls_psf): its Gaussian halo is
    inside the region's reach, so the job writes what one whole-scene to_landsat gives."""
    import xharm

    dst = tmp_path / "o.zarr"
    jobs.harmonize(store, str(dst), model=anchored_model, chunk=20)
    got = open_cube(str(dst)).values
    cubes = {10: open_cube(store, "s2_10m"), 20: open_cube(store, "s2_20m")}
    ref = xharm.to_landsat(cubes, method="mgan", model=anchored_model)
    want = ref.values
    assert got.shape == want.shape
    assert np.array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, atol=1e-5, equal_nan=True)
    # the quality bits go to the store beside the cube, region by region, as to_landsat gives them
    quality = open_cube(str(dst), var="quality")
    assert quality.dtype == np.uint8 and quality.dims == ("time", "y", "x")
    np.testing.assert_array_equal(quality.values, ref["quality"].values)
    assert 0 < (quality.values > 0).mean() < 1  # bits set in places: the comparison means something
    assert "outside_training_range" in quality.attrs["flag_meanings"]


def test_a_job_warns_once_about_dates_outside_the_training_sun(store, tmp_path, sun_range_model):
    """Bit 4 in the store as to_landsat gives it; one warning for the job, none per region."""
    import warnings

    import xharm

    dst = tmp_path / "o.zarr"
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        jobs.harmonize(store, str(dst), model=sun_range_model, chunk=20)
    sun = [w for w in seen if "sun zenith" in str(w.message)]
    assert len(sun) == 1 and "1 of 2 date(s) (2021-10-15)" in str(sun[0].message)
    quality = open_cube(str(dst), var="quality").values
    cubes = {10: open_cube(store, "s2_10m"), 20: open_cube(store, "s2_20m")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = xharm.to_landsat(cubes, method="mgan", model=sun_range_model)["quality"].values
    np.testing.assert_array_equal(quality, ref)
    assert ((quality[1] & 4) > 0).all() and not (quality[0] & 4).any()


def test_a_corrupt_quality_chunk_is_rewritten_on_resume(store, tmp_path, anchored_model):
    """The region digests cover the quality bits too: a damaged quality chunk is found and rewritten."""
    dst = tmp_path / "o.zarr"
    jobs.harmonize(store, str(dst), model=anchored_model, chunk=20)
    before = open_cube(str(dst), var="quality").values.copy()
    chunk = next(p for p in sorted((dst / "quality").rglob("*")) if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="do not match their recorded digests"):
        jobs.harmonize(store, str(dst), model=anchored_model, chunk=20, resume=True)
    np.testing.assert_array_equal(open_cube(str(dst), var="quality").values, before)
