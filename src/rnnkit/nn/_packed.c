/* Products with a fixed right operand, packed once: C = A @ W (+ D), float32, on the calling thread
 * or shared with one helper thread (rnnkit_packed_matmul2, below).
 *
 * Why: a recurrent layer's time loop multiplies a narrow (B, K) block by the same weight matrix
 * W (K, N) at every step. A general BLAS call re-packs W into its own panel layout on each call --
 * for (20, 650) @ (650, 2600) that is 6.8 MB read and written per step beside 34M multiply-adds.
 * Here W is packed once per sequence (pack) and each step runs only the compute kernel (matmul).
 *
 * Layout: W becomes ceil(N/24) panels of 24 columns, each K x 24 contiguous (zero padded past N).
 * A is copied, per block of KC rows of W, into tiles of 4 rows, k-major. The 4 x 24 micro-kernel keeps
 * its 12 accumulators in AVX registers: per k, three loads of W, four broadcasts of A, twelve FMAs.
 * Against the 5 x 16 tile it replaced (7 loads per 10 FMAs), alternating builds in one process
 * (benchmarks/kernel_ab.sh --against 8a42d68, results/kernel_ab_tile.md; other shapes side by side:
 * benchmarks/tile_shapes.py): 1.16-1.24x the rate of
 * the steps' products at batch 20 and 64, on one core and on two; at batch 1 on one core, where the
 * 16-column panels fit hidden 128 exactly, 0.88-0.94x (one_row).
 *
 * Built with the package (setup.py, optional: without a C compiler rnnkit uses NumPy's BLAS).
 * The AVX2/FMA code is compiled for that target alone and only runs where rnnkit_packed_supported()
 * says the CPU has both. Called through ctypes, which releases the GIL for the call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NR 24         /* columns per panel: three AVX registers */
#define NQ (NR / 8)   /* AVX registers per row of a panel */
#define MR 4          /* rows per micro-tile */
/* rows of W per block. At hidden 650 a step's K is 650 (forward: one block, so its walk through W is one
 * sequential stream, a panel after the next, and C is written once) or 2600 (backward: three). Against 384
 * and 256, alternating builds in one process (benchmarks/kernel_ab.sh, results/kernel_ab.md, with the
 * 5 x 16 tile): 1.03-1.07x 384's rate for the steps' products at hidden 650 and 200, on one core and on
 * two; 256 was slower still. With the 4 x 24 tile, 256-2048 were within 0.85-1.04x of it (kernel_ab.sh
 * 1024 256 320, kernel_ab.sh 1024 512 2048). */
#ifndef KC
#define KC 1024
#endif

long rnnkit_packed_size(long K, long N) { return ((N + NR - 1) / NR) * K * NR; }

/* dst[k][j] = src[j * ld + k] for k < 8, j < NR (a transposed panel's 8 rows), where AVX runs */
typedef void (*transpose8_t)(const float* src, long ld, float* dst);
static transpose8_t transpose8 = NULL;

/* panels [p0, p1) of rnnkit_pack's output, kb rows of W at a time */
static void pack_panels(const float* W, long K, long N, long rs, long cs, float* out, long p0, long p1, long kb) {
    for (long k0 = 0; k0 < K; k0 += kb) {
        long k1 = k0 + kb < K ? k0 + kb : K;
        for (long p = p0; p < p1; p++) {
            float* dst = out + p * K * NR;
            long j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
            if (cs == 1 && w == NR) {
                for (long k = k0; k < k1; k++) memcpy(dst + k * NR, W + k * rs + j0, NR * sizeof(float));
            } else if (rs == 1) { /* a transpose: each of the panel's columns is a contiguous row */
                long k = k0;
                if (w == NR && transpose8) for (; k + 8 <= k1; k += 8) transpose8(W + j0 * cs + k, cs, dst + k * NR);
                for (long j = 0; j < NR; j++) {
                    const float* src = W + (j0 + j) * cs;
                    for (long kk = k; kk < k1; kk++) dst[kk * NR + j] = j < w ? src[kk] : 0.0f;
                }
            } else {
                for (long k = k0; k < k1; k++) {
                    const float* src = W + k * rs + j0 * cs;
                    long j = 0;
                    for (; j < w; j++) dst[k * NR + j] = src[j * cs];
                    for (; j < NR; j++) dst[k * NR + j] = 0.0f;
                }
            }
        }
    }
}

/* out[p][k][j] = W[k, p*NR + j] (0 past N); W's element (k, n) at W[k*rs + n*cs], so a transpose
 * is packed straight from the untransposed array: there in blocks of 128 rows of W, 8 x 8 at a time
 * (three times faster than column by column over all of K: 0.48 against 1.58 ms for 2600 x 650). */
