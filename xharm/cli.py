"""The ``xharm`` command line: a thin layer over the public functions.

Each sub-command imports what it needs when it runs, so ``xharm --help`` is instant.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

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


def _cmd_harmonize(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from .jobs import dask_client, harmonize

    bars: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bars:
            desc = f"xharm harmonize ({args.method})"
            bars.append(tqdm(total=total, initial=done, desc=desc, unit="region", disable=args.quiet))
        bars[0].update(done - bars[0].n)

    try:
        with dask_client(args.scheduler, args.local_workers, args.gpu) as client:
            if client is not None:
                n = len(client.scheduler_info()["workers"])
                print(f"dask scheduler: {client.scheduler.address} ({n} workers)")
            out = harmonize(
                args.input, args.output, method=args.method, model=args.model, s2_10m=args.s2_10m,
                s2_20m=args.s2_20m, valid=args.valid, out_group=args.out_group, chunk=args.chunk,
                time_chunk=args.time_chunk, batch_size=args.batch_size, resume=args.resume,
                overwrite=args.overwrite, on_region=progress,
            )  # fmt: skip
    except FileExistsError as err:
        print(f"xharm harmonize: error: {err}", file=sys.stderr)
        return 2
    finally:
        for bar in bars:
            bar.close()
    dims = ", ".join(f"{d} {n}" for d, n in out.sizes.items())
    print(f"wrote {args.output}" + (f" (group {args.out_group})" if args.out_group else "") + f": {dims}")
    return 0


def _cmd_sharpen(args: argparse.Namespace) -> int:
    from .jobs import dask_client
    from .sharpening.job import sharpen_zarr

    try:
        with dask_client(args.scheduler, args.local_workers, args.gpu):
            out = sharpen_zarr(
                args.input, args.output, method=args.method, model=args.model, bands=args.bands,
                consistent=args.consistent, s2_10m=args.s2_10m, s2_20m=args.s2_20m, s2_60m=args.s2_60m,
                valid=args.valid, out_group=args.out_group, chunk=args.chunk, time_chunk=args.time_chunk,
                batch_size=args.batch_size, resume=args.resume, overwrite=args.overwrite,
            )  # fmt: skip
    except FileExistsError as err:
        print(f"xharm sharpen: error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: " + ", ".join(f"{d} {n}" for d, n in out.sizes.items()))
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .jobs import evaluate

    ev = evaluate(
        args.pred, args.ref, pred_group=args.pred_group, pred_var=args.pred_var, ref_group=args.ref_group,
        ref_var=args.ref_var, valid=args.valid, valid_store=args.valid_store, tolerance=args.tolerance,
        name=args.name,
    )  # fmt: skip
    print(ev)
    if args.json:
        import json

        with open(args.json, "w") as f:
            json.dump(ev.to_dict(), f, indent=1)
        print(f"wrote {args.json}")
    if args.csv:
        ev.to_frame().to_csv(args.csv, index=False)
        print(f"wrote {args.csv}")
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

    p = sub.add_parser(
        "harmonize",
        help="harmonize the Sentinel-2 cubes of a Zarr store to Landsat-like 30 m (resumable batch job)",
        description="Read groups s2_10m and s2_20m (variable 'reflectance') of IN, write the Landsat-like "
        "cube to OUT region by region. Rerun with --resume after an interruption.",
    )
    p.add_argument("input", metavar="IN.zarr")
    p.add_argument("output", metavar="OUT.zarr")
    p.add_argument("--method", default="mgan", choices=["mgan", "hls", "tra", "resample"])
    p.add_argument("--model", help="mgan: bundled model name or model folder (default: mgan-starter)")
    p.add_argument(
        "--s2-10m", default="s2_10m", metavar="GROUP", help="group of the 10 m cube (default s2_10m)"
    )
    p.add_argument(
        "--s2-20m", default="s2_20m", metavar="GROUP", help="group of the 20 m cube (default s2_20m)"
    )
    p.add_argument("--valid", metavar="GROUP/VAR", help="S2 clear mask in IN (e.g. s2_20m/s2_valid)")
    p.add_argument("--out-group", metavar="GROUP", help="group in OUT (default: the root)")
    p.add_argument("--chunk", type=int, default=512, help="output chunk side in 30 m px (default 512)")
    p.add_argument("--time-chunk", type=int, default=1, help="dates per chunk (default 1)")
    p.add_argument("--batch-size", type=int, default=16, help="mgan: patches per model call")
    p.add_argument("--resume", action="store_true", help="finish an interrupted run of the same job")
    p.add_argument("--overwrite", action="store_true", help="replace what OUT holds")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask.distributed scheduler (tcp://host:8786 or a scheduler file)",
    )
    where.add_argument(
        "--local-workers", type=int, metavar="N", help="start a local cluster of N worker processes"
    )
    where.add_argument(
        "--gpu", action="store_true", help="start a dask-cuda LocalCUDACluster (needs xharm[gpu])"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    handlers["harmonize"] = _cmd_harmonize

    p = sub.add_parser(
        "sharpen",
        help="sharpen Sentinel-2 20 m / 60 m bands of a Zarr store to 10 m (DSen2; resumable batch job)",
    )
    p.add_argument("input", metavar="IN.zarr")
    p.add_argument("output", metavar="OUT.zarr")
    p.add_argument("--method", default="dsen2", choices=["dsen2", "bicubic", "hpf"])
    p.add_argument("--model", help="dsen2: bundled model name or model folder (default: dsen2-starter)")
    p.add_argument("--bands", nargs="+", help="bands to sharpen (default B05 B06 B07 B8A B11 B12)")
    p.add_argument("--consistent", action="store_true", help="exact radiometric-consistency projection")
    for res in ("10m", "20m", "60m"):
        p.add_argument(f"--s2-{res}", default=None if res == "60m" else f"s2_{res}", metavar="GROUP")
    p.add_argument("--valid", metavar="GROUP/VAR", help="S2 clear mask in IN")
    p.add_argument("--out-group", metavar="GROUP")
    p.add_argument("--chunk", type=int, default=1024, help="output chunk side in 10 m px (default 1024)")
    p.add_argument("--time-chunk", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--resume", action="store_true", help="finish an interrupted run of the same job")
    p.add_argument("--overwrite", action="store_true", help="replace what OUT holds")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed scheduler address or file")
    where.add_argument("--local-workers", type=int, metavar="N", help="local cluster of N worker processes")
    where.add_argument("--gpu", action="store_true", help="dask-cuda LocalCUDACluster (needs xharm[gpu])")
    handlers["sharpen"] = _cmd_sharpen

    p = sub.add_parser(
        "evaluate",
        help="score a harmonized cube against a reference (SAM, ERGAS, RMSE, UIQI, PSNR, SSIM)",
        description="Compare each date of PRED with the nearest date of REF; print Table-IV style scores.",
    )
    p.add_argument("pred", metavar="PRED.zarr")
    p.add_argument("ref", metavar="REF.zarr")
    p.add_argument("--pred-group", metavar="GROUP", help="group in PRED (default: the root)")
    p.add_argument("--pred-var", default="reflectance", metavar="VAR")
    p.add_argument("--ref-group", default="l8", metavar="GROUP", help="group in REF (default l8)")
    p.add_argument("--ref-var", default="reflectance", metavar="VAR",
                   help="variable in REF (default reflectance; 'truth' for simulated stores)")  # fmt: skip
    p.add_argument("--valid", action="append", default=[], metavar="GROUP/VAR",
                   help="clear mask(s) to score on, from REF or --valid-store (repeatable)")  # fmt: skip
    p.add_argument("--valid-store", metavar="STORE.zarr", help="store of the --valid masks (default REF)")
    p.add_argument("--tolerance", default="1D", help="largest PRED-REF date difference (default 1D)")
    p.add_argument("--name", help="row label (default: the prediction's method)")
    p.add_argument("--json", metavar="FILE", help="write the scores as JSON")
    p.add_argument("--csv", metavar="FILE", help="write the scores as CSV (one row per method and band)")
    handlers["evaluate"] = _cmd_evaluate

    # `xharm train ...` is dispatched to xharm.train.cli.train_main in main(); listed here for --help.
    sub.add_parser(
        "train", help="train the MGAN on paired patches (see `xharm train --help`)", add_help=False
    )
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser, handlers = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # everything after `train` (--help included) is the trainer's
        from .train.cli import train_main

        return train_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return handlers[args.command](args)
    except XharmError as err:
        print(f"xharm {args.command}: error: {err}", file=sys.stderr)
        return 2
