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
