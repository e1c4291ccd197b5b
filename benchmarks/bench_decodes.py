"""How often the MGAN job decodes each input chunk, and the best any eviction order could do.

Writes the synthetic tiled Sentinel-2 L2A store of ``bench_memory.py`` (``--src-chunk`` px
at 10 m, half at 20 m), runs :func:`xharm.jobs.harmonize` on it with every request to the
job's :class:`xharm.io.zarr.SourceCache` recorded (chunk, hit or decode), times a few
decodes of each input alone (CPU of all threads: Zarr decodes on its own threads), then
replays the recorded request stream offline under two eviction rules at several bounds:

- least recently used (the cache's rule; checks the replay against the job's own count);
- Belady's optimal rule: evict the chunk needed furthest in the future, drop chunks never
  needed again at once. No cache that keeps whole decoded chunks can decode fewer times on
  this stream at that bound.

Prints requests, distinct chunks and decodes of the job, the CPU its decodes cost against
the job's wall time, the replay table, and the decode CPU the optimal rule would save at the
job's bound.

Usage::

    python benchmarks/bench_decodes.py [--size-km 60] [--dates 2] [--src-chunk 1024] [--chunk 512]
"""

from __future__ import annotations

import argparse
import collections
import math
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

BOUNDS_MIB = (64, 96, 128, 192, 256, 384)


Stream = list[tuple[str, tuple[int, ...], int]]


def record(src: str, dst: str, chunk: int) -> tuple[Stream, float, int, int]:
    """Run the job with the cache's requests logged: ``(stream, job s, decodes, cache bound)``."""
    from xharm import jobs
    from xharm.io import zarr as xz

    stream: list[tuple[str, tuple[int, ...], int]] = []
    decodes = [0]
    lock = threading.Lock()
    bound = [0]
    orig = xz.SourceCache.get

    def get(self, key, arr, idx):  # type: ignore[no-untyped-def]
        bound[0] = self.max_bytes
        with self._lock:
            hit = (key, idx) in self._chunks or (key, idx) in self._pending
        block = orig(self, key, arr, idx)
        with lock:
            stream.append((key, tuple(idx), int(block.nbytes)))
            decodes[0] += not hit
        return block

    xz.SourceCache.get = get  # type: ignore[method-assign]
    try:
        t0 = time.perf_counter()
        jobs.harmonize(src, dst, method="mgan", model="mgan-starter", chunk=chunk, batch_size=16)
        return stream, time.perf_counter() - t0, decodes[0], bound[0]
    finally:
        xz.SourceCache.get = orig  # type: ignore[method-assign]


def decode_cpu(stream: Stream, n: int = 6) -> dict[str, float]:
    """CPU seconds (all threads: Zarr decodes on its own) of one decode, per array, ``n`` decodes each."""
    import zarr

    out = {}
    for key in sorted({k for k, _, _ in stream}):
        store, _, path = key.partition("::")
        arr = zarr.open_array(store, path=path, mode="r")
        idxs = list(dict.fromkeys(i for k, i, _ in stream if k == key))[:n]
        t0 = time.process_time()
        for idx in idxs:
            arr.get_block_selection(idx)
        out[key] = (time.process_time() - t0) / len(idxs)
    return out


def replay(stream: Stream, rule: str, max_bytes: int, keep: int = 4) -> int:
    """Decodes of ``stream`` under ``rule`` (``"lru"`` or ``"belady"``) with ``max_bytes`` kept."""
    keys = [(k, i) for k, i, _ in stream]
    size = {(k, i): n for k, i, n in stream}
    nxt = [math.inf] * len(keys)
    last: dict[tuple[str, tuple[int, ...]], int] = {}
    for n in range(len(keys) - 1, -1, -1):
        nxt[n] = last.get(keys[n], math.inf)
        last[keys[n]] = n
    cache: collections.OrderedDict[tuple[str, tuple[int, ...]], int] = collections.OrderedDict()
    next_use: dict[tuple[str, tuple[int, ...]], float] = {}
    held = decodes = 0
    for n, k in enumerate(keys):
        if k in cache:
            cache.move_to_end(k)
        else:
            decodes += 1
            cache[k] = size[k]
            held += size[k]
        next_use[k] = nxt[n]
        if rule == "belady":
            for gone in [c for c in cache if next_use[c] == math.inf]:
                held -= cache.pop(gone)
        while len(cache) > keep and held > max_bytes:
            victim = next(iter(cache)) if rule == "lru" else max(cache, key=next_use.__getitem__)
            held -= cache.pop(victim)
    return decodes


def main(argv: list[str] | None = None) -> None:
    import bench_memory

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-km", type=float, default=60.0)
    ap.add_argument("--dates", type=int, default=2)
    ap.add_argument("--src-chunk", type=int, default=1024, help="input chunk side at 10 m (20 m: half)")
    ap.add_argument("--chunk", type=int, default=512, help="output chunk side (30 m px)")
    args = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="xharm-decodes-"))
    try:
        src, dst = str(work / "in.zarr"), str(work / "out.zarr")
        bench_memory._make_store(src, args.size_km, args.dates, args.src_chunk)
        stream, job_s, job_decodes, bound = record(src, dst, args.chunk)
        cost = decode_cpu(stream)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    distinct = len({(k, i) for k, i, _ in stream})
    lru = {b: replay(stream, "lru", b << 20) for b in BOUNDS_MIB}
    best = {b: replay(stream, "belady", b << 20) for b in BOUNDS_MIB}
    per_decode = sum(cost[k] for k, _, _ in stream) / len(stream)  # mean over requests, as replayed
    decode_s = job_decodes * per_decode
    print(f"{args.size_km:g} km, {args.dates} dates, input chunks {args.src_chunk} px at 10 m, output chunk "
          f"{args.chunk} px; cache bound {bound >> 20} MiB")  # fmt: skip
    print(f"job {job_s:.1f} s: {len(stream)} requests for {distinct} chunks, {job_decodes} decodes, about "
          f"{decode_s:.1f} CPU s ({per_decode * 1e3:.0f} ms each, timed alone after the job)")  # fmt: skip
    print(f"{'bound MiB':>10}{'LRU decodes':>13}{'optimal decodes':>17}")
    for b in BOUNDS_MIB:
        print(f"{b:>10}{lru[b]:>13}{best[b]:>17}")
    at = max((b for b in BOUNDS_MIB if b << 20 <= bound), default=BOUNDS_MIB[0])
    saved = (lru[at] - best[at]) * per_decode
    share = 100 * saved / job_s
    print(f"optimal eviction at {at} MiB: {lru[at] - best[at]} decodes fewer, about {saved:.1f} CPU s "
          f"({share:.1f} % of the job's wall time); one decode per chunk: {distinct}")  # fmt: skip


if __name__ == "__main__":
    main()
