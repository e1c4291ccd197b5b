"""The one table of xharm's public functions, imported on first use (``import xharm`` stays light).

``xharm.<name>`` (:mod:`xharm`'s module ``__getattr__``) and the ``.harmonize`` accessor
(:mod:`xharm.accessor`) both resolve names here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

FUNCTIONS: dict[str, str] = {
    "to_landsat": "xharm.pipeline:to_landsat",
    "harmonize_zarr": "xharm.jobs:harmonize_zarr",
    "metrics": "xharm.metrics:metrics",
    "to_canonical": "xharm.core.cube:to_canonical",
    "from_canonical": "xharm.core.cube:from_canonical",
    "validate_cube": "xharm.core.cube:validate",
    "valid_mask": "xharm.core.qa:valid_mask",
    "dense_series": "xharm.dense:dense_series",
    "sharpen": "xharm.sharpening.api:sharpen",
}
"""Public name -> ``"module:function"``."""


def where(name: str) -> tuple[str, str]:
    """``(module, function)`` of public function ``name``."""
    module, _, attr = FUNCTIONS[name].partition(":")
    return module, attr


def load(name: str) -> Callable[..., Any]:
    """Import and return public function ``name``."""
    module, attr = where(name)
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
