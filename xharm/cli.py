"""The ``xharm`` command line: a thin layer over the public functions.

Each sub-command imports what it needs when it runs, so ``xharm --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from .exceptions import XharmError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def _cmd_sensors(args: argparse.Namespace) -> int:
    from .sensors import SENSORS, get_sensor

    names = [args.sensor] if args.sensor else list(SENSORS)
    for name in names:
        s = get_sensor(name)
        print(
            f"{s.name}  (platform {s.platform}, instrument {s.instrument}; "
            f"value = DN * {s.scaling.scale:g} + {s.scaling.offset:g}, fill {s.scaling.fill})"
        )
        for b in s.bands:
            wl = f"{b.wavelength[0]:.0f}-{b.wavelength[1]:.0f} nm" if b.wavelength else "-"
            print(f"  {b.id:<4} {b.common_name:<11} {b.resolution:>5.0f} m  {wl}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(args.out, size_km=args.size_km, n_dates=args.dates, seed=args.seed,
             model=None if args.baselines_only else "auto", progress=not args.quiet)  # fmt: skip
    return 0


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import to_zarr

    to_zarr(args.out, n_dates=args.dates, size_km=args.size_km, seed=args.seed)
    print(f"wrote {args.out} (groups s2_10m, s2_20m, l8, labels)")
    return 0


def _parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    parser = argparse.ArgumentParser(
        prog="xharm",
        description="Harmonize dense satellite time series (Sentinel-2 -> Landsat-8/9-like) in xarray.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    handlers: dict[str, Handler] = {}

    p = sub.add_parser("sensors", help="print the band tables xharm knows")
    p.add_argument("sensor", nargs="?", help="one sensor (e.g. S2B, landsat-8); default: all")
    handlers["sensors"] = _cmd_sensors

    p = sub.add_parser("demo", help="simulate a scene pair, harmonize it, score it, write Zarr + PNG")
    p.add_argument("--out", default="xharm-demo", help="output folder (default: ./xharm-demo)")
    p.add_argument("--size-km", type=float, default=3.0, help="scene side in km (default 3)")
    p.add_argument("--dates", type=int, default=4, help="number of dates (default 4)")
    p.add_argument("--seed", type=int, default=2021)
    p.add_argument("--baselines-only", action="store_true", help="skip the MGAN model")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    handlers["demo"] = _cmd_demo

    p = sub.add_parser("simulate", help="write a simulated S2/L8 pair series to Zarr")
    p.add_argument("out", help="output Zarr store, e.g. pairs.zarr")
    p.add_argument("--size-km", type=float, default=3.0)
    p.add_argument("--dates", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    handlers["simulate"] = _cmd_simulate
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser, handlers = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return handlers[args.command](args)
    except XharmError as err:
        print(f"xharm {args.command}: error: {err}", file=sys.stderr)
        return 2