void rnnkit_pack(const float* W, long K, long N, long rs, long cs, float* out) {
    pack_panels(W, K, N, rs, cs, out, 0, (N + NR - 1) / NR, rs == 1 ? 128 : K);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TARGET __attribute__((target("avx2,fma")))

/* c[0:w] = v + base[0:w], w <= 8 (base may be NULL, or c itself) */
TARGET static inline void store8(float* c, const float* base, __m256 v, long w) {
    if (w == 8) {
        _mm256_storeu_ps(c, base ? _mm256_add_ps(v, _mm256_loadu_ps(base)) : v);
        return;
    }
    float row[8];
    _mm256_storeu_ps(row, v);
    for (long j = 0; j < w; j++) c[j] = base ? base[j] + row[j] : row[j];
}

/* c[0:w] = v + base[0:w] (base may be NULL, or c itself); v: a panel's row, NQ registers */
TARGET static inline void store(float* c, const float* base, const __m256* v, long w) {
    for (long q = 0; q < NQ && 8 * q < w; q++)
        store8(c + 8 * q, base ? base + 8 * q : NULL, v[q], w - 8 * q < 8 ? w - 8 * q : 8);
}

/* transpose8 where AVX runs: NQ 8 x 8 blocks, the panel's columns 0-7, 8-15, ... */
TARGET static void transpose8_avx(const float* src, long ld, float* dst) {
    for (int q = 0; q < NQ; q++, src += 8 * ld, dst += 8) {
        __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + ld), r2 = _mm256_loadu_ps(src + 2 * ld),
               r3 = _mm256_loadu_ps(src + 3 * ld), r4 = _mm256_loadu_ps(src + 4 * ld),
               r5 = _mm256_loadu_ps(src + 5 * ld), r6 = _mm256_loadu_ps(src + 6 * ld),
               r7 = _mm256_loadu_ps(src + 7 * ld);
        __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1), t2 = _mm256_unpacklo_ps(r2, r3),
               t3 = _mm256_unpackhi_ps(r2, r3), t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5),
               t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
        __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE),
               u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE),
               u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE),
               u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
        _mm256_storeu_ps(dst + 0 * NR, _mm256_permute2f128_ps(u0, u4, 0x20));
        _mm256_storeu_ps(dst + 1 * NR, _mm256_permute2f128_ps(u1, u5, 0x20));
        _mm256_storeu_ps(dst + 2 * NR, _mm256_permute2f128_ps(u2, u6, 0x20));
        _mm256_storeu_ps(dst + 3 * NR, _mm256_permute2f128_ps(u3, u7, 0x20));
        _mm256_storeu_ps(dst + 4 * NR, _mm256_permute2f128_ps(u0, u4, 0x31));
        _mm256_storeu_ps(dst + 5 * NR, _mm256_permute2f128_ps(u1, u5, 0x31));
        _mm256_storeu_ps(dst + 6 * NR, _mm256_permute2f128_ps(u2, u6, 0x31));
        _mm256_storeu_ps(dst + 7 * NR, _mm256_permute2f128_ps(u3, u7, 0x31));
    }
}

/* C[0:mr, 0:w] = Ap (kc x MR) @ Wp (kc x NR), plus C's own value (acc) or D's (add) */
TARGET static void tile(long kc, const float* Ap, const float* Wp, float* C, long ldc, const float* D,
                        long ldd, long mr, long w, int acc) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00,
           c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
    for (long k = 0; k < kc; k++) {
        __m256 w0 = _mm256_loadu_ps(Wp), w1 = _mm256_loadu_ps(Wp + 8), w2 = _mm256_loadu_ps(Wp + 16), a;
        a = _mm256_broadcast_ss(Ap + 0);
        c00 = _mm256_fmadd_ps(a, w0, c00); c01 = _mm256_fmadd_ps(a, w1, c01); c02 = _mm256_fmadd_ps(a, w2, c02);
        a = _mm256_broadcast_ss(Ap + 1);
        c10 = _mm256_fmadd_ps(a, w0, c10); c11 = _mm256_fmadd_ps(a, w1, c11); c12 = _mm256_fmadd_ps(a, w2, c12);
        a = _mm256_broadcast_ss(Ap + 2);
        c20 = _mm256_fmadd_ps(a, w0, c20); c21 = _mm256_fmadd_ps(a, w1, c21); c22 = _mm256_fmadd_ps(a, w2, c22);
        a = _mm256_broadcast_ss(Ap + 3);
        c30 = _mm256_fmadd_ps(a, w0, c30); c31 = _mm256_fmadd_ps(a, w1, c31); c32 = _mm256_fmadd_ps(a, w2, c32);
        Ap += MR;
        Wp += NR;
    }
    __m256 rows[MR][NQ] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32}};
    for (long r = 0; r < mr; r++) store(C + r * ldc, acc ? C + r * ldc : (D ? D + r * ldd : NULL), rows[r], w);
}

/* x[0:nq] = a (1 x K) @ the first 8 * nq columns of one panel w (x[nq:] = 0): a ragged last panel
 * reads only the registers it fills */
TARGET static void panel_row(long K, const float* a, const float* w, long nq, __m256* x) {
    __m256 x0 = _mm256_setzero_ps(), x1 = x0, x2 = x0;
    if (nq == 3) {
        for (long k = 0; k < K; k++, w += NR) {
            __m256 ak = _mm256_broadcast_ss(a + k);
            x0 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(w), x0);
            x1 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(w + 8), x1);
            x2 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(w + 16), x2);
        }
    } else if (nq == 2) {
        for (long k = 0; k < K; k++, w += NR) {
            __m256 ak = _mm256_broadcast_ss(a + k);
            x0 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(w), x0);
            x1 = _mm256_fmadd_ps(ak, _mm256_loadu_ps(w + 8), x1);
        }
    } else {
        for (long k = 0; k < K; k++, w += NR)
            x0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k), _mm256_loadu_ps(w), x0);
    }
    x[0] = x0;
    x[1] = x1;
    x[2] = x2;
}

/* panels [p0, p1) of c (1 x N) = a (1 x K) @ W + d (d may be NULL or c): a batch of one, where the
 * 4-row tile would waste 3/4 of its work. Four panels at a time (twelve accumulators, W read once),
 * then two, then one. The two groups are written out: as one inline function looping over its panels
 * GCC kept the sums out of registers (0.70-0.84x). Every column sums over k in order, however it is
 * grouped, so one core and two give the same bits. */
