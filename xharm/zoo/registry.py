"""Names of the bundled models and where their files are.

A bundled model is a folder ``xharm/zoo/weights/<name>/`` holding ``spec.json`` and
``weights.msgpack`` (see :mod:`xharm.zoo.io`). :func:`resolve` turns a name or a path
into a model folder.
"""

from __future__ import annotations

from pathlib import Path

from ..exceptions import ProductNotFoundError, describe

__all__ = ["DEFAULT_MODEL", "WEIGHTS_DIR", "available", "resolve"]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
#: The model ``to_landsat`` uses when none is named.
DEFAULT_MODEL = "mgan-starter"


def available() -> list[str]:
    """Names of the bundled models (folders of ``WEIGHTS_DIR`` with a ``spec.json``).

    Examples
    --------
    >>> isinstance(available(), list)
    True
    """
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.name for p in WEIGHTS_DIR.iterdir() if (p / "spec.json").is_file())


def resolve(name_or_path: str | Path) -> Path:
    """The folder of a bundled model name, or of a path to a model folder / its ``spec.json``."""
    p = Path(name_or_path)
    if p.name == "spec.json" and p.is_file():
        return p.parent
    if (p / "spec.json").is_file():
        return p
    if isinstance(name_or_path, str) and "/" not in name_or_path and (WEIGHTS_DIR / name_or_path).is_dir():
        return WEIGHTS_DIR / name_or_path
    raise ProductNotFoundError(
        describe(
            f"no model called {str(name_or_path)!r}",
            expected="a bundled name ("
            + (", ".join(available()) or "none installed")
            + ") or a model folder",
            found=str(name_or_path),
            fix="train one with `xharm train ... --out RUN_DIR` and pass RUN_DIR/model",
        )
    )
