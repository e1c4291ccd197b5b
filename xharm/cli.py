"""The ``xharm`` command line: a thin layer over the public functions.

Each sub-command imports what it needs when it runs, so ``xharm --help`` is instant.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from .exceptions import XharmError

__all__ = ["main"]

Handler = Callable[[argparse.Namespace], int]


def _cmd_sensors(args: argparse.Namespace) -> int:
    from .core.sensors import SENSORS, get_sensor

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


def _scene_args(p: argparse.ArgumentParser, *, dates: int, seed: int) -> None:
    """The options of a simulated scene (demo and simulate)."""
    p.add_argument("--size-km", type=float, default=3.0, help="scene side in km")
    p.add_argument("--dates", type=int, default=dates, help="number of acquisition dates")
    p.add_argument("--seed", type=int, default=seed, help="random seed (same seed, same scene)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def _cmd_simulate(args: argparse.Namespace) -> int:
    from .simulate import to_zarr

    to_zarr(
        args.out,
        n_dates=args.dates,
        size_km=args.size_km,
        seed=args.seed,
        progress=not args.quiet,
        overwrite=args.overwrite,
        archetype=args.archetype,
        level=args.level,
    )
    print(f"wrote {args.out} (groups s2_10m, s2_20m, l8, labels)")
    return 0


def _note_unused_masks(command: str, store: str, groups: Sequence[str | None], valid: str | None) -> None:
    """Print a note when ``--valid`` is not given but the input store holds a clear mask."""
    if valid is not None:
        return
    from .io.zarr import clear_masks

    found = [m for g in dict.fromkeys(groups) if g for m in clear_masks(store, g)]
    if found:
        print(
            f"note: no --valid given, so cloudy pixels go through {command} as if clear; {store} has the "
            f"clear mask {', '.join(found)}: pass --valid {found[0]} to mask clouds and shadows",
            file=sys.stderr,
        )


class _RegionProgress:
    """``on_region`` of a region job on the command line: before the first region (the inputs
    are checked, nothing computed yet) the note on an unused clear mask, then a progress bar."""

    def __init__(self, command: str, args: argparse.Namespace, groups: Sequence[str | None]) -> None:
        self.command, self.args, self.groups = command, args, groups
        self.bar: Any = None
        self.before = self.total = 0  # regions already written when the job started; all regions

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            from tqdm.auto import tqdm

            _note_unused_masks(f"xharm {self.command}", self.args.input, self.groups, self.args.valid)
            desc = f"xharm {self.command} ({self.args.method})"
            self.bar = tqdm(total=total, initial=done, desc=desc, unit="region", disable=self.args.quiet)
            self.before = done
        self.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def report(self, out: Any) -> None:
        """The closing lines: nothing to do on a finished job resumed, then what was written."""
        a = self.args
        if a.resume and self.bar is not None and self.before == self.total:
            print(f"nothing to do: all {self.total} regions of {a.output} were already written")
        dims = ", ".join(f"{d} {n}" for d, n in out.sizes.items())
        print(f"wrote {a.output}" + (f" (group {a.out_group})" if a.out_group else "") + f": {dims}")


def _say_scheduler(client: Any) -> None:
    """The line a region job prints when it runs on a ``dask.distributed`` cluster (None: threads)."""
    if client is not None:
        n = len(client.scheduler_info()["workers"])
        print(f"dask scheduler: {client.scheduler.address} ({n} workers)")


def _cmd_harmonize(args: argparse.Namespace) -> int:
    from .jobs import dask_client, harmonize

    progress = _RegionProgress("harmonize", args, [args.s2_20m, args.s2_10m])
    try:
        with dask_client(args.scheduler, args.local_workers, args.gpu) as client:
            _say_scheduler(client)
            out = harmonize(
                args.input, args.output, method=args.method, model=args.model, s2_10m=args.s2_10m,
                s2_20m=args.s2_20m, valid=args.valid, out_group=args.out_group, chunk=args.chunk,
                time_chunk=args.time_chunk, batch_size=args.batch_size, resume=args.resume,
                overwrite=args.overwrite, on_region=progress, in_flight=args.in_flight,
            )  # fmt: skip
    finally:  # bad input (FileExistsError, XharmError): main prints it and exits 2
        progress.close()
    progress.report(out)
    return 0


def _cmd_sharpen(args: argparse.Namespace) -> int:
    from .jobs import dask_client, sharpen

    progress = _RegionProgress("sharpen", args, [args.s2_20m, args.s2_10m, args.s2_60m])
    try:
        with dask_client(args.scheduler, args.local_workers, args.gpu) as client:
            _say_scheduler(client)
            out = sharpen(
                args.input, args.output, method=args.method, model=args.model, bands=args.bands,
                consistent=args.consistent, s2_10m=args.s2_10m, s2_20m=args.s2_20m, s2_60m=args.s2_60m,
                valid=args.valid, out_group=args.out_group, chunk=args.chunk, time_chunk=args.time_chunk,
                batch_size=args.batch_size, resume=args.resume, overwrite=args.overwrite, on_region=progress,
            )  # fmt: skip
    finally:  # bad input (FileExistsError, XharmError): main prints it and exits 2
        progress.close()
    progress.report(out)
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import score_stores
    from .validate import check_writable_file

    for path, what in ((args.json, "--json file"), (args.csv, "--csv file")):
        if path:  # before scoring, so a typo does not cost the whole evaluation
            check_writable_file(path, what)
    ev = score_stores(
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
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="xharm",
        description="Harmonize dense satellite time series (Sentinel-2 -> Landsat-8/9-like) in xarray.",
    )
    parser.add_argument("--version", action="version", version=f"xharm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    handlers: dict[str, Handler] = {}

    p = sub.add_parser("sensors", help="print the band tables xharm knows")
    p.add_argument("sensor", nargs="?", help="one sensor (e.g. S2B, landsat-8); default: all")
    handlers["sensors"] = _cmd_sensors

    p = sub.add_parser("demo", help="simulate a scene pair, harmonize it, score it, write Zarr + PNG")
    p.add_argument("--out", default="xharm-demo", help="output folder")
    _scene_args(p, dates=4, seed=2021)
    p.add_argument("--baselines-only", action="store_true", help="skip the MGAN model")
    handlers["demo"] = _cmd_demo

    p = sub.add_parser(
        "simulate",
        help="write a simulated S2/L8 pair series to Zarr",
        description="Simulate same-day Sentinel-2 / Landsat-8 pairs (clouds, masks, crop phenology) and "
        "write groups s2_10m, s2_20m, l8 (with the clear-sky 'truth') and labels to OUT.",
    )
    p.add_argument("out", metavar="OUT.zarr", help="output Zarr store, e.g. pairs.zarr")
    _scene_args(p, dates=6, seed=0)
    p.add_argument(
        "--archetype",
        choices=("central_europe", "plains", "smallholder", "forest_hills", "peri_urban", "auto"),
        default="central_europe",
        help="landscape archetype (auto: one drawn from the seed)",
    )
    p.add_argument("--level", choices=("L2", "L1"), default="L2", help="surface reflectance (L2) or TOA (L1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    handlers["simulate"] = _cmd_simulate

    p = sub.add_parser(
        "harmonize",
        help="harmonize the Sentinel-2 cubes of a Zarr store to Landsat-like 30 m (resumable batch job)",
        description="Read groups s2_10m and s2_20m (variable 'reflectance') of IN, write the Landsat-like "
        "cube to OUT region by region. Rerun with --resume after an interruption.",
    )
    p.add_argument("input", metavar="IN.zarr", help="input store (e.g. written by xharm simulate)")
    p.add_argument("output", metavar="OUT.zarr", help="output store (refused if it exists, see --resume)")
    p.add_argument(
        "--method",
        default="mgan",
        choices=["mgan", "hls", "tra", "resample"],
        help="mgan: the neural model (Sedona et al. 2021; see --model); hls: NASA HLS v2.0 "
        "(30 m regrid, BRDF normalisation, bandpass adjustment); tra: per-pixel time-series "
        "regression on Landsat (Shang & Zhu 2019); resample: the 30 m regrid only",
    )
    p.add_argument("--model", help="mgan: bundled model name or model folder (default: mgan-starter)")
    p.add_argument(
        "--s2-10m", default="s2_10m", metavar="GROUP", help="group of the 10 m cube (default s2_10m)"
    )
    p.add_argument(
        "--s2-20m", default="s2_20m", metavar="GROUP", help="group of the 20 m cube (default s2_20m)"
    )
    p.add_argument("--valid", metavar="GROUP/VAR",
                   help="S2 clear mask in IN (e.g. s2_20m/s2_valid): output is NaN where not clear, and "
                   "the 30 m mask is written to OUT as the variable 'valid' (default: no mask)")  # fmt: skip
    p.add_argument("--out-group", metavar="GROUP", help="group in OUT (default: the root)")
    p.add_argument("--chunk", type=int, default=512, help="output chunk side in 30 m px")
    p.add_argument("--time-chunk", type=int, default=1, help="dates per chunk")
    p.add_argument("--batch-size", type=int, default=16, help="mgan: patches per model call")
    p.add_argument("--in-flight", type=int, default=2, metavar="N",
                   help="regions computed at once (default 2; a cluster: at least its threads)")  # fmt: skip
    p.add_argument("--resume", action="store_true",
                   help="finish an interrupted run of the same job (same arguments); "
                   "not with --overwrite")  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace what OUT holds; not with --resume")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="dask.distributed scheduler (tcp://host:8786 or a scheduler file); default: local threads",
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
    p.add_argument(
        "--chunk",
        type=int,
        default=1024,
        help="output chunk side in 10 m px (default 1024; a network rounds it to whole kept patch centres)",
    )
    p.add_argument("--time-chunk", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--resume", action="store_true", help="finish an interrupted run of the same job")
    p.add_argument("--overwrite", action="store_true", help="replace what OUT holds")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="dask.distributed scheduler address or file")
    where.add_argument("--local-workers", type=int, metavar="N", help="local cluster of N worker processes")
    where.add_argument("--gpu", action="store_true", help="dask-cuda LocalCUDACluster (needs xharm[gpu])")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    handlers["sharpen"] = _cmd_sharpen

    p = sub.add_parser(
        "evaluate",
        help="score a harmonized cube against a reference (SAM, ERGAS, RMSE, UIQI, PSNR, SSIM)",
        description="Compare each date of PRED with the nearest date of REF; print Table-IV style scores.",
    )
    p.add_argument("pred", metavar="PRED.zarr", help="the prediction, e.g. written by xharm harmonize")
    p.add_argument("ref", metavar="REF.zarr", help="the reference, e.g. written by xharm simulate")
    p.add_argument("--pred-group", metavar="GROUP", help="group in PRED (default: the root)")
    p.add_argument("--pred-var", default="reflectance", metavar="VAR", help="variable in PRED")
    p.add_argument("--ref-group", default="l8", metavar="GROUP", help="group in REF")
    p.add_argument("--ref-var", metavar="VAR",
                   help="variable in REF (default: 'truth' when the group has one, the clear-sky truth of "
                   "simulated stores, else 'reflectance', an observation whose *valid masks are then "
                   "applied); the choice is printed")  # fmt: skip
    p.add_argument("--valid", action="append", default=[], metavar="GROUP/VAR",
                   help="clear mask(s) to score on, from REF or --valid-store (repeatable; default: only the "
                   "masks stored with PRED and, for an observation, with REF)")  # fmt: skip
    p.add_argument("--valid-store", metavar="STORE.zarr", help="store of the --valid masks (default REF)")
    p.add_argument("--tolerance", default="1D", help="largest PRED-REF date difference (pandas Timedelta)")
    p.add_argument("--name", help="row label (default: the prediction's method)")
    p.add_argument("--json", metavar="FILE", help="write the scores as JSON")
    p.add_argument("--csv", metavar="FILE", help="write the scores as CSV (one row per method and band)")
    handlers["evaluate"] = _cmd_evaluate

    # `xharm train ...` is dispatched to xharm.recipe.train_main in main(); listed here for --help.
    sub.add_parser(
        "train", help="train the MGAN on paired patches (see `xharm train --help`)", add_help=False
    )
    return parser, handlers


class _Defaults(argparse.HelpFormatter):
    """Appends ``(default: X)`` to an option's help unless it names its default itself."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            "default" in text
            or action.default in (None, False, argparse.SUPPRESS)
            or not action.option_strings
        ):
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    """Sub-command parser whose help shows every option's default."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Defaults)
        super().__init__(*args, **kwargs)


def _show_warning(command: str) -> Any:
    """``warnings.showwarning`` for the command line: xharm's own warnings as one line
    ``xharm COMMAND: warning: ...`` (no source line of the package); others as Python prints them."""
    default = warnings.showwarning
    package = os.path.dirname(os.path.abspath(__file__))

    def show(
        message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None
    ) -> None:
        if os.path.abspath(filename).startswith(package + os.sep):
            print(f"xharm {command}: warning: {message}", file=sys.stderr if file is None else file)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser, handlers = _parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:  # everything after `train` (--help included) is the trainer's
        from .recipe import train_main

        return train_main(argv[1:])
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(args.command)
            return handlers[args.command](args)
    except (XharmError, FileExistsError) as err:  # bad input: the message, no traceback
        print(f"xharm {args.command}: error: {err}", file=sys.stderr)
        return 2