TARGET static void one_row(long N, long K, const float* a, const float* Wp, float* c, const float* d,
                           long p0, long p1) {
    long p = p0, s = K * NR;
    for (; p + 4 <= p1; p += 4) {
        const float* w = Wp + p * s;
        __m256 x00 = _mm256_setzero_ps(), x01 = x00, x02 = x00, x10 = x00, x11 = x00, x12 = x00,
               x20 = x00, x21 = x00, x22 = x00, x30 = x00, x31 = x00, x32 = x00;
        for (long k = 0; k < K; k++, w += NR) {
            __m256 x = _mm256_broadcast_ss(a + k);
            x00 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w), x00);
            x01 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 8), x01);
            x02 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 16), x02);
            x10 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + s), x10);
            x11 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + s + 8), x11);
            x12 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + s + 16), x12);
            x20 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 2 * s), x20);
            x21 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 2 * s + 8), x21);
            x22 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 2 * s + 16), x22);
            x30 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 3 * s), x30);
            x31 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 3 * s + 8), x31);
            x32 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 3 * s + 16), x32);
        }
        __m256 rows[4][NQ] = {{x00, x01, x02}, {x10, x11, x12}, {x20, x21, x22}, {x30, x31, x32}};
        for (long q = 0; q < 4; q++) {
            long j0 = (p + q) * NR;
            store(c + j0, d ? d + j0 : NULL, rows[q], N - j0 < NR ? N - j0 : NR);
        }
    }
    if (p + 2 <= p1) {
        const float* w = Wp + p * s;
        __m256 x00 = _mm256_setzero_ps(), x01 = x00, x02 = x00, x10 = x00, x11 = x00, x12 = x00;
        for (long k = 0; k < K; k++, w += NR) {
            __m256 x = _mm256_broadcast_ss(a + k);
            x00 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w), x00);
            x01 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 8), x01);
            x02 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 16), x02);
            x10 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + s), x10);
            x11 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + s + 8), x11);
            x12 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + s + 16), x12);
        }
        __m256 rows[2][NQ] = {{x00, x01, x02}, {x10, x11, x12}};
        for (long q = 0; q < 2; q++) {
            long j0 = (p + q) * NR;
            store(c + j0, d ? d + j0 : NULL, rows[q], N - j0 < NR ? N - j0 : NR);
        }
        p += 2;
    }
    for (; p < p1; p++) {
        long j0 = p * NR, width = N - j0 < NR ? N - j0 : NR;
        __m256 x[NQ];
        panel_row(K, a, Wp + p * s, (width + 7) / 8, x);
        store(c + j0, d ? d + j0 : NULL, x, width);
    }
}

/* A (M x K, row stride lda) copied into tiles of MR rows, k-major, block by block of KC: block k0's
 * tile t starts at Ap + k0 * tiles * MR + t * kc * MR. Rows past M are zeros. */
static void copy_a(long M, long K, const float* A, long lda, float* Ap) {
    long tiles = (M + MR - 1) / MR;
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        float* block = Ap + k0 * tiles * MR;
        for (long t = 0; t < tiles; t++) {
            float* dst = block + t * kc * MR;
            long rows = M - t * MR < MR ? M - t * MR : MR;
            const float* src = A + t * MR * lda + k0;
            for (long r = 0; r < rows; r++)
                for (long k = 0; k < kc; k++) dst[k * MR + r] = src[r * lda + k];
            for (long r = rows; r < MR; r++)
                for (long k = 0; k < kc; k++) dst[k * MR + r] = 0.0f;
        }
    }
}

#define MC_TILES 11 /* tiles of A per row block: 44 rows x KC floats = 176 KiB, kept in L2 */

/* panels [p0, p1) of C = A @ W (+ D), A copied by copy_a (unused for M == 1) */
TARGET static void panels(long M, long N, long K, const float* A, const float* Ap, const float* Wp, float* C,
                          long ldc, const float* D, long ldd, long p0, long p1) {
    if (M == 1) {
        one_row(N, K, A, Wp, C, D, p0, p1);
        return;
    }
    long tiles = (M + MR - 1) / MR;
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        const float* block = Ap + k0 * tiles * MR;
        for (long t0 = 0; t0 < tiles; t0 += MC_TILES) {
            long t1 = t0 + MC_TILES < tiles ? t0 + MC_TILES : tiles;
            for (long p = p0; p < p1; p++) {
                long j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
                const float* wp = Wp + p * K * NR + k0 * NR;
                for (long t = t0; t < t1; t++) {
                    long i = t * MR, mr = M - i < MR ? M - i : MR;
                    tile(kc, block + t * kc * MR, wp, C + i * ldc + j0, ldc, D ? D + i * ldd + j0 : NULL,
                         ldd, mr, w, k0 > 0);
                }
            }
        }
    }
}

/* A per-thread workspace for copy_a, grown as needed and kept: a time loop's step allocates nothing */
static float* workspace(long floats) {
    static __thread float* buf = NULL;
    static __thread long size = 0;
    if (floats > size) {
        free(buf);
        buf = aligned_alloc(64, ((floats * sizeof(float) + 63) / 64) * 64);
        size = buf ? floats : 0;
    }
    return buf;
}

static long ap_floats(long M, long K) { return M == 1 ? 0 : ((M + MR - 1) / MR) * MR * K; }

/* C (M x N, row stride ldc) = A (M x K, row stride lda) @ W, packed by rnnkit_pack, + D (M x N, row
 * stride ldd) unless D is NULL; D may be C itself. 0, or -1 if out of memory. */
TARGET int rnnkit_packed_matmul(long M, long N, long K, const float* A, long lda, const float* Wp, float* C,
                                long ldc, const float* D, long ldd) {
    float* Ap = NULL;
    if (M > 1) {
        Ap = workspace(ap_floats(M, K));
        if (!Ap) return -1;
        copy_a(M, K, A, lda, Ap);
    }
    panels(M, N, K, A, Ap, Wp, C, ldc, D, ldd, 0, (N + NR - 1) / NR);
    return 0;
}

