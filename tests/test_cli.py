"""``xharm harmonize`` / ``evaluate`` / ``train``: batch jobs over Zarr, on local and distributed Dask."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

import xharm
from xharm import jobs, simulate
from xharm.cli import main
from xharm.evaluate import score_stores
from xharm.io.zarr import finished_regions, open_cube, open_mask

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    path = tmp_path_factory.mktemp("sim") / "sim.zarr"
    simulate.to_zarr(str(path), n_dates=2, size_km=1.2, seed=5)
    return str(path)


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run(
        [sys.executable, "-m", "xharm", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )


def test_harmonize_on_a_distributed_cluster_equals_in_process(tiny_model, store, tmp_path):
    from distributed import LocalCluster

    dst = str(tmp_path / "l8like.zarr")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        res = _run("harmonize", store, dst, "--model", tiny_model, "--chunk", "16", "--valid",
                   "s2_20m/s2_valid", "--scheduler", cluster.scheduler_address, "--quiet")  # fmt: skip
        ran = set(cluster.scheduler.task_prefixes)
    assert res.returncode == 0, res.stderr
    assert any(p.startswith("xharm-apply") for p in ran), sorted(ran)  # the model ran on the cluster
    assert "wrote" in res.stdout and "2 workers" in res.stdout
    got = open_cube(dst)
    c10, c20 = open_cube(store, "s2_10m"), open_cube(store, "s2_20m")
    valid = open_mask(store, "s2_20m/s2_valid")
    want = xharm.to_landsat({10: c10, 20: c20}, model=tiny_model, valid=valid).compute()
    np.testing.assert_allclose(got.values, want.values, atol=1e-6)
    assert np.isnan(got.values).any() and np.isfinite(got.values).any()  # clouds masked, land kept
    assert got.odc.geobox == want.odc.geobox
    assert got.attrs["harmonization_method"] == "mgan" and got.attrs["model"] == "tiny-mgan"
    assert got.chunks is not None and max(got.chunks[2]) <= 16


def test_local_workers_and_resume(store, tmp_path):
    dst = str(tmp_path / "res.zarr")
    crash_after = 1

    def crash(done: int, total: int) -> None:
        if done > crash_after:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs.harmonize(store, dst, method="resample", chunk=16, on_region=crash)
    assert len(finished_regions(dst)) == 2  # the crash came after the second region was marked done
    assert main(["harmonize", store, dst, "--method", "resample", "--chunk", "16", "--quiet"]) == 2
    # a different job (other chunks) does not resume the first one's store
    assert main(["harmonize", store, dst, "--method", "resample", "--resume", "--quiet"]) == 2
    args = ["--method", "resample", "--chunk", "16", "--resume", "--local-workers", "2", "--quiet"]
    rc = main(["harmonize", store, dst, *args])
    assert rc == 0
    ref = str(tmp_path / "ref.zarr")
    assert main(["harmonize", store, ref, "--method", "resample", "--chunk", "16", "--quiet"]) == 0
    a, b = open_cube(dst), open_cube(ref)
    assert len(finished_regions(dst)) == len(finished_regions(ref)) > 2
    xr.testing.assert_identical(a.compute(), b.compute())
    direct = xharm.to_landsat(
        {10: open_cube(store, "s2_10m"), 20: open_cube(store, "s2_20m")}, method="resample"
    )
    np.testing.assert_array_equal(a.values, direct.values)
    assert main(["harmonize", store, dst, "--method", "hls", "--overwrite", "--quiet"]) == 0
    assert open_cube(dst).attrs["harmonization_method"] == "hls"


def test_evaluate_tables(store, tmp_path, capsys):
    pred = str(tmp_path / "hls.zarr")
    assert main(["harmonize", store, pred, "--method", "hls", "--quiet"]) == 0
    js, cs = tmp_path / "scores.json", tmp_path / "scores.csv"
    rc = main(["evaluate", pred, store, "--ref-var", "truth", "--valid", "s2_20m/s2_valid",
               "--json", str(js), "--csv", str(cs)])  # fmt: skip
    assert rc == 0
    out = capsys.readouterr().out
    assert "2 date(s) scored" in out and "ssim" in out and "B7" in out
    scores = json.loads(js.read_text())
    # independent check: per-date RMSE over clear pixels, averaged over dates
    p = open_cube(pred).values
    t = open_cube(store, "l8", "truth").sel(band=["B2", "B3", "B4", "B5", "B6", "B7"]).values
    v20 = open_mask(store, "s2_20m/s2_valid").values  # (time, 2n, 2n) -> 30 m: all 9 sub-pixels
    n = p.shape[-1]
    v10 = v20.repeat(2, 1).repeat(2, 2)
    v30 = v10.reshape(2, n, 3, n, 3).all(axis=(2, 4)) & np.isfinite(p).all(1) & np.isfinite(t).all(1)
    for i, band in enumerate(["B2", "B3", "B4", "B5", "B6", "B7"]):
        rmse = np.mean([np.sqrt(np.mean((p[d, i] - t[d, i])[v30[d]] ** 2)) for d in range(2)])
        assert scores["per_band"]["hls"][band]["rmse"] == pytest.approx(rmse, rel=1e-5)
    assert scores["n_dates"] == 2 and scores["valid_fraction"] == pytest.approx(v30.mean())
    table = pd.read_csv(cs)
    assert table["band"].tolist() == ["all", "B2", "B3", "B4", "B5", "B6", "B7"]
    assert table.loc[0, "sam"] == pytest.approx(scores["overall"]["hls"]["sam"])


def test_evaluate_errors(store, tmp_path, capsys):
    pred = str(tmp_path / "res.zarr")
    assert main(["harmonize", store, pred, "--method", "resample", "--quiet"]) == 0
    # the L8 acquisitions are minutes from the S2 ones: a 1 s tolerance matches none
    assert main(["evaluate", pred, store, "--tolerance", "1s"]) == 2
    assert "no prediction date has a reference date" in capsys.readouterr().err
    assert main(["evaluate", pred, str(tmp_path / "nope.zarr")]) == 2
    assert main(["evaluate", pred, store, "--ref-var", "nope"]) == 2
    assert "has no variable 'nope'" in capsys.readouterr().err
    assert (
        main(["harmonize", store, str(tmp_path / "x.zarr"), "--method", "hls", "--model", "m", "--quiet"])
        == 2
    )
    assert "a model was named for a baseline method" in capsys.readouterr().err


def test_gpu_needs_the_extra(store, tmp_path, capsys):
    import importlib.util

    if importlib.util.find_spec("dask_cuda") is not None:
        pytest.skip("dask-cuda is installed here")
    assert main(["harmonize", store, str(tmp_path / "g.zarr"), "--gpu", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "dask-cuda" in err and "xharm[gpu]" in err


def test_train_delegates(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    assert "Train the MGAN" in capsys.readouterr().out


def test_valid_mask_masks_baselines_and_is_written(store, tmp_path):
    """Issue 18 item 1: ``--method hls --valid`` used to write 0 % NaN and drop the mask."""
    dst = str(tmp_path / "hls.zarr")
    assert main(["harmonize", store, dst, "--method", "hls", "--valid", "s2_20m/s2_valid", "--quiet"]) == 0
    got = xr.open_zarr(dst, consolidated=False)
    clear = got["valid"].values
    assert got["valid"].dtype == bool and 0 < clear.mean() < 1
    np.testing.assert_array_equal(np.isnan(got["reflectance"].values).any(axis=1), ~clear)
    want = open_mask(store, "s2_20m/s2_valid")
    c10 = open_cube(store, "s2_10m")
    api = xharm.to_landsat({10: c10, 20: open_cube(store, "s2_20m")}, method="hls", valid=want)
    np.testing.assert_array_equal(api["valid"].values, clear)
    assert open_mask(dst, "valid").shape == clear.shape  # readable as an evaluate mask


def test_evaluate_picks_the_truth_and_applies_masks(store, tmp_path, capsys):
    """Issue 18 item 2: without --ref-var it used to score against the cloudy observation, '100% valid'."""
    pred = str(tmp_path / "hls.zarr")
    assert main(["harmonize", store, pred, "--method", "hls", "--valid", "s2_20m/s2_valid", "--quiet"]) == 0
    ev = score_stores(pred, store)
    assert ev.reference.startswith("l8/truth") and ev.masks == ("valid (of hls.zarr)",)
    clear = open_mask(pred, "valid").values
    assert ev.valid_fraction == pytest.approx(clear.mean())
    assert ev.valid_fraction < 1
    obs = score_stores(pred, store, ref_var="reflectance")
    assert "observation" in obs.reference and any(m.startswith("l8/l8_valid") for m in obs.masks)
    l8_clear = open_mask(store, "l8/l8_valid").values
    assert obs.valid_fraction <= min(clear.mean(), l8_clear.mean())
    assert main(["evaluate", pred, store]) == 0
    out = capsys.readouterr().out
    assert "reference: l8/truth" in out and "lower is better" in out and "degrees" in out
    bare = str(tmp_path / "bare.zarr")
    assert main(["harmonize", store, bare, "--method", "hls", "--quiet"]) == 0
    assert "no clear mask" in score_stores(bare, store).notes[0]


def test_resume_and_overwrite_together_refused(store, tmp_path, capsys):
    """Issue 18 item 10: both flags were accepted silently; a finished job was called 'unfinished'."""
    dst = str(tmp_path / "r.zarr")
    args = ["harmonize", store, dst, "--method", "resample", "--quiet"]
    assert main([*args, "--resume", "--overwrite"]) == 2
    assert "--resume and --overwrite" in capsys.readouterr().err
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "finished output" in err and "unfinished" not in err
    assert main([*args, "--resume"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_version_and_help_show_defaults(capsys):
    """Issue 18 item 9: no --version; options without help or shown defaults."""
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"xharm {xharm.__version__}"
    for cmd in ("simulate", "harmonize", "evaluate", "demo"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        text = capsys.readouterr().out
        options = [ln.split()[0] for ln in text.splitlines() if ln.strip().startswith("--")]
        assert options, cmd
        blocks = text.split("options:")[1]
        for opt in options:  # every option has a help line
            assert opt in blocks
        if cmd == "harmonize":
            assert "NASA HLS" in text and "Shang & Zhu" in text and "(default: 512)" in text
        if cmd == "simulate":
            assert "(default: 6)" in text and "--quiet" in text


def test_simulate_progress_and_no_zarr_warnings(tmp_path):
    """Issue 18 item 9: ``xharm simulate`` printed ~11 Zarr warning blocks and no progress."""
    res = _run("simulate", str(tmp_path / "s.zarr"), "--dates", "1", "--size-km", "0.6")
    assert res.returncode == 0, res.stderr
    assert "Warning" not in res.stderr and "xharm simulate" in res.stderr and "100%" in res.stderr


# --------------------------------------------------------------------------- hostile input (issue 19)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--batch-size", "-4"], "batch_size"),
        (["--batch-size", "0"], "batch_size"),
        (["--chunk", "0"], "chunk"),
        (["--chunk", "-64"], "chunk"),
        (["--time-chunk", "0"], "time_chunk"),
        (["--local-workers", "-1"], "local_workers"),
        (["--local-workers", "0"], "local_workers"),
        (["--s2-20m", "s2_20m/reflectance"], "is an array, not a group"),
        (["--valid", "l8/l8_valid"], "lacks"),
        (["--valid", "s2_20m/scl"], "not a clear mask"),
    ],
)
def test_harmonize_refuses_bad_arguments_with_one_message(store, tmp_path, capsys, args, message):
    dst = tmp_path / "o.zarr"
    assert main(["harmonize", store, str(dst), "--method", "resample", "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xharm harmonize: error:") and message in err and "Traceback" not in err
    assert not (dst / "reflectance").exists()  # refused before any region was written


def test_harmonize_without_valid_names_the_stores_clear_mask(store, tmp_path, capsys):
    assert main(["harmonize", store, str(tmp_path / "a.zarr"), "--method", "resample", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "note: no --valid given" in err and "pass --valid s2_20m/s2_valid" in err
    args = ["harmonize", store, str(tmp_path / "b.zarr"), "--method", "resample", "--quiet"]
    assert main([*args, "--valid", "s2_20m/s2_valid"]) == 0
    assert "note:" not in capsys.readouterr().err


def test_xharm_warnings_print_as_one_line_of_the_command(store, tmp_path, capsys, sun_range_model):
    """A date outside the model's training sun: one line ``xharm harmonize: warning: ...``, no source line."""
    args = ["harmonize", store, str(tmp_path / "o.zarr"), "--model", sun_range_model, "--quiet"]
    assert main([*args, "--valid", "s2_20m/s2_valid"]) == 0
    err = [line for line in capsys.readouterr().err.splitlines() if "sun zenith" in line]
    assert len(err) == 1 and err[0].startswith("xharm harmonize: warning: to_landsat: 1 of 2 date(s)")


