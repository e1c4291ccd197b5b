"""Packaging promises: import cost, metadata, console script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_import_xharm_does_not_import_jax_flax_optax():
    code = (
        "import sys, xharm, xharm.core.cube, xharm.core.sensors, xarray as xr\n"
        "xr.DataArray([1.0]).harmonize\n"
        "heavy = [m for m in ('jax', 'flax', 'optax', 'orbax') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_every_runtime_import_is_declared():
    """Each third-party top-level module imported by xharm/ is in install_requires."""
    import ast
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    declared = {
        line.split(">")[0].split("=")[0].split("[")[0].strip().lower().replace("-", "_")
        for line in cfg["options"]["install_requires"].strip().splitlines()
    }
    module_to_dist = {
        "odc": {"odc_geo", "odc_stac"},
        "sklearn": {"scikit_learn"},
        "yaml": {"pyyaml"},
        "orbax": {"orbax_checkpoint"},
        "skimage": {"scikit_image"},
        "PIL": {"pillow", "matplotlib"},
        "msgpack": {"flax"},
        "affine": {"rasterio"},
        "pyproj": {"rasterio", "odc_geo"},
        "shapely": {"odc_geo"},
        "toolz": {"dask"},
        "numcodecs": {"zarr"},
    }
    stdlib = set(sys.stdlib_module_names)
    missing = set()
    for path in (ROOT / "xharm").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in stdlib or top == "xharm":
                    continue
                dists = module_to_dist.get(top, {top.lower()})
                if not dists & declared:
                    missing.add((top, str(path.relative_to(ROOT))))
    assert not missing, f"imported but not declared in setup.cfg: {sorted(missing)}"


def test_console_script_runs():
    out = subprocess.run(
        [sys.executable, "-m", "xharm", "--help"], check=True, capture_output=True, text=True
    )
    assert "demo" in out.stdout and "sensors" in out.stdout
    out = subprocess.run(
        [sys.executable, "-m", "xharm", "sensors"], check=True, capture_output=True, text=True
    )
    assert "sentinel-2b" in out.stdout and "B8A" in out.stdout and "nir08" in out.stdout


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [
        sys.executable,
        "-c",
        "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
    ]
    return subprocess.run(
        [*cmd, str(ROOT / ".importlinter")], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_import_contract_holds():
    """The layer rules of DESIGN.md (.importlinter): models never import xarray/Dask, ..."""
    res = _lint_imports(ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "broken" not in res.stdout.split("Contracts:")[-1].replace("0 broken", "")


def test_import_contract_catches_a_violation(tmp_path):
    """A deliberate violation (xarray imported by model code) breaks the contract."""
    shutil.copytree(
        ROOT / "xharm", tmp_path / "xharm", ignore=shutil.ignore_patterns("weights", "__pycache__")
    )
    losses = tmp_path / "xharm" / "models" / "losses.py"
    losses.write_text(losses.read_text() + "\nimport xarray  # deliberate violation\n")
    res = _lint_imports(tmp_path)
    assert res.returncode != 0
    assert "xharm.models.losses -> xarray" in res.stdout
