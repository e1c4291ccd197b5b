"""``xharm train CONFIG --data PAIRS --out RUN_DIR``: train the MGAN from the command line.

``CONFIG`` is a preset (``full``, ``small``, ``tiny``) or a JSON file written by
``TrainConfig.to_json`` (e.g. a run's ``config.json``); ``--set key=value`` overrides
fields (dotted for nested ones: ``--set model.features=32``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ..exceptions import XharmError
from .config import TrainConfig

__all__ = ["build_parser", "load_config", "train_main"]


def load_config(name_or_path: str) -> TrainConfig:
    """A preset name or a JSON config file."""
    p = Path(name_or_path)
    if p.suffix == ".json" or p.is_file():
        return TrainConfig.from_json(p.read_text())
    return TrainConfig.preset(name_or_path)


def build_parser(prog: str = "xharm train") -> argparse.ArgumentParser:
    """The argument parser of :func:`train_main`."""
    p = argparse.ArgumentParser(
        prog=prog, description="Train the MGAN (Sentinel-2 -> Landsat-8) on paired patches."
    )
    p.add_argument("config", help="preset (full, small, tiny) or a TrainConfig JSON file")
    p.add_argument("--data", required=True, help="patch store: Zarr group or folder of <group>.npy")
    p.add_argument("--out", required=True, help="run directory (checkpoints, history, model/)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. epochs=5 or model.features=32 (repeatable)",
    )
    p.add_argument("--epochs", type=int, help="shortcut for --set epochs=N")
    p.add_argument("--max-steps", type=int, help="shortcut for --set max_steps=N")
    p.add_argument("--devices", type=int, help="local devices for data parallelism (default: all)")
    p.add_argument("--seed", type=int, help="shortcut for --set seed=N")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--description", default="", help="text about the training data, stored in the model spec")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    return p


def train_main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``xharm train``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        cfg = load_config(args.config)
        overrides = list(args.overrides)
        for name, value in (
            ("epochs", args.epochs),
            ("max_steps", args.max_steps),
            ("devices", args.devices),
            ("seed", args.seed),
        ):
            if value is not None:
                overrides.append(f"{name}={value}")
        if args.no_progress:
            overrides.append("progress=false")
        cfg = cfg.with_overrides(overrides)
        if args.print_config:
            print(cfg.to_json())
            return 0
        from .loop import fit

        result = fit(cfg, args.data, args.out, resume=args.resume, description=args.description)
    except XharmError as err:
        print(f"xharm train: error: {err}", file=sys.stderr)
        return 2
    last = result.history[-1] if result.history else {}
    print(json.dumps({"steps": int(result.state.step), "model": str(Path(args.out) / "model"), **last}))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(train_main())