/* ---- products on two cores: the caller and one helper thread share out chunks of panels.
 *
 * Why: a layer that runs alone (not in a wavefront) leaves one core idle during its serial steps,
 * and OpenBLAS's two threads run the narrow step product at about one core's rate (61 GFLOP/s
 * for (20 x 650) @ (650 x 2600), against 111 here; benchmarks/probes.py products). The same
 * helper runs half of the layer's larger products (input projections, weight gradients;
 * rnnkit_sgemm2) through NumPy's own BLAS held at one thread: OpenBLAS's workers, once woken,
 * spin for ~0.1 s after each call and would take the core the steps need, and a thread of
 * Python's would wake too slowly for products of a millisecond.
 * The helper spins briefly between calls (a time loop's next product follows within
 * microseconds), then sleeps. Chunks are taken from a shared ticket, the caller's from the front
 * and the helper's from the back, so the caller never waits for a helper that has not woken up:
 * it takes every chunk itself, and waits only for chunks the helper has started. One product at a
 * time: a caller that finds the helper busy (another thread's product) runs alone.
 * Products can also be deferred (rnnkit_defer_sgemm): the helper runs them, in blocks, while the
 * caller goes on alone (a backward pass's weight gradients beside the next layer's steps, which at
 * batch 20 gain far less than a second core's worth from sharing it), and rnnkit_defer_join runs
 * down what is left.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#define SPIN_NS 300000L /* how long the helper spins for the next product before it sleeps */
#define CHUNKS 32       /* chunks of panels per product */
#define SEQ_SHIFT 32    /* ticket = sequence number << 32 | first chunk left << 16 | last chunk left + 1 */
#define SEQ(s) ((s) & 0x7fffffffL) /* the sequence number's bits kept in a ticket */

enum { PANELS, SGEMM, SOFTMAX, PACK, AXPBY, SUMSQ }; /* a job: A @ Wp (packed) by chunks of panels; BLAS
                                                      * by blocks of rows or columns; a softmax's
                                                      * exponentials by blocks of rows; rnnkit_pack by
                                                      * chunks of panels; an optimiser's passes over a
                                                      * flat array by blocks of it */

typedef struct {
    int kind;
    long M, N, K, lda, ldc, ldd, chunk, n_chunks;
    const float *A, *Wp, *D;
    float* C;
    int ta, tb, by_rows; /* SGEMM: A, B transposed; split along M (else N) */
    long ldb;
    float beta;
    const float* B;
    float *row_max, *row_sum; /* SOFTMAX */
    const float* row_scale;   /* SOFTMAX: NULL, or each row's exps times row_scale[i] / row_sum[i] */
    float alpha;              /* AXPBY: C[i] = beta * C[i] + alpha * A[i], M elements */
    double* partial;          /* SUMSQ: partial[c] = the sum of A[i]^2 over block c, M elements */
} job_t;

/* NumPy's own BLAS, its cblas_sgemm (set from Python, rnnkit_set_sgemm): 64-bit integers or 32 */
typedef void (*sgemm64_t)(int, int, int, long, long, long, float, const float*, long, const float*, long,
                          float, float*, long);
typedef void (*sgemm32_t)(int, int, int, int, int, int, float, const float*, int, const float*, int, float,
                          float*, int);
static void* sgemm_fn = NULL;
static int sgemm_ilp64 = 0;

void rnnkit_set_sgemm(void* fn, int ilp64) {
    sgemm_fn = fn;
    sgemm_ilp64 = ilp64;
}

static void sgemm_block(const job_t* j, long c) {
    long total = j->by_rows ? j->M : j->N, lo = c * j->chunk;
    long hi = lo + j->chunk < total ? lo + j->chunk : total, m = j->M, n = j->N;
    const float *A = j->A, *B = j->B;
    float* C = j->C;
    if (j->by_rows) {
        A += j->ta ? lo : lo * j->lda;
        C += lo * j->ldc;
        m = hi - lo;
    } else {
        B += j->tb ? lo * j->ldb : lo;
        C += lo;
        n = hi - lo;
    }
    int ta = j->ta ? 112 : 111, tb = j->tb ? 112 : 111; /* CblasTrans, CblasNoTrans; 101: CblasRowMajor */
    if (sgemm_ilp64)
        ((sgemm64_t)sgemm_fn)(101, ta, tb, m, n, j->K, 1.0f, A, j->lda, B, j->ldb, j->beta, C, j->ldc);
    else
        ((sgemm32_t)sgemm_fn)(101, ta, tb, (int)m, (int)n, (int)j->K, 1.0f, A, (int)j->lda, B, (int)j->ldb,
                              j->beta, C, (int)j->ldc);
}

/* rnnkit_packed_matmul's product with W unpacked (K x N, rows contiguous, row stride N) through NumPy's
 * BLAS: for compiled span loops whose steps' products BLAS runs on all its threads (batches above those
 * the packed kernel serves), called by address as the kernel is. -2 if no sgemm was set. */
