/* The packed kernel's builds against each other, alternating calls in one process (benchmarks/kernel_ab.sh).
 *
 *   kernel_ab M K N calls rounds cores A.so B.so [C.so ...]
 *
 * Each .so is a build of src/rnnkit/nn/_packed.c (with other -D settings, or another revision's); each
 * round times `calls` products (M x K) @ (K x N) through each build in turn, on one core (cores 1,
 * rnnkit_packed_matmul) or shared with the build's helper thread (cores 2, rnnkit_packed_matmul2).
 * Prints, for each build after the first, the median over rounds of its rate over the first build's in
 * the same round, with the quartiles and the rounds in which it was faster, then each build's median
 * rate. Paired rounds, because this VM's speed drifts by 10-20% over minutes. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

typedef long (*size_fn)(long, long);
typedef void (*pack_fn)(const float*, long, long, long, long, float*);
typedef int (*matmul_fn)(long, long, long, const float*, long, const float*, float*, long, const float*, long);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void* a, const void* b) {
    double x = *(const double*)a, y = *(const double*)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
    if (argc < 9) {
        fprintf(stderr, "usage: %s M K N calls rounds cores A.so B.so [C.so ...]\n", argv[0]);
        return 2;
    }
    long M = atol(argv[1]), K = atol(argv[2]), N = atol(argv[3]), calls = atol(argv[4]), rounds = atol(argv[5]);
    int cores = atoi(argv[6]), builds = argc - 7;
    float *W = malloc(K * N * sizeof(float)), *A = malloc(M * K * sizeof(float)), *C = malloc(M * N * sizeof(float));
    for (long i = 0; i < K * N; i++) W[i] = (i % 7) * 0.1f;
    for (long i = 0; i < M * K; i++) A[i] = (i % 5) * 0.1f;
    matmul_fn matmul[16];
    float* packed[16];
    double* rate[16];
    for (int b = 0; b < builds && b < 16; b++) {
        void* lib = dlopen(argv[7 + b], RTLD_NOW | RTLD_LOCAL);
        if (!lib) {
            fprintf(stderr, "%s\n", dlerror());
            return 1;
        }
        size_fn size = (size_fn)dlsym(lib, "rnnkit_packed_size");
        pack_fn pack = (pack_fn)dlsym(lib, "rnnkit_pack");
        matmul[b] = (matmul_fn)dlsym(lib, cores == 2 ? "rnnkit_packed_matmul2" : "rnnkit_packed_matmul");
        packed[b] = aligned_alloc(64, ((size(K, N) * sizeof(float) + 63) / 64) * 64);
        pack(W, K, N, N, 1, packed[b]);
        rate[b] = malloc(rounds * sizeof(double));
    }
    for (long r = 0; r < rounds; r++)
        for (int b = 0; b < builds; b++) {
            double t0 = now();
            for (long i = 0; i < calls; i++) matmul[b](M, N, K, A, K, packed[b], C, N, NULL, 0);
            rate[b][r] = 2.0 * M * K * N * calls / (now() - t0) / 1e9;
        }
    double* ratio = malloc(rounds * sizeof(double));
    printf("(%ld x %ld) @ (%ld x %ld), %s, %ld rounds of %ld calls\n", M, K, K, N, cores == 2 ? "two cores" : "one core",
           rounds, calls);
    for (int b = 1; b < builds; b++) {
        int faster = 0;
        for (long r = 0; r < rounds; r++) faster += (ratio[r] = rate[b][r] / rate[0][r]) > 1;
        qsort(ratio, rounds, sizeof(double), by_value);
        printf("  %s / %s: rate ratio %.3f (quartiles %.3f-%.3f), faster in %d/%ld\n", argv[7 + b], argv[7],
               ratio[rounds / 2], ratio[rounds / 4], ratio[3 * rounds / 4], faster, rounds);
    }
    for (int b = 0; b < builds; b++) {
        qsort(rate[b], rounds, sizeof(double), by_value);
        printf("  %s: %.1f GFLOP/s\n", argv[7 + b], rate[b][rounds / 2]);
    }
    return 0;
}
