"""Sentinel-2 band sharpening to 10 m (DSen2), its radiometric consistency and Wald evaluation.

``from xharm.sharpen import sharpen`` (also ``xharm.sharpen`` the function via the package's
lazy attribute, and ``cube.harmonize.sharpen``). The submodules :mod:`~xharm.sharpen.mtf`
and :mod:`~xharm.sharpen.wald` are NumPy only; importing this package imports neither
xarray nor JAX until an attribute is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "sharpen": "xharm.sharpen.api",
    "output_geobox": "xharm.sharpen.api",
    "DSen2Handle": "xharm.sharpen.api",
    "degrade": "xharm.sharpen.mtf",
    "project_consistent": "xharm.sharpen.mtf",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xharm.sharpen' has no attribute {name!r}")