int rnnkit_blas_matmul(long M, long N, long K, const float* A, long lda, const float* W, float* C, long ldc,
                       const float* D, long ldd) {
    if (!sgemm_fn) return -2;
    if (D && D != C)
        for (long i = 0; i < M; i++) memcpy(C + i * ldc, D + i * ldd, N * sizeof(float));
    job_t j = {SGEMM, M, N, K, lda, ldc, 0, M, 1, A, NULL, NULL, C, 0, 0, 1, N, D ? 1.0f : 0.0f, W};
    sgemm_block(&j, 0);
    return 0;
}

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    atomic_long posted;    /* sequence number of the latest product */
    atomic_long ticket;    /* its sequence number and the chunks left: the caller takes them from the
                            * front, the helper from the back, so that each writes one block of C
                            * (alternating chunks shared a cache line at every boundary) */
    atomic_long completed; /* its chunks done */
    atomic_long by_helper; /* chunks the helper has run, ever (for the tests) */
    atomic_flag in_use;
    job_t job;
    int started;
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, ATOMIC_FLAG_INIT, {0}, 0};

/* Products deferred by the one thread that owns the queue (rnnkit_defer_sgemm): chunks the helper runs
 * while that thread goes on alone, and that rnnkit_defer_join runs down. The owner holds pool.in_use
 * from its first deferral to the join, so that meanwhile every shared product runs on its caller. */
#define LATER_JOBS 64
#define LATER_CHUNKS 1024
#define LATER_WORK (128L << 20)
static struct {
    job_t jobs[LATER_JOBS];
    int job_of[LATER_CHUNKS];
    long chunk_of[LATER_CHUNKS];
    atomic_long queued; /* chunks queued */
    atomic_long next;   /* the next chunk to take */
    atomic_long done;   /* chunks finished */
    atomic_uintptr_t owner; /* the owning thread's tag (owner_tag), or 0 */
    int n_jobs;
} later;

static __thread char owner_tag; /* its address tells threads apart */

static long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* exp(x) for x <= 0 as kernels.softmax_exps computes it: 2^k exp(r), k = round(x / ln 2), exp(r) by
 * its Taylor series to degree 7; 0 below -87 (float32's normal range ends there) */
TARGET static inline __m256 exp_le0(__m256 x) {
    __m256 small = _mm256_cmp_ps(x, _mm256_set1_ps(-87.0f), _CMP_LT_OQ);
    x = _mm256_blendv_ps(x, _mm256_set1_ps(-87.0f), small);
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.4426950408889634f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_andnot_ps(small, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

/* SOFTMAX, rows of chunk c: row_max[i] = max_j z[i][j]; exps[i][j] = exp(z[i][j] - row_max[i]);
 * row_sum[i] = sum_j exps[i][j], NaN where the row holds a NaN. With row_scale, each row is then
 * scaled by row_scale[i] / row_sum[i] (probabilities, times a loss's scale) while it is in cache. */
TARGET static void softmax_block(const job_t* j, long c) {
    long i0 = c * j->chunk, i1 = i0 + j->chunk < j->M ? i0 + j->chunk : j->M, V = j->N, v8 = V / 8 * 8;
    for (long i = i0; i < i1; i++) {
        const float* z = j->A + i * j->lda;
        float* e = j->C + i * j->ldc;
        __m256 mx = _mm256_set1_ps(-INFINITY), nan = _mm256_setzero_ps();
        long v = 0;
        for (; v < v8; v += 8) {
            __m256 x = _mm256_loadu_ps(z + v);
            nan = _mm256_or_ps(nan, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
            mx = _mm256_max_ps(mx, x);
        }
        float m = -INFINITY, lanes[8];
        int any_nan = _mm256_movemask_ps(nan) != 0;
        _mm256_storeu_ps(lanes, mx);
        for (int l = 0; l < 8; l++) m = lanes[l] > m ? lanes[l] : m;
        for (; v < V; v++) {
            any_nan |= z[v] != z[v];
            m = z[v] > m ? z[v] : m;
        }
        __m256 mm = _mm256_set1_ps(m), sum[4] = {_mm256_setzero_ps(), sum[0], sum[0], sum[0]};
        for (v = 0; v < v8; v += 8) { /* four sums of 8 lanes: short float32 chains */
            __m256 x = exp_le0(_mm256_sub_ps(_mm256_loadu_ps(z + v), mm));
            _mm256_storeu_ps(e + v, x);
            sum[(v >> 3) & 3] = _mm256_add_ps(sum[(v >> 3) & 3], x);
        }
        _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(sum[0], sum[1]), _mm256_add_ps(sum[2], sum[3])));
        float s = 0.0f;
        for (int l = 0; l < 8; l++) s += lanes[l];
        if (v < V) {
            float tail[8] = {0}, out[8];
            for (long t = v; t < V; t++) tail[t - v] = z[t] - m;
            _mm256_storeu_ps(out, exp_le0(_mm256_loadu_ps(tail)));
            for (long t = v; t < V; t++) {
                e[t] = out[t - v];
                s += out[t - v];
            }
        }
        j->row_max[i] = m;
        j->row_sum[i] = s = any_nan ? NAN : s;
        if (j->row_scale) {
            float f = j->row_scale[i] / s;
            __m256 ff = _mm256_set1_ps(f);
            for (v = 0; v < v8; v += 8) _mm256_storeu_ps(e + v, _mm256_mul_ps(_mm256_loadu_ps(e + v), ff));
            for (; v < V; v++) e[v] *= f;
        }
    }
}

/* AXPBY and SUMSQ, block c of the M elements: memory-bound passes (an SGD update, a gradient's norm and
 * its scaling for clipping), which one core runs at about 60% of two cores' bandwidth */
TARGET static void flat_block(const job_t* j, long c) {
    long i0 = c * j->chunk, i1 = i0 + j->chunk < j->M ? i0 + j->chunk : j->M, i = i0;
    if (j->kind == SUMSQ) { /* float32 sums of 4 x 8 lanes over runs of 1024, added up in float64 */
        double total = 0.0;
        for (; i < i1; i += 1024) {
            long end = i + 1024 < i1 ? i + 1024 : i1, k = i;
            __m256 s[4] = {_mm256_setzero_ps(), s[0], s[0], s[0]};
            for (; k + 32 <= end; k += 32)
                for (int l = 0; l < 4; l++) {
                    __m256 x = _mm256_loadu_ps(j->A + k + 8 * l);
                    s[l] = _mm256_fmadd_ps(x, x, s[l]);
                }
            float lanes[8], rest = 0.0f;
            _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])));
            for (; k < end; k++) rest += j->A[k] * j->A[k];
            for (int l = 0; l < 8; l++) total += lanes[l];
            total += rest;
        }
        j->partial[c] = total;
        return;
    }
    float* y = j->C;
    __m256 a = _mm256_set1_ps(j->alpha), b = _mm256_set1_ps(j->beta);
    if (j->A == NULL && j->beta == 0.0f) { /* y = 0, whatever y held (as BLAS reads no C when beta is 0) */
        memset(y + i0, 0, (i1 - i0) * sizeof(float));
    } else if (j->A == NULL) { /* y = beta * y */
        for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(b, _mm256_loadu_ps(y + i)));
        for (; i < i1; i++) y[i] *= j->beta;
    } else if (j->beta == 0.0f) { /* y = alpha * x */
        for (; i + 8 <= i1; i += 8) _mm256_storeu_ps(y + i, _mm256_mul_ps(a, _mm256_loadu_ps(j->A + i)));
        for (; i < i1; i++) y[i] = j->alpha * j->A[i];
    } else { /* y = alpha * x + beta * y (beta 1: exactly y + alpha * x) */
        for (; i + 8 <= i1; i += 8)
            _mm256_storeu_ps(y + i, _mm256_fmadd_ps(a, _mm256_loadu_ps(j->A + i),
                                                    _mm256_mul_ps(b, _mm256_loadu_ps(y + i))));
        for (; i < i1; i++) y[i] = fmaf(j->alpha, j->A[i], j->beta * y[i]);
    }
}

