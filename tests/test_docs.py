"""The documentation site builds with warnings as errors (broken links, bad docstrings)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_builds_strict(tmp_path):
    site = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    api = (site / "api" / "index.html").read_text()
    assert "Harmonize a Sentinel-2 time series" in api  # docstrings were rendered
    shutil.rmtree(site)
