"""The packed-operand kernel (``rnnkit.nn.packed``) against OpenBLAS, interleaved in one process.

    python benchmarks/packed_ab.py                 # writes benchmarks/results/packed_ab.md
    python benchmarks/packed_ab.py --repeats 5     # quicker

1. The steps' products alone, on one thread (as a wavefront's layer runs them): GFLOP/s of the packed
   kernel and of NumPy's BLAS, alternating call by call; median and best.
2. Whole layers, forward + backward, with the kernel on and off (``packed.ENABLED``), alternating
   run by run; medians, and how often the packed run of a pair was the faster: shapes (a) (a stack on
   the wavefront) and (b) (layer by layer), one layer of (a)'s size, and (d) (batch 1); all but (a)
   run their spans as compiled loops that call the kernel (without it: the Python loop with BLAS, or
   at (d) the compiled loop with its products row by row).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from probes import alternate

from rnnkit.nn import GRU, LSTM, RNN, packed

SHAPES = [(20, 650, 2600), (20, 2600, 650), (20, 650, 1950), (20, 650, 650), (20, 200, 800), (64, 256, 1024)]


def product_rates(calls: int) -> list[str]:
    rng = np.random.default_rng(0)
    rows = ["| product (one thread) | packed, median / best | BLAS, median / best |", "|---|---:|---:|"]
    for M, K, N in SHAPES:
        W = rng.standard_normal((K, N), dtype=np.float32)
        a = rng.standard_normal((M, K), dtype=np.float32)
        out = np.empty((M, N), np.float32)
        P = packed.PackedMatrix(W)
        times: dict[str, list[float]] = {"packed": [], "blas": []}
        with threadpool_limits(1):
            for _ in range(calls):
                for name, run in (("packed", lambda: P.matmul(a, out)), ("blas", lambda: np.matmul(a, W, out=out))):
                    t0 = time.perf_counter()
                    run()
                    times[name].append(time.perf_counter() - t0)
        flops = 2 * M * K * N
        rate = {k: (flops / np.median(v) / 1e9, flops / np.min(v) / 1e9) for k, v in times.items()}
        rows.append(f"| ({M} x {K}) @ ({K} x {N}) | {rate['packed'][0]:.0f} / {rate['packed'][1]:.0f} GFLOP/s "
                    f"| {rate['blas'][0]:.0f} / {rate['blas'][1]:.0f} GFLOP/s |")
    return rows


STACKS = {"(a) B20 T35 H650 L2": (20, 35, 650, 2), "(b) B20 T20 H200 L2": (20, 20, 200, 2),
          "B20 T35 H650, 1 layer": (20, 35, 650, 1), "(d) B1 T1000 H128 L1": (1, 1000, 128, 1)}


def stacks(repeats: int) -> list[str]:
    def use(flag):
        def apply(layer):
            packed.ENABLED = flag
        return apply

    rows = ["| fwd+bwd | packed kernel | without | ratio of medians | packed faster in |",
            "|---|---:|---:|---:|---:|"]
    try:
        for shape, (B, T, H, L) in STACKS.items():
            for name, cls in (("LSTM", LSTM), ("GRU", GRU), ("RNN", RNN)):
                layer = cls(H, H, num_layers=L, rng=np.random.default_rng(0))
                times = alternate(layer, {"on": use(True), "off": use(False)}, repeats, B, T)
                on, off = times["on"], times["off"]
                rows.append(f"| {name} {shape} | {np.median(on) * 1e3:.1f} ms | {np.median(off) * 1e3:.1f} ms | "
                            f"{np.median(on) / np.median(off):.3f} | {np.mean(on < off) * 100:.0f}% of "
                            f"{len(on)} pairs |")
    finally:
        packed.ENABLED = True
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=60, help="calls of each product (alternating)")
    parser.add_argument("--repeats", type=int, default=15, help="runs of each stack per setting")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "packed_ab.md")
    args = parser.parse_args()
    if not packed.ENABLED:
        raise SystemExit("the packed kernel is not available here (not built, not x86-64 with AVX2/FMA, "
                         "or RNNKIT_PACKED=0): nothing to compare")
    lines = [f"`python benchmarks/packed_ab.py --calls {args.calls} --repeats {args.repeats}` — "
             f"{time.strftime('%Y-%m-%d %H:%M:%S')}, {platform.processor() or platform.machine()}, "
             f"{len(__import__('os').sched_getaffinity(0))} cores", ""]
    lines += product_rates(args.calls) + [""] + stacks(args.repeats)
    text = "\n".join(lines) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