/* chunk c of a job: its panels of C, or its block of rows or columns */
TARGET static void run_chunk(const job_t* j, const float* Ap, long c) {
    if (j->kind == SGEMM) {
        sgemm_block(j, c);
        return;
    }
    if (j->kind == SOFTMAX) {
        softmax_block(j, c);
        return;
    }
    if (j->kind == AXPBY || j->kind == SUMSQ) {
        flat_block(j, c);
        return;
    }
    long panel_count = (j->N + NR - 1) / NR, p0 = c * j->chunk;
    long p1 = p0 + j->chunk < panel_count ? p0 + j->chunk : panel_count;
    if (j->kind == PACK) { /* W's strides in lda (rows) and ldb (columns) */
        pack_panels(j->A, j->K, j->N, j->lda, j->ldb, j->C, p0, p1, j->lda == 1 ? 128 : j->K);
        return;
    }
    panels(j->M, j->N, j->K, j->A, Ap, j->Wp, j->C, j->ldc, j->D, j->ldd, p0, p1);
}

/* take chunks of product `seq` until none is left; A is copied on the first one taken */
TARGET static void take_chunks(const job_t* j, long seq, int helper) {
    float* Ap = NULL;
    int needs_a = j->kind == PANELS && j->M > 1;
    if (needs_a && !workspace(ap_floats(j->M, j->K))) return; /* the caller takes every chunk */
    for (;;) {
        long t = atomic_load(&pool.ticket), first = (t >> 16) & 0xffff, end = t & 0xffff;
        if (t >> SEQ_SHIFT != SEQ(seq) || first >= end) return;
        long taken = helper ? t - 1 : t + (1L << 16), c = helper ? end - 1 : first;
        if (!atomic_compare_exchange_weak(&pool.ticket, &t, taken)) continue;
        if (needs_a && !Ap) {
            Ap = workspace(ap_floats(j->M, j->K));
            copy_a(j->M, j->K, j->A, j->lda, Ap);
        }
        run_chunk(j, Ap, c);
        if (helper) atomic_fetch_add(&pool.by_helper, 1);
        atomic_fetch_add(&pool.completed, 1);
    }
}

/* run deferred chunks until none is left to take */
static void take_later(int helper) {
    for (;;) {
        long n = atomic_load(&later.next);
        if (n >= atomic_load(&later.queued)) return;
        if (!atomic_compare_exchange_weak(&later.next, &n, n + 1)) continue;
        run_chunk(&later.jobs[later.job_of[n]], NULL, later.chunk_of[n]);
        if (helper) atomic_fetch_add(&pool.by_helper, 1);
        atomic_fetch_add(&later.done, 1);
    }
}

static int later_waiting(void) { return atomic_load(&later.next) < atomic_load(&later.queued); }

static void* helper(void* unused) {
    (void)unused;
    long seen = 0;
    for (;;) {
        long seq = atomic_load(&pool.posted), since = now_ns();
        for (int n = 0; seq == seen && !later_waiting(); n++) {
            __builtin_ia32_pause();
            if (n % 64 == 63 && now_ns() - since > SPIN_NS) break;
            seq = atomic_load(&pool.posted);
        }
        pthread_mutex_lock(&pool.lock);
        while ((seq = atomic_load(&pool.posted)) == seen && !later_waiting())
            pthread_cond_wait(&pool.wake, &pool.lock);
        job_t job = pool.job;
        pthread_mutex_unlock(&pool.lock);
        if (seq != seen) {
            seen = seq;
            take_chunks(&job, seq, 1);
        }
        take_later(1);
    }
    return NULL;
}

