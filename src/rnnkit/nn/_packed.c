/* Products with a fixed right operand, packed once: C = A @ W (+ D), single-threaded, float32.
 *
 * Why: a recurrent layer's time loop multiplies a narrow (B, K) block by the same weight matrix
 * W (K, N) at every step. A general BLAS call re-packs W into its own panel layout on each call --
 * for (20, 650) @ (650, 2600) that is 6.8 MB read and written per step beside 34M multiply-adds.
 * Here W is packed once per sequence (pack) and each step runs only the compute kernel (matmul).
 *
 * Layout: W becomes ceil(N/16) panels of 16 columns, each K x 16 contiguous (zero padded past N).
 * A is copied per block of KC rows of W into tiles of 5 rows, k-major. The 5 x 16 micro-kernel keeps
 * its 10 accumulators in AVX registers: per k, two loads of W, five broadcasts of A, ten FMAs.
 *
 * Built with the package (setup.py, optional: without a C compiler rnnkit uses NumPy's BLAS).
 * The AVX2/FMA code is compiled for that target alone and only runs where rnnkit_packed_supported()
 * says the CPU has both. Called through ctypes, which releases the GIL for the call.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#define NR 16  /* columns per panel: two AVX registers */
#define MR 5   /* rows per micro-tile */
#define KC 384 /* rows of W per block: a block's panel, 384 x 16 floats = 24 KiB, stays in L1 */
#define AP_ON_STACK (8 * MR * KC) /* floats of copied A kept on the stack (up to 40 rows, 60 KiB): a
                                     * time loop's step then allocates nothing */

long rnnkit_packed_size(long K, long N) { return ((N + NR - 1) / NR) * K * NR; }

/* out[p][k][j] = W[k, p*NR + j] (0 past N); W's element (k, n) at W[k*rs + n*cs], so a transpose
 * is packed straight from the untransposed array */
void rnnkit_pack(const float* W, long K, long N, long rs, long cs, float* out) {
    long panels = (N + NR - 1) / NR;
    for (long p = 0; p < panels; p++) {
        float* dst = out + p * K * NR;
        long j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
        if (cs == 1 && w == NR) {
            for (long k = 0; k < K; k++) memcpy(dst + k * NR, W + k * rs + j0, NR * sizeof(float));
            continue;
        }
        if (rs == 1) {  /* a transpose: read each of the panel's columns as a contiguous row */
            for (long j = 0; j < NR; j++) {
                const float* src = W + (j0 + j) * cs;
                if (j < w)
                    for (long k = 0; k < K; k++) dst[k * NR + j] = src[k];
                else
                    for (long k = 0; k < K; k++) dst[k * NR + j] = 0.0f;
            }
            continue;
        }
        for (long k = 0; k < K; k++) {
            const float* src = W + k * rs + j0 * cs;
            long j = 0;
            for (; j < w; j++) dst[k * NR + j] = src[j * cs];
            for (; j < NR; j++) dst[k * NR + j] = 0.0f;
        }
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define TARGET __attribute__((target("avx2,fma")))

/* c[0:w] = (lo, hi) + base[0:w] (base may be NULL, or c itself) */
TARGET static inline void store(float* c, const float* base, __m256 lo, __m256 hi, long w) {
    if (w == NR) {
        if (base) {
            lo = _mm256_add_ps(lo, _mm256_loadu_ps(base));
            hi = _mm256_add_ps(hi, _mm256_loadu_ps(base + 8));
        }
        _mm256_storeu_ps(c, lo);
        _mm256_storeu_ps(c + 8, hi);
        return;
    }
    float row[NR];
    _mm256_storeu_ps(row, lo);
    _mm256_storeu_ps(row + 8, hi);
    for (long j = 0; j < w; j++) c[j] = base ? base[j] + row[j] : row[j];
}

/* C[0:mr, 0:w] = Ap (kc x MR) @ Wp (kc x NR), plus C's own value (acc) or D's (add) */
TARGET static void tile(long kc, const float* Ap, const float* Wp, float* C, long ldc, const float* D,
                        long ldd, long mr, long w, int acc) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00;
    for (long k = 0; k < kc; k++) {
        __m256 w0 = _mm256_loadu_ps(Wp), w1 = _mm256_loadu_ps(Wp + 8), a;
        a = _mm256_broadcast_ss(Ap + 0); c00 = _mm256_fmadd_ps(a, w0, c00); c01 = _mm256_fmadd_ps(a, w1, c01);
        a = _mm256_broadcast_ss(Ap + 1); c10 = _mm256_fmadd_ps(a, w0, c10); c11 = _mm256_fmadd_ps(a, w1, c11);
        a = _mm256_broadcast_ss(Ap + 2); c20 = _mm256_fmadd_ps(a, w0, c20); c21 = _mm256_fmadd_ps(a, w1, c21);
        a = _mm256_broadcast_ss(Ap + 3); c30 = _mm256_fmadd_ps(a, w0, c30); c31 = _mm256_fmadd_ps(a, w1, c31);
        a = _mm256_broadcast_ss(Ap + 4); c40 = _mm256_fmadd_ps(a, w0, c40); c41 = _mm256_fmadd_ps(a, w1, c41);
        Ap += MR;
        Wp += NR;
    }
    __m256 lo[MR] = {c00, c10, c20, c30, c40}, hi[MR] = {c01, c11, c21, c31, c41};
    for (long r = 0; r < mr; r++)
        store(C + r * ldc, acc ? C + r * ldc : (D ? D + r * ldd : NULL), lo[r], hi[r], w);
}

/* c (1 x N) = a (1 x K) @ W + d (d may be NULL or c): a batch of one, where the 5-row tile would
 * waste 4/5 of its work. Four panels at a time, eight accumulators, W read once. */
TARGET static void one_row(long N, long K, const float* a, const float* Wp, float* c, const float* d) {
    long panels = (N + NR - 1) / NR, p = 0;
    for (; p + 4 <= panels; p += 4) {
        const float* w = Wp + p * K * NR;
        long s = K * NR;
        __m256 x0 = _mm256_setzero_ps(), x1 = x0, x2 = x0, x3 = x0, x4 = x0, x5 = x0, x6 = x0, x7 = x0;
        for (long k = 0; k < K; k++, w += NR) {
            __m256 x = _mm256_broadcast_ss(a + k);
            x0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w), x0);
            x1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 8), x1);
            x2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + s), x2);
            x3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + s + 8), x3);
            x4 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 2 * s), x4);
            x5 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 2 * s + 8), x5);
            x6 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 3 * s), x6);
            x7 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 3 * s + 8), x7);
        }
        __m256 lo[4] = {x0, x2, x4, x6}, hi[4] = {x1, x3, x5, x7};
        for (long q = 0; q < 4; q++) {
            long j0 = (p + q) * NR, width = N - j0 < NR ? N - j0 : NR;
            store(c + j0, d ? d + j0 : NULL, lo[q], hi[q], width);
        }
    }
    for (; p < panels; p++) {
        const float* w = Wp + p * K * NR;
        __m256 x0 = _mm256_setzero_ps(), x1 = x0;
        for (long k = 0; k < K; k++, w += NR) {
            __m256 x = _mm256_broadcast_ss(a + k);
            x0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w), x0);
            x1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(w + 8), x1);
        }
        long j0 = p * NR, width = N - j0 < NR ? N - j0 : NR;
        store(c + j0, d ? d + j0 : NULL, x0, x1, width);
    }
}