def test_harmonize_into_its_own_input_is_refused(store, capsys):
    before = sorted(p.name for p in Path(store).iterdir())
    assert main(["harmonize", store, store, "--overwrite", "--quiet"]) == 2
    assert main(["harmonize", store, store, "--out-group", "s2_10m", "--overwrite", "--quiet"]) == 2
    assert "is the input store" in capsys.readouterr().err
    assert sorted(p.name for p in Path(store).iterdir()) == before
    assert open_cube(store, "s2_10m").notnull().any()


def test_missing_scheduler_file_does_not_hang(store, tmp_path):
    res = _run("harmonize", store, str(tmp_path / "o.zarr"), "--scheduler", str(tmp_path / "missing.json"))
    assert res.returncode == 2 and "scheduler file" in res.stderr and "Traceback" not in res.stderr


def test_negative_local_workers_do_not_hang(store, tmp_path):
    res = _run("harmonize", store, str(tmp_path / "o.zarr"), "--local-workers", "-1")
    assert res.returncode == 2 and "local_workers" in res.stderr and "(0 workers)" not in res.stdout


def test_unreachable_scheduler_is_a_clear_error(store, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = _run("harmonize", store, str(tmp_path / "o.zarr"), "--scheduler", f"tcp://127.0.0.1:{port}")
    assert res.returncode == 2 and "cannot reach the dask scheduler" in res.stderr
    assert "Traceback" not in res.stderr


def test_resume_after_a_changed_input_is_refused(tmp_path, capsys):
    src, dst = str(tmp_path / "s.zarr"), str(tmp_path / "o.zarr")
    simulate.to_zarr(src, n_dates=2, size_km=0.6, seed=1)

    def crash(done: int, total: int) -> None:
        if done >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        jobs.harmonize(src, dst, method="resample", on_region=crash)
    simulate.to_zarr(src, n_dates=2, size_km=0.6, seed=2, overwrite=True)  # other input, same path
    assert main(["harmonize", src, dst, "--method", "resample", "--resume", "--quiet"]) == 2
    assert "changed since the job" in capsys.readouterr().err


def test_resume_rewrites_a_deleted_output_chunk(store, tmp_path, capsys):
    dst, ref = tmp_path / "o.zarr", tmp_path / "ref.zarr"
    for d in (dst, ref):
        assert main(["harmonize", store, str(d), "--method", "resample", "--quiet"]) == 0
    (dst / "reflectance" / "c" / "1" / "0" / "0" / "0").unlink()
    capsys.readouterr()
    assert main(["harmonize", store, str(dst), "--method", "resample", "--resume", "--quiet"]) == 0
    err = capsys.readouterr().err  # the CLI prints xharm's warnings as one line of the command
    assert "xharm harmonize: warning: " in err and "rewriting them" in err
    np.testing.assert_array_equal(open_cube(str(dst)).values, open_cube(str(ref)).values)


def test_evaluate_checks_tolerance_and_output_files_before_scoring(store, tmp_path, capsys):
    pred = str(tmp_path / "p.zarr")
    assert main(["harmonize", store, pred, "--method", "resample", "--quiet"]) == 0
    assert main(["evaluate", pred, store, "--tolerance", "abc"]) == 2
    assert "not a time span" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["evaluate", pred, store, "--ref-var", "truth", "--json", str(blocker / "s.json")]) == 2
    captured = capsys.readouterr()
    assert "is a file" in captured.err and "SAM" not in captured.out  # refused before scoring


def test_simulate_refuses_to_overwrite_and_bad_sizes(tmp_path, capsys):
    out = tmp_path / "s.zarr"
    assert main(["simulate", str(out), "--dates", "1", "--size-km", "0.6"]) == 0
    stamp = (out / "zarr.json").stat().st_mtime_ns
    assert main(["simulate", str(out), "--dates", "1", "--size-km", "0.6"]) == 2
    assert "already exists" in capsys.readouterr().err and (out / "zarr.json").stat().st_mtime_ns == stamp
    assert main(["simulate", str(out), "--dates", "1", "--size-km", "0.6", "--overwrite"]) == 0
    for args in (["--size-km", "-1"], ["--size-km", "0"], ["--dates", "0"], ["--size-km", "nan"]):
        assert main(["simulate", str(tmp_path / "n.zarr"), *args]) == 2
        assert "must be a" in capsys.readouterr().err
    assert not (tmp_path / "n.zarr").exists()


def test_train_set_of_the_wrong_type_is_refused(capsys):
    args = ["train", "tiny", "--data", "d", "--out", "o", "--set", "learning_rate=abc", "--print-config"]
    assert main(args) == 2
    assert "wrong type" in capsys.readouterr().err