static void after_fork_in_child(void) { /* the helper thread does not survive a fork */
    pthread_mutex_init(&pool.lock, NULL);
    pthread_cond_init(&pool.wake, NULL);
    atomic_flag_clear(&pool.in_use);
    pool.started = 0;
    atomic_store(&later.queued, 0);
    atomic_store(&later.next, 0);
    atomic_store(&later.done, 0);
    atomic_store(&later.owner, 0);
    later.n_jobs = 0;
}

static int start_helper(void) {
    static int registered = 0;
    if (!registered) {
        if (pthread_atfork(NULL, NULL, after_fork_in_child)) return -1;
        registered = 1;
    }
    pthread_t thread;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int failed = pthread_create(&thread, &attr, helper, NULL);
    pthread_attr_destroy(&attr);
    if (failed) return -1;
    pool.started = 1;
    return 0;
}

/* run a job on the caller and the helper (alone where the helper is busy or cannot start) */
TARGET static int run_job(job_t* job) {
    float* Ap = NULL;
    int needs_a = job->kind == PANELS && job->M > 1;
    if (needs_a && !(Ap = workspace(ap_floats(job->M, job->K)))) return -1;
    int shared = job->n_chunks > 1 && !atomic_flag_test_and_set(&pool.in_use);
    if (shared && !pool.started && start_helper()) {
        atomic_flag_clear(&pool.in_use);
        shared = 0;
    }
    if (!shared) {
        if (needs_a) copy_a(job->M, job->K, job->A, job->lda, Ap);
        for (long c = 0; c < job->n_chunks; c++) run_chunk(job, Ap, c);
        return 0;
    }
    pthread_mutex_lock(&pool.lock);
    long seq = atomic_load(&pool.posted) + 1;
    pool.job = *job;
    atomic_store(&pool.completed, 0);
    atomic_store(&pool.ticket, SEQ(seq) << SEQ_SHIFT | job->n_chunks);
    atomic_store(&pool.posted, seq);
    pthread_cond_signal(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    take_chunks(job, seq, 0);
    for (long n = 0; atomic_load(&pool.completed) < job->n_chunks; n++) {
        __builtin_ia32_pause();
        if (n % 1024 == 1023) sched_yield(); /* the helper may have lost its core */
    }
    atomic_flag_clear(&pool.in_use);
    return 0;
}

long rnnkit_helper_chunks(void) { return atomic_load(&pool.by_helper); }

#define FLAT_CHUNKS 16 /* blocks of an AXPBY or SUMSQ pass: the caller and a late helper still share it */

/* y (n floats) = beta * y + alpha * x (x may be NULL: y = beta * y), on the caller and the helper */
TARGET int rnnkit_axpby2(long n, float alpha, const float* x, float beta, float* y) {
    long chunk = (n + FLAT_CHUNKS - 1) / FLAT_CHUNKS;
    job_t job = {AXPBY, n, 0, 0, 0, 0, 0, chunk, (n + chunk - 1) / chunk, x, NULL, NULL, y};
    job.alpha = alpha;
    job.beta = beta;
    return run_job(&job);
}

/* the sum of x[i]^2 over n floats, on the caller and the helper */
TARGET double rnnkit_sum_squares2(long n, const float* x) {
    double partial[FLAT_CHUNKS] = {0}, total = 0.0;
    long chunk = (n + FLAT_CHUNKS - 1) / FLAT_CHUNKS;
    job_t job = {SUMSQ, n, 0, 0, 0, 0, 0, chunk, (n + chunk - 1) / chunk, x, NULL, NULL, NULL};
    job.partial = partial;
    run_job(&job);
    for (long c = 0; c < job.n_chunks; c++) total += partial[c];
    return total;
}

/* rnnkit_pack on two cores, the panels shared out in chunks: what a layer whose steps run on two cores
 * packs at the start of each pass (W_h forward, its transpose backward: 6.8 MB each at hidden 650) */
TARGET void rnnkit_pack2(const float* W, long K, long N, long rs, long cs, float* out) {
    long panel_count = (N + NR - 1) / NR, chunk = (panel_count + CHUNKS - 1) / CHUNKS;
    job_t job = {PACK, 0, N, K, rs, 0, 0, chunk, (panel_count + chunk - 1) / chunk, W, NULL, NULL, out};
    job.ldb = cs;
    run_job(&job); /* cannot fail: a PACK job needs no workspace */
}

/* rnnkit_packed_matmul's product, on two cores */
TARGET int rnnkit_packed_matmul2(long M, long N, long K, const float* A, long lda, const float* Wp, float* C,
                                 long ldc, const float* D, long ldd) {
    long panel_count = (N + NR - 1) / NR, chunk = (panel_count + CHUNKS - 1) / CHUNKS;
    job_t job = {PANELS, M, N, K, lda, ldc, ldd, chunk, (panel_count + chunk - 1) / chunk, A, Wp, D, C};
    return run_job(&job);
}

/* C = A @ B (beta 0) or C += A @ B (beta 1) through NumPy's BLAS (which must run one thread), one half
 * on the caller and one on the helper: A (M x K, or its transpose if ta, row stride lda), B likewise,
 * C row-major. -2 if no sgemm was set. */
/* an SGEMM job in at most `parts` blocks of rows (or of columns, if wider than tall) */
static job_t sgemm_job(int ta, int tb, long M, long N, long K, const float* A, long lda, const float* B, long ldb,
                       float beta, float* C, long ldc, long parts) {
    int by_rows = M >= N;
    long total = by_rows ? M : N;
    parts = parts < total ? parts : total;
    long chunk = (total + parts - 1) / parts;
    job_t job = {SGEMM, M, N, K, lda, ldc, 0, chunk, (total + chunk - 1) / chunk, A, NULL, NULL, C,
                 ta, tb, by_rows, ldb, beta, B};
    return job;
}

int rnnkit_sgemm2(int ta, int tb, long M, long N, long K, const float* A, long lda, const float* B, long ldb,
                  float beta, float* C, long ldc) {
    if (!sgemm_fn) return -2;
    job_t job = sgemm_job(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, 2);
    return run_job(&job);
}

/* rnnkit_sgemm2's product, deferred: queued in chunks for the helper, which runs them while the
 * caller goes on alone; all have run when rnnkit_defer_join returns. 0 if queued; 1 if not (another
 * thread's product holds the helper, the queue is full, or the helper cannot start): then the caller
 * runs it itself. -2 if no sgemm was set. One thread defers at a time: the one that queued first,
 * until its join (the queue's owner; another thread's deferrals are refused). */
int rnnkit_defer_sgemm(int ta, int tb, long M, long N, long K, const float* A, long lda, const float* B,
                       long ldb, float beta, float* C, long ldc) {
    if (!sgemm_fn) return -2;
    /* blocks of about LATER_WORK multiply-adds, so that the caller and the helper end a join together
     * (each block re-packs the operand it shares: not too small either) */
    long parts = M * N * K / LATER_WORK;
    job_t job = sgemm_job(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc, parts < 2 ? 2 : parts > 16 ? 16 : parts);
    long n_chunks = job.n_chunks;
    uintptr_t me = (uintptr_t)&owner_tag;
    if (atomic_load(&later.owner) != me) { /* the first deferral: take the helper, if free */
        if (atomic_flag_test_and_set(&pool.in_use)) return 1;
        if (!pool.started && start_helper()) {
            atomic_flag_clear(&pool.in_use);
            return 1;
        }
        atomic_store(&later.owner, me);
    }
    long queued = atomic_load(&later.queued);
    if (later.n_jobs == LATER_JOBS || queued + n_chunks > LATER_CHUNKS) return 1;
    int j = later.n_jobs++;
    later.jobs[j] = job;
    for (long c = 0; c < n_chunks; c++) {
        later.job_of[queued + c] = j;
        later.chunk_of[queued + c] = c;
    }
    pthread_mutex_lock(&pool.lock);
    atomic_store(&later.queued, queued + n_chunks);
    pthread_cond_signal(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    return 0;
}

/* run the deferred chunks left, beside the helper, and wait for all; then the queue is free */
void rnnkit_defer_join(void) {
    if (atomic_load(&later.owner) != (uintptr_t)&owner_tag) return; /* nothing deferred by this thread */
    take_later(0);
    for (long n = 0; atomic_load(&later.done) < atomic_load(&later.queued); n++) {
        __builtin_ia32_pause();
        if (n % 1024 == 1023) sched_yield();
    }
    atomic_store(&later.queued, 0);
    atomic_store(&later.next, 0);
    atomic_store(&later.done, 0);
    later.n_jobs = 0;
    atomic_store(&later.owner, 0);
    atomic_flag_clear(&pool.in_use);
}

/* row_max, exps and row_sum (see softmax_block) of z (N x V, row stride ldz; exps row stride lde), its
 * rows in blocks on the caller and the helper: a language model's 10k-way softmax, 7M exponentials
 * for a batch of 20 x 35, at about twice one core's rate. row_scale: NULL, or N factors (see
 * softmax_block). */
TARGET int rnnkit_softmax_exps2(long N, long V, const float* z, long ldz, float* exps, long lde, float* row_max,
                                float* row_sum, const float* row_scale) {
    long chunk = (N + CHUNKS - 1) / CHUNKS;
    job_t job = {SOFTMAX, N, V, 0, ldz, lde, 0, chunk, (N + chunk - 1) / chunk, z, NULL, NULL, exps};
    job.row_max = row_max;
    job.row_sum = row_sum;
    job.row_scale = row_scale;
    return run_job(&job);
}

int rnnkit_packed_supported(void) {
    __builtin_cpu_init();
    int yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (yes) transpose8 = transpose8_avx;
    return yes;
}
#else
int rnnkit_packed_matmul(long M, long N, long K, const float* A, long lda, const float* Wp, float* C,
                         long ldc, const float* D, long ldd) { return -1; }
int rnnkit_packed_matmul2(long M, long N, long K, const float* A, long lda, const float* Wp, float* C,
                          long ldc, const float* D, long ldd) { return -1; }
int rnnkit_packed_supported(void) { return 0; }
int rnnkit_defer_sgemm(int ta, int tb, long M, long N, long K, const float* A, long lda, const float* B,
                       long ldb, float beta, float* C, long ldc) { return -2; }
void rnnkit_defer_join(void) {}
int rnnkit_softmax_exps2(long N, long V, const float* z, long ldz, float* exps, long lde, float* row_max,
                         float* row_sum, const float* row_scale) { return -1; }
long rnnkit_helper_chunks(void) { return 0; }
void rnnkit_pack2(const float* W, long K, long N, long rs, long cs, float* out) {}
int rnnkit_blas_matmul(long M, long N, long K, const float* A, long lda, const float* W, float* C, long ldc,
                       const float* D, long ldd) { return -2; }
int rnnkit_axpby2(long n, float alpha, const float* x, float beta, float* y) { return -1; }
double rnnkit_sum_squares2(long n, const float* x) { return -1.0; }
void rnnkit_set_sgemm(void* fn, int ilp64) {}
int rnnkit_sgemm2(int ta, int tb, long M, long N, long K, const float* A, long lda, const float* B, long ldb,
                  float beta, float* C, long ldc) { return -2; }
#endif

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_packed",
                                    "C kernels for rnnkit.nn.packed, loaded through ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__packed(void) { return PyModule_Create(&module); }