/* C (M x N, row stride ldc) = A (M x K, row stride lda) @ W, packed by rnnkit_pack, + D (M x N, row
 * stride ldd) unless D is NULL; D may be C itself. 0, or -1 if out of memory. */
TARGET int rnnkit_packed_matmul(long M, long N, long K, const float* A, long lda, const float* Wp, float* C,
                                long ldc, const float* D, long ldd) {
    if (M == 1) {
        one_row(N, K, A, Wp, C, D);
        return 0;
    }
    long tiles = (M + MR - 1) / MR, panels = (N + NR - 1) / NR;
    long ap_size = tiles * MR * (K < KC ? K : KC);
    float on_stack[AP_ON_STACK];
    float* Ap = ap_size <= AP_ON_STACK ? on_stack : malloc(sizeof(float) * ap_size);
    if (!Ap) return -1;
    for (long k0 = 0; k0 < K; k0 += KC) {
        long kc = K - k0 < KC ? K - k0 : KC;
        for (long t = 0; t < tiles; t++)
            for (long r = 0; r < MR; r++) {
                long i = t * MR + r;
                float* dst = Ap + t * kc * MR + r;
                if (i < M)
                    for (long k = 0; k < kc; k++) dst[k * MR] = A[i * lda + k0 + k];
                else
                    for (long k = 0; k < kc; k++) dst[k * MR] = 0.0f;
            }
        for (long p = 0; p < panels; p++) {
            long j0 = p * NR, w = N - j0 < NR ? N - j0 : NR;
            const float* wp = Wp + p * K * NR + k0 * NR;
            for (long t = 0; t < tiles; t++) {
                long i = t * MR, mr = M - i < MR ? M - i : MR;
                tile(kc, Ap + t * kc * MR, wp, C + i * ldc + j0, ldc, D ? D + i * ldd + j0 : NULL, ldd,
                     mr, w, k0 > 0);
            }
        }
    }
    if (Ap != on_stack) free(Ap);
    return 0;
}

int rnnkit_packed_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
int rnnkit_packed_matmul(long M, long N, long K, const float* A, long lda, const float* Wp, float* C,
                         long ldc, const float* D, long ldd) { return -1; }
int rnnkit_packed_supported(void) { return 0; }
#endif

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_packed",
                                    "C kernels for rnnkit.nn.packed, loaded through ctypes.", -1, NULL};

PyMODINIT_FUNC PyInit__packed(void) { return PyModule_Create(&module); }
