"""Names of the bundled models and where their files are.

A bundled model is a folder ``xharm/zoo/weights/<name>/`` holding ``spec.json`` and
``weights.msgpack`` (see :mod:`xharm.zoo.io`). :func:`resolve` turns a name or a path
into a model folder.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

from ..exceptions import CorruptProductError, ProductNotFoundError, describe
from ..spec import ModelSpec

__all__ = [
    "DEFAULT_MODEL",
    "SPEC_CHECKSUM",
    "WEIGHTS_DIR",
    "available",
    "read_spec",
    "resolve",
    "spec_digest",
]

#: Key of ``spec.json`` holding the digest of the rest of the file (see :func:`spec_digest`).
SPEC_CHECKSUM = "spec_checksum"

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


def spec_digest(d: dict[str, Any]) -> str:
    """``"sha256:<hex>"`` of a spec dict without its ``spec_checksum`` key, in canonical JSON.

    Canonical: sorted keys, no spaces; so re-indenting ``spec.json`` keeps the digest,
    and changing any value (a band, a scale, a norm statistic) changes it.
    """
    body = {k: v for k, v in d.items() if k != SPEC_CHECKSUM}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def read_spec(folder: str | Path) -> ModelSpec:
    """The :class:`~xharm.spec.ModelSpec` of a model folder, its ``spec_checksum`` verified.

    A spec without ``spec_checksum`` (saved before xharm recorded one) loads with a
    warning, except for bundled models, which must carry it.

    Raises
    ------
    CorruptProductError
        ``spec.json`` is not JSON, lacks fields, or was edited after saving.
    """
    path = Path(folder) / "spec.json"
    try:
        d = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptProductError(
            describe(
                f"cannot read the model spec {path}",
                expected="the JSON written by xharm.zoo.save_model",
                found=f"{type(err).__name__}: {err}",
                fix="restore the model folder (re-download or re-export it)",
            )
        ) from err
    if not isinstance(d, dict):
        raise CorruptProductError(describe(f"{path} is not a JSON object", found=type(d).__name__))
    recorded = d.get(SPEC_CHECKSUM)
    if recorded is None:
        bundled = WEIGHTS_DIR in Path(folder).resolve().parents
        if bundled:
            raise CorruptProductError(describe(f"{path} lacks its {SPEC_CHECKSUM}", fix="reinstall xharm"))
        warnings.warn(
            f"{path} has no {SPEC_CHECKSUM} (saved by an older xharm): edits to it cannot be detected; "
            "re-save the model with xharm.zoo.save_model to protect it",
            stacklevel=2,
        )
    elif recorded != spec_digest(d):
        raise CorruptProductError(
            describe(
                f"the model spec {path} was changed after the model was saved",
                expected=str(recorded),
                found=spec_digest(d),
                fix="restore spec.json (its bands, scales, norm stats go with the weights), or re-save",
            )
        )
    try:
        return ModelSpec.from_dict(d)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CorruptProductError(
            describe(
                f"the model spec {path} lacks or mistypes a field",
                found=f"{type(err).__name__}: {err}",
                fix="restore the model folder (re-download or re-export it)",
            )
        ) from err
