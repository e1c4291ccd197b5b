"""Sentinel-2 band sharpening to 10 m (DSen2), its radiometric consistency and Wald evaluation.

``xharm.sharpen`` (the function, a lazy attribute of ``xharm``),
``from xharm.sharpening import sharpen`` and ``cube.harmonize.sharpen``. The submodules
:mod:`~xharm.sharpening.mtf` and :mod:`~xharm.sharpening.wald` are NumPy only; importing
this package imports neither xarray nor JAX until an attribute is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "sharpen": "xharm.sharpening.api",
    "fit_hpf": "xharm.sharpening.api",
    "output_geobox": "xharm.sharpening.api",
    "DSen2Handle": "xharm.sharpening.api",
    "degrade": "xharm.sharpening.mtf",
    "project_consistent": "xharm.sharpening.mtf",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xharm.sharpening' has no attribute {name!r}")
