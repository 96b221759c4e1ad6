"""Micro-tile shapes for the packed kernel's step products, side by side on one core.

    python benchmarks/tile_shapes.py                  # the steps' products of shapes (a), (b), (c)
    python benchmarks/tile_shapes.py --l1             # each tile alone, its panel kept in L1
    python benchmarks/tile_shapes.py --shapes 20x650x2600 --rounds 21

A tile of MR rows x 8*NQ columns keeps MR*NQ accumulators in AVX registers and, per k, loads NQ
registers of W and broadcasts MR values of A (``src/rnnkit/nn/_packed.c`` uses 4 x 24). This writes one
C kernel per shape, W packed into panels of that width and A into tiles of that height, and times whole
products (every panel through every tile, as ``_packed.c``'s ``panels`` for one row block), the shapes
in turn within each round; it prints each shape's median GFLOP/s. Needs gcc (as the install).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

TILES = [(5, 2), (4, 3), (10, 1), (12, 1), (6, 2), (3, 4), (2, 6)]  # (MR, NQ); 5 x 16 was the first
SHAPES = ["20x650x2600", "20x2600x650", "20x200x800", "64x256x1024"]  # M x K x N


def kernel(mr: int, nq: int) -> str:
    """C for ``t{mr}x{8nq}(K, Ap, Wp, C, ldc)``: C[0:mr, 0:8nq] = Ap (K x mr) @ Wp (K x 8nq)."""
    acc = [[f"c{r}_{q}" for q in range(nq)] for r in range(mr)]
    body = [f"        __m256 w{q} = _mm256_loadu_ps(Wp + {8 * q});" for q in range(nq)]
    for r in range(mr):
        body.append(f"        a = _mm256_broadcast_ss(Ap + {r});")
        body += [f"        {acc[r][q]} = _mm256_fmadd_ps(a, w{q}, {acc[r][q]});" for q in range(nq)]
    stores = [f"    _mm256_storeu_ps(C + {r} * ldc + {8 * q}, {acc[r][q]});" for r in range(mr) for q in range(nq)]
    names = ", ".join(f"{a} = _mm256_setzero_ps()" for row in acc for a in row)
    return "\n".join([
        f"T void t{mr}x{8 * nq}(long K, const float* Ap, const float* Wp, float* C, long ldc) {{",
        f"    __m256 {names}, a;",
        "    for (long k = 0; k < K; k++, Ap += %d, Wp += %d) {" % (mr, 8 * nq),
        *body,
        "    }",
        *stores,
        "}",
    ])


MAIN = r"""
typedef void (*tile_fn)(long, const float*, const float*, float*, long);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int by_value(const void* a, const void* b) { double x = *(const double*)a, y = *(const double*)b; return (x > y) - (x < y); }

int main(int argc, char** argv) {
    long M = atol(argv[1]), K = atol(argv[2]), N = atol(argv[3]), rounds = atol(argv[4]);
    int l1 = atoi(argv[5]);
    if (l1) { M = 0; K = 256; }
    float* W = malloc(K * (N + 64) * sizeof(float));
    float* A = malloc((M + 16) * K * sizeof(float));
    float* C = aligned_alloc(64, (M + 16 * 12 + 16) * (N + 64) * sizeof(float)); /* --l1: 16 tiles of <= 12 rows */
    for (long i = 0; i < K * (N + 64); i++) W[i] = (i % 13) * 0.01f;
    for (long i = 0; i < (M + 16) * K; i++) A[i] = (i % 7) * 0.01f;
    long ldc = N + 64;
    float *Wp[NT], *Ap[NT];
    double* rate[NT];
    for (int s = 0; s < NT; s++) {
        long nr = NRS[s], mr = MRS[s], panels = (N + nr - 1) / nr, tiles = l1 ? 16 : (M + mr - 1) / mr;
        Wp[s] = aligned_alloc(64, (panels * K * nr + 16) * sizeof(float));
        Ap[s] = aligned_alloc(64, (tiles * K * mr + 16) * sizeof(float));
        for (long p = 0; p < panels; p++)
            for (long k = 0; k < K; k++)
                for (long j = 0; j < nr; j++) Wp[s][(p * K + k) * nr + j] = p * nr + j < N ? W[k * N + p * nr + j] : 0;
        for (long t = 0; t < tiles; t++)
            for (long k = 0; k < K; k++)
                for (long r = 0; r < mr; r++) Ap[s][(t * K + k) * mr + r] = A[((t * mr + r) % (M + 16)) * K + k];
        rate[s] = malloc(rounds * sizeof(double));
    }
    for (long r = 0; r < rounds; r++)
        for (int s = 0; s < NT; s++) {
            long nr = NRS[s], mr = MRS[s], panels = (N + nr - 1) / nr, tiles = (M + mr - 1) / mr;
            double flops = 0, t0 = now();
            if (l1) { /* one panel of 256 rows, 16 tiles of A in turn: all in L1 */
                for (long i = 0; i < 200000; i++) TILE[s](K, Ap[s] + (i % 16) * K * mr, Wp[s], C + (i % 16) * mr * ldc, ldc);
                flops = 2.0 * K * mr * nr * 200000;
            } else {
                long calls = 1 + (long)(1e9 / (2.0 * M * K * N));
                for (long i = 0; i < calls; i++)
                    for (long p = 0; p < panels; p++)
                        for (long t = 0; t < tiles; t++)
                            TILE[s](K, Ap[s] + t * K * mr, Wp[s] + p * K * nr, C + t * mr * ldc + p * nr, ldc);
                flops = 2.0 * M * K * N * calls;
            }
            rate[s][r] = flops / (now() - t0) / 1e9;
        }
    for (int s = 0; s < NT; s++) {
        qsort(rate[s], rounds, sizeof(double), by_value);
        printf("  %2ld x %2ld: %5.1f GFLOP/s (quartiles %.1f-%.1f)\n", MRS[s], NRS[s], rate[s][rounds / 2],
               rate[s][rounds / 4], rate[s][(3 * rounds) / 4]);
    }
    return 0;
}
"""


def source(tiles) -> str:
    head = ["#include <immintrin.h>", "#include <stdio.h>", "#include <stdlib.h>", "#include <time.h>",
            '#define T __attribute__((target("avx2,fma"))) static']
    kernels = [kernel(mr, nq) for mr, nq in tiles]
    table = [f"#define NT {len(tiles)}",
             "static const long MRS[NT] = {%s};" % ", ".join(str(mr) for mr, _ in tiles),
             "static const long NRS[NT] = {%s};" % ", ".join(str(8 * nq) for _, nq in tiles)]
    fns = "static void (*const TILE[NT])(long, const float*, const float*, float*, long) = {%s};" % ", ".join(
        f"t{mr}x{8 * nq}" for mr, nq in tiles)
    return "\n".join(head + kernels + table + [fns, MAIN])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=SHAPES, help="products M x K x N")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--l1", action="store_true", help="each tile on one panel kept in L1 instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = Path(tmp) / "tiles.c", Path(tmp) / "tiles"
        src.write_text(source(TILES))
        subprocess.run(["gcc", "-O3", "-o", str(exe), str(src)], check=True)
        for shape in ([SHAPES[0]] if args.l1 else args.shapes):
            M, K, N = shape.split("x")
            print("each tile alone, K = 256, in L1:" if args.l1 else f"({M} x {K}) @ ({K} x {N}), one core:")
            subprocess.run([str(exe), M, K, N, str(args.rounds), "1" if args.l1 else "0"], check=True)


if __name__ == "__main__":
    main()
