"""Probes behind the "what is left" notes in benchmarks/README.md: where shape (a)'s time goes.

    python benchmarks/probes.py trace       # LSTM (a) wavefront: per-span timeline and busy time per thread
    python benchmarks/probes.py spin        # LSTM (a) backward after a pause, a 1-thread and a 2-thread product
    python benchmarks/probes.py timeout     # OPENBLAS_THREAD_TIMEOUT=4 against the default, alternating processes
    python benchmarks/probes.py wavefront-b # shape (b) as a wavefront against layer by layer
    python benchmarks/probes.py loop-batch  # shape (c), batch 64, steps on one core: compiled loops against the Python loop
    python benchmarks/probes.py two-cores   # (a), (b), (c): each layer's steps on two cores against one core
    python benchmarks/probes.py products    # the steps' product on one core, two cores, OpenBLAS; split products
    python benchmarks/probes.py defer       # weight gradients deferred to the helper thread, or not: layers, LM step
    python benchmarks/probes.py layout      # packing W_h and its transpose; dA @ W_x^T as a view or a copy
    python benchmarks/probes.py softmax     # an LM's 10k-way softmax: compiled kernel on one core, C on two
    python benchmarks/probes.py lm-phases   # an LM training step at (a) and (b), phase by phase, back to back
    python benchmarks/probes.py blas-loops  # batch 64-128: compiled loops calling BLAS against the Python loop
    python benchmarks/probes.py optimiser   # the LM step's zeroing, clipping and SGD on two cores against one
    python benchmarks/probes.py processes   # bench.py's timing of a few rows in fresh processes: how each
                                            # library's median moves from one process to the next
    python benchmarks/probes.py layer-phases  # RNN (c) and LSTM (b), forward and backward, phase by phase
    python benchmarks/probes.py page-faults # LSTM layers and LM steps in fresh processes: page faults per call, with and
                                            # without glibc's allocator thresholds raised

Each prints its measurements (medians over the repeats); nothing is written.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def lstm_a(layers: int = 2):
    from rnnkit.nn import LSTM

    rng = np.random.default_rng(0)
    model = LSTM(650, 650, num_layers=layers, rng=rng)
    x = rng.standard_normal((20, 35, 650), dtype=np.float32)
    dy = rng.standard_normal((20, 35, 650), dtype=np.float32)
    return model, x, dy


def trace(repeats: int) -> None:
    from rnnkit.nn import wavefront

    log: list[tuple] = []
    plain_run = wavefront.run

    def timed(fn, kind):
        def wrapped(*args):
            t0 = time.perf_counter()
            fn(*args)
            log.append((kind, args, t0, time.perf_counter()))
        return wrapped

    def traced_run(n_stages, n_spans, work, start=None, finish=None):
        plain_run(n_stages, n_spans, timed(work, "span"), start and timed(start, "start"),
                  finish and timed(finish, "finish"))

    wavefront.run = traced_run
    model, x, dy = lstm_a()
    model.use_wavefront = True  # no longer the default at batch 20 (each layer's steps run on two cores)
    for _ in range(3):
        model.forward(x)
        model.backward(dy)
    rows = []
    for _ in range(repeats):
        log.clear()
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        model.forward(x)
        t1 = time.perf_counter()
        model.backward(dy)
        t2, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        busy = sum(e[3] - e[2] for e in log)
        rows.append((t1 - t0, t2 - t1, cpu, busy))
    fwd, bwd, cpu, busy = np.median(np.array(rows), axis=0)
    print(f"LSTM (a) forward {fwd * 1e3:.1f} ms, backward {bwd * 1e3:.1f} ms; process CPU {cpu * 1e3:.0f} ms of "
          f"{2 * (fwd + bwd) * 1e3:.0f} core-ms; time inside spans, starts and finishes {busy * 1e3:.0f} ms")
    print("last repeat, per thread (stage), ms from the forward call:")
    for kind, args, a, b in sorted(log, key=lambda e: e[2]):
        print(f"  {kind:6s} {args}  {(a - t0) * 1e3:7.1f} -> {(b - t0) * 1e3:7.1f}")


def spin(repeats: int) -> None:
    from rnnkit.nn.blas import single_threaded

    model, x, dy = lstm_a()
    rng = np.random.default_rng(1)
    h, W = rng.standard_normal((700, 650), dtype=np.float32), rng.standard_normal((650, 10000), dtype=np.float32)

    def two_threads():
        h @ W

    def one_thread():
        with single_threaded():
            h @ W

    cases = {"after a pause": lambda: None, "after a 1-thread product": one_thread,
             "after a 2-thread product": two_threads}
    times: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(repeats + 1):
        for name, before in cases.items():
            model.forward(x)
            time.sleep(0.3)
            before()
            t0 = time.perf_counter()
            model.backward(dy)
            if r:
                times[name].append(time.perf_counter() - t0)
    for name, v in times.items():
        print(f"LSTM (a) backward {name}: {np.median(v) * 1e3:.1f} ms")


def timeout(repeats: int) -> None:
    for r in range(repeats):
        for value in (None, "4"):
            env = dict(os.environ)
            env.pop("OPENBLAS_THREAD_TIMEOUT", None)
            if value:
                env["OPENBLAS_THREAD_TIMEOUT"] = value
            out = subprocess.run([sys.executable, __file__, "_timeout-child"], env=env, capture_output=True,
                                 text=True, check=True).stdout.strip()
            print(f"OPENBLAS_THREAD_TIMEOUT={value or 'default'}: {out}", flush=True)


def timeout_child() -> None:
    sys.path.insert(0, HERE)
    import bench
    from rnnkit.nn import RNN

    parts = []
    for shape, (B, T, H, L) in {"a": (20, 35, 650, 2), "b": (20, 20, 200, 2)}.items():
        step = bench.rnnkit_lm(B, T, H, L, np.random.default_rng(0))
        for _ in range(3):
            step()
        ts = []
        for _ in range(8):
            time.sleep(0.1)
            t0 = time.perf_counter()
            step()
            ts.append(time.perf_counter() - t0)
        parts.append(f"LM step ({shape}) {B * T / np.median(ts):.0f} tokens/s")
    for shape, (B, T, H, L) in {"b": (20, 20, 200, 2), "c": (64, 100, 256, 1)}.items():
        rng = np.random.default_rng(0)
        layer = RNN(H, H, num_layers=L, rng=rng)
        x, dy = rng.standard_normal((B, T, H), dtype=np.float32), rng.standard_normal((B, T, H), dtype=np.float32)
        ts = []
        for i in range(11):
            time.sleep(0.05)
            t0 = time.perf_counter()
            layer.forward(x)
            layer.backward(dy)
            if i:
                ts.append(time.perf_counter() - t0)
        parts.append(f"RNN ({shape}) {np.median(ts) * 1e3:.1f} ms")
    print(", ".join(parts))


PROCESS_ROWS = (("RNN", "c"), ("LSTM", "b"), ("LSTM", "c"))


def processes(repeats: int) -> None:
    """``repeats`` fresh processes, each timing the rows ``PROCESS_ROWS`` as ``bench.py`` does (its
    ``time_rows``: 7 interleaved samples after warm-up, a 0.25 s pause before each): per row, each
    library's median in every process, and how far the medians and the ratio move between processes.
    A run of ``make bench`` is one such process, so this is the spread a single run's ratio carries."""
    runs = []
    for r in range(repeats):
        out = subprocess.run([sys.executable, __file__, "_processes-child"], capture_output=True, text=True,
                             check=True).stdout.strip().splitlines()[-1]
        runs.append(json.loads(out))
        print(f"process {r + 1}: " + ", ".join(f"{name} {t['rnnkit'] * 1e3:.1f} / {t['torch'] * 1e3:.1f} ms"
                                             for name, t in runs[-1].items()), flush=True)
    for name in runs[0]:
        ours, theirs = (np.array([run[name][c] for run in runs]) for c in ("rnnkit", "torch"))
        ratio = ours / theirs
        print(f"{name}: rnnkit {ours.min() * 1e3:.1f}-{ours.max() * 1e3:.1f} ms (largest / least "
              f"{ours.max() / ours.min():.2f}), torch {theirs.min() * 1e3:.1f}-{theirs.max() * 1e3:.1f} ms "
              f"({theirs.max() / theirs.min():.2f}), ratio {ratio.min():.2f}-{ratio.max():.2f} "
              f"(median {np.median(ratio):.2f}) over {len(runs)} processes")


def processes_child() -> None:
    sys.path.insert(0, HERE)
    import bench

    bench.set_threads(os.cpu_count())  # as bench.py sets both libraries up
    rng = np.random.default_rng(0)
    rows = []
    for kind, shape in PROCESS_ROWS:
        B, T, H, L = bench.SHAPES[shape]
        rows.append(dict(name=f"{kind} ({shape})", contestants={"rnnkit": bench.rnnkit_layer(kind, B, T, H, L, rng),
                                                                "torch": bench.torch_layer(kind, B, T, H, L, rng)}))
    bench.time_rows(rows, 7)
    print(json.dumps({row["name"]: row["median_s"] for row in rows}))


def page_faults(repeats: int) -> None:
    """Each LSTM shape of ``bench.py``, and its LM training steps, in a fresh process of its own, as a
    user's script would run them: per library, the minor page faults and the time per call (forward +
    backward, or a training step; ``10 * repeats`` calls in a row after 5 warm-up calls); then again
    with glibc's mmap and trim thresholds raised to 256 MiB (``bench.raise_malloc_thresholds``, as
    ``bench.py --malloc-thresholds 256``), so that freed memory is reused instead of handed back and
    faulted in anew. The times are not interleaved: the bench's runs are the timing evidence."""
    for shape in ("a", "b", "c", "d", "LM a", "LM b"):
        for label, mib in (("glibc's defaults", 0), ("thresholds at 256 MiB", 256)):
            out = subprocess.run([sys.executable, __file__, "_page-faults-child", shape, str(10 * repeats), str(mib)],
                                 capture_output=True, text=True, check=True)
            got = json.loads(out.stdout.strip().splitlines()[-1])
            name = f"LM step ({shape[-1]})" if shape.startswith("LM") else f"LSTM ({shape})"
            print(f"{name}, {label}: " + ", ".join(
                f"{c} {v['faults']:.0f} faults and {v['ms']:.2f} ms per call" for c, v in got.items()), flush=True)


def page_faults_child(shape: str, calls: int, mib: int) -> None:
    sys.path.insert(0, HERE)
    import bench

    if mib and not bench.raise_malloc_thresholds(mib):
        raise SystemExit("raising glibc's thresholds needs glibc")
    bench.set_threads(os.cpu_count())
    rng = np.random.default_rng(0)
    lm = shape.startswith("LM")
    B, T, H, L = bench.SHAPES[shape[-1]]
    got = {}
    for name, make in (("rnnkit", bench.rnnkit_lm if lm else bench.rnnkit_layer),
                       ("torch", bench.torch_lm if lm else bench.torch_layer)):
        step = make(B, T, H, L, rng) if lm else make("LSTM", B, T, H, L, rng)
        for _ in range(5):
            step()
        faults0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        for _ in range(calls):
            step()
        got[name] = dict(ms=(time.perf_counter() - t0) / calls * 1e3,
                         faults=(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0) / calls)
    print(json.dumps(got))


def alternate(layer, settings: dict, repeats: int, B: int, T: int) -> dict[str, np.ndarray]:
    """Forward + backward of ``layer`` on ``(B, T, input)`` data under each setting (``{label: apply}``,
    ``apply(layer)`` switches to it), alternating run by run after a warm-up round; the times (s).
    Each timed call follows an untimed one under the same setting: the first call after a switch pays
    for it (LSTM (b): 27-30 ms against 18-22, which had made two-core steps read 1.10x one core's time
    there, where calls in a row take 0.83-0.89x)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((B, T, layer.input_size), dtype=np.float32)
    dy = rng.standard_normal((B, T, layer.hidden_size), dtype=np.float32)
    times: dict[str, list[float]] = {k: [] for k in settings}
    for r in range(repeats + 1):
        for label in (list(settings) if r % 2 else list(settings)[::-1]):
            settings[label](layer)
            layer.forward(x)
            layer.backward(dy)
            time.sleep(0.25)  # as bench.py's --settle: OpenBLAS's workers spin ~0.1 s after a call
            t0 = time.perf_counter()
            layer.forward(x)
            layer.backward(dy)
            if r:
                times[label].append(time.perf_counter() - t0)
    return {k: np.array(v) for k, v in times.items()}


def compare(name: str, make, settings: dict, repeats: int, shape) -> None:
    """Print ``alternate``'s medians for ``make(H, L, rng)`` in ``shape (B, T, H, L)``, and how often
    the first setting was the faster."""
    B, T, H, L = shape
    (a, ta), (b, tb) = alternate(make(H, L, np.random.default_rng(0)), settings, repeats, B, T).items()
    print(f"{name}: {a} {np.median(ta) * 1e3:.1f} ms, {b} {np.median(tb) * 1e3:.1f} ms, ratio "
          f"{np.median(ta) / np.median(tb):.3f}, {a} faster in {np.mean(ta < tb) * 100:.0f}% of {len(ta)} pairs")


def cells():
    from rnnkit.nn import GRU, LSTM, RNN

    return {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}


def wavefront_b(repeats: int) -> None:
    def use(flag):
        def apply(layer):
            layer.use_wavefront = flag
        return apply

    for name, cls in cells().items():
        compare(f"{name} (b)", lambda H, L, rng, cls=cls: cls(H, H, num_layers=L, rng=rng),
                  {"wavefront": use(True), "layer by layer": use(None)}, repeats, (20, 20, 200, 2))


def loop_batch(repeats: int) -> None:
    """Steps on one core (as before the two-core steps): compiled loops against the Python loop."""
    from rnnkit.nn.cells import Cell

    def limit(batch):
        def apply(layer):
            Cell.LOOP_PACKED_BATCH = batch
        return apply

    default, two_core_batches = Cell.LOOP_PACKED_BATCH, (Cell.TWO_CORE_BATCH, Cell.TWO_CORE_BATCH_CACHED)
    Cell.TWO_CORE_BATCH = Cell.TWO_CORE_BATCH_CACHED = 0
    try:
        for name, cls in cells().items():
            compare(f"{name} (c)", lambda H, L, rng, cls=cls: cls(H, H, num_layers=L, rng=rng),
                      {"compiled loops": limit(64), "Python loop": limit(default)}, repeats, (64, 100, 256, 1))
    finally:
        Cell.LOOP_PACKED_BATCH, (Cell.TWO_CORE_BATCH, Cell.TWO_CORE_BATCH_CACHED) = default, two_core_batches


def two_cores(repeats: int) -> None:
    """Each layer's steps on two cores, forced in every shape (by default only where ``Cell.two_cores``
    says: shapes (a) and (b), and the LSTM and GRU at (c)), against one core per step: the wavefront
    for (a), compiled loops on one core for (b), the Python loop with OpenBLAS for (c)."""
    from rnnkit.nn.cells import Cell

    default = Cell.TWO_CORE_BATCH, Cell.TWO_CORE_BATCH_CACHED, Cell.TWO_CORE_WORK

    def rule(batch, work):
        def apply(layer):
            Cell.TWO_CORE_BATCH, Cell.TWO_CORE_BATCH_CACHED, Cell.TWO_CORE_WORK = batch, batch, work
        return apply

    try:
        for shape, dims in (("a", (20, 35, 650, 2)), ("b", (20, 20, 200, 2)), ("c", (64, 100, 256, 1))):
            for name, cls in cells().items():
                compare(f"{name} ({shape})", lambda H, L, rng, cls=cls: cls(H, H, num_layers=L, rng=rng),
                        {"two cores": rule(64, 1), "one core": rule(0, 1)}, repeats, dims)
    finally:
        Cell.TWO_CORE_BATCH, Cell.TWO_CORE_BATCH_CACHED, Cell.TWO_CORE_WORK = default


def defer(repeats: int) -> None:
    """The backward pass's weight gradients deferred to the helper thread (``blas.deferred``) against
    the same code with every deferral refused (the products then run at once, split over two cores):
    layers at (a) and (b), then the LM training step at (a) and (b) as ``bench.py`` runs it."""
    from rnnkit.nn import packed

    queue = packed.defer_product

    def use(on):
        def apply(_=None):
            packed.defer_product = queue if on else (lambda *args: False)
        return apply

    settings = {"deferred": use(True), "at once": use(False)}
    try:
        for shape, dims in (("a", (20, 35, 650, 2)), ("b", (20, 20, 200, 2))):
            for name, cls in cells().items():
                compare(f"{name} ({shape})", lambda H, L, rng, cls=cls: cls(H, H, num_layers=L, rng=rng),
                        settings, repeats, dims)
        sys.path.insert(0, HERE)
        import bench

        for shape, (B, T, H, L) in (("a", (20, 35, 650, 2)), ("b", (20, 20, 200, 2))):
            step = bench.rnnkit_lm(B, T, H, L, np.random.default_rng(0))
            times: dict[str, list[float]] = {k: [] for k in settings}
            for r in range(repeats + 1):
                for label in (list(settings) if r % 2 else list(settings)[::-1]):
                    settings[label]()
                    step()
                    time.sleep(0.25)
                    t0 = time.perf_counter()
                    step()
                    if r:
                        times[label].append(time.perf_counter() - t0)
            on, off = (np.array(v) for v in times.values())
            print(f"LM step ({shape}): deferred {B * T / np.median(on):,.0f} tokens/s, at once "
                  f"{B * T / np.median(off):,.0f}, time ratio {np.median(on) / np.median(off):.3f}, deferred "
                  f"faster in {np.mean(on < off) * 100:.0f}% of {len(on)} pairs")
    finally:
        packed.defer_product = queue


def layout(repeats: int) -> None:
    """Packing ``W_h`` and its transpose for the steps (shape (a)'s and (b)'s), on one core and on two
    (``PackedMatrix(cores=TWO_CORES)``, as a layer whose steps run on two cores packs), and the backward's
    input-gradient product ``dA @ W_x^T`` with ``W_x^T`` as a transposed view against a contiguous
    copy made first (the copy included), split over two cores; medians over the repeats."""
    from rnnkit.nn import blas, packed

    rng = np.random.default_rng(0)

    def median_ms(fn, calls: int = 20) -> float:
        fn()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            times.append((time.perf_counter() - t0) / calls)
        return float(np.median(times)) * 1e3

    for H in (650, 200):
        W = rng.standard_normal((H, 4 * H), dtype=np.float32)
        raw, raw_T = (np.empty(packed.raw_floats(*V.shape), np.float32) for V in (W, W.T))
        for cores in (packed.ONE_CORE, packed.TWO_CORES):
            forward = median_ms(lambda: packed.PackedMatrix(W, raw, cores))
            backward = median_ms(lambda: packed.PackedMatrix(W.T, raw_T, cores))
            print(f"pack W_h ({H} x {4 * H}) on {cores} core(s): {forward:.3f} ms; its transpose: {backward:.3f} ms")
    for M, H in ((700, 650), (400, 200)):
        dA = rng.standard_normal((M, 4 * H), dtype=np.float32)
        W_x, dx = rng.standard_normal((H, 4 * H), dtype=np.float32), np.empty((M, H), np.float32)
        view = median_ms(lambda: blas.matmul(dx, dA, W_x.T, split=True), 5)
        copy = median_ms(lambda: blas.matmul(dx, dA, np.ascontiguousarray(W_x.T), split=True), 5)
        print(f"dA ({M} x {4 * H}) @ W_x^T: as a view {view:.2f} ms, through a contiguous copy {copy:.2f} ms")


def softmax(repeats: int) -> None:
    """A language model's softmax over 10k classes (700 and 400 rows, LM shapes (a) and (b)): row maxima,
    exponentials and sums by NumPy and the compiled kernel on one core (``kernels.softmax_exps``) against
    the C kernel with rows shared by two cores (``packed.softmax_exps``); then the loss's gradient
    (probabilities times the mean's 1/N) as the loss made it before (the C kernel's exponentials, then
    one NumPy pass in backward) and now (each row scaled in the C kernel's pass); medians in ms."""
    from rnnkit.nn import kernels, packed

    rng = np.random.default_rng(0)
    for N in (700, 400):
        z = rng.standard_normal((N, 10_000), dtype=np.float32)
        out, bits = np.empty_like(z), np.empty(z.shape[1], np.int32)

        def one_core():
            z_max = z.max(axis=1)
            kernels.softmax_exps(z, z_max, out, bits)
            out.sum(axis=1)

        scale = np.full(N, 1.0 / N, np.float32)

        def scaled_after():
            _, exps, sums = packed.softmax_exps(z)
            np.multiply(exps, scale[:, None] / sums[:, None])

        ways = {"one core": one_core, "two cores": lambda: packed.softmax_exps(z),
                "gradient, scaled after": scaled_after,
                "gradient, scaled in the pass": lambda: packed.softmax_exps(z, scale)}
        times: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(repeats):
            for name, run in ways.items():
                run()
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
        print(f"softmax ({N} x 10000): " + ", ".join(f"{k} {np.median(v) * 1e3:.2f} ms" for k, v in times.items()))


def products(repeats: int) -> None:
    """The steps' product on one core (packed kernel), two cores (``TWO_CORES``) and OpenBLAS's two
    threads, and a split larger product (``blas.matmul``) against OpenBLAS, alternating with a pause
    before each (medians of GFLOP/s over the repeats)."""
    from rnnkit.nn import blas, packed

    def report(shape, ways: dict, calls: int) -> None:
        M, K, N = shape
        rates: dict[str, list[float]] = {k: [] for k in ways}
        for _ in range(repeats):
            for name, run in ways.items():
                time.sleep(0.2)  # OpenBLAS's workers park: they would take the helper's core
                t0 = time.perf_counter()
                for _ in range(calls):
                    run()
                rates[name].append(2 * M * K * N * calls / (time.perf_counter() - t0) / 1e9)
        print(f"({M} x {K}) @ ({K} x {N}): " + ", ".join(f"{k} {np.median(v):.0f}" for k, v in rates.items())
              + " GFLOP/s")

    rng = np.random.default_rng(0)
    for M, K, N in ((20, 650, 2600), (20, 2600, 650), (20, 200, 800), (64, 256, 256)):
        W, a = rng.standard_normal((K, N), dtype=np.float32), rng.standard_normal((M, K), dtype=np.float32)
        P, out = packed.PackedMatrix(W), np.empty((M, N), np.float32)
        report((M, K, N), {"one core": lambda: P.matmul(a, out, cores=1),
                           "two cores": lambda: P.matmul(a, out, cores=2),
                           "OpenBLAS": lambda: np.matmul(a, W, out=out)}, 100)
    for M, K, N in ((700, 650, 2600), (400, 200, 800), (6400, 256, 256)):
        a, b = rng.standard_normal((M, K), dtype=np.float32), rng.standard_normal((K, N), dtype=np.float32)
        out = np.empty((M, N), np.float32)
        report((M, K, N), {"split": lambda: blas.matmul(out, a, b, split=True),
                           "OpenBLAS": lambda: np.matmul(a, b, out=out)}, max(3, int(2e9 / (2 * M * K * N))))


def lm_phases(repeats: int) -> None:
    """``bench.py``'s LM training step at shapes (a) and (b), run back to back and timed phase by
    phase (zeroing, embedding, recurrent forward, output layer, loss forward and backward, output
    layer and recurrent backward with the deferred products joined, embedding backward, clipping,
    SGD); medians in ms over ``4 * repeats`` steps after 5 warm-up steps."""
    from contextlib import contextmanager, nullcontext

    import rnnkit
    from rnnkit.models import LanguageModel, LMConfig
    from rnnkit.nn.blas import deferred
    from rnnkit.optim import SGD, clip_grad_norm

    V = 10_000
    for shape, (B, T, H) in (("a", (20, 35, 650)), ("b", (20, 20, 200))):
        rng = np.random.default_rng(0)
        model = LanguageModel(LMConfig(vocab_size=V, hidden_size=H, num_layers=2), rng=rng)
        loss_fn, optimizer = rnnkit.SoftmaxCrossEntropy(), SGD(model, lr=1.0)
        grads = [g for _, _, g in model.named_parameters()]
        ids = rng.integers(0, V, (B, T + 1))
        state = None
        phases: dict[str, list[float]] = {}
        timing = [False]

        @contextmanager
        def phase(name):
            t0 = time.perf_counter()
            yield
            if timing[0]:
                phases.setdefault(name, []).append(time.perf_counter() - t0)

        for n in range(5 + 4 * repeats):
            timing[0] = n >= 5
            with phase("zero grads"):
                model.zero_grad()
            with phase("embedding"):
                x = model.embedding.forward(ids[:, :-1])
            with phase("recurrent forward"):
                h, state = model.core.forward(x, state)
            with phase("output layer"):
                logits = model.decoder.forward(h)
            with phase("loss forward"):
                loss_fn.forward(logits, ids[:, 1:])
            with phase("loss backward"):
                dlogits = loss_fn.backward()
            with phase("output + recurrent backward"):
                with deferred() if model.core.backward_defers() else nullcontext():
                    dx, _ = model.core.backward(model.decoder.backward(dlogits))
            with phase("embedding backward"):
                model.embedding.backward(dx)
            with phase("clip"):
                clip_grad_norm(grads, 5.0)
            with phase("SGD"):
                optimizer.step()
            del logits, dlogits, h, x, dx
        medians = {k: float(np.median(v)) * 1e3 for k, v in phases.items()}
        print(f"LM step ({shape}) B{B} T{T} H{H}: " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items())
              + f"; sum {sum(medians.values()):.1f} ms")


def layer_phases(repeats: int) -> None:
    """RNN (c) and LSTM (b) as ``bench.py`` times them, each pass split into phases, back to back in
    steady state: the layers' products (input projections; input and weight gradients, or handing the
    latter to the helper thread), the compiled span loops, packing ``W_h`` (the cells' ``alloc`` and
    ``alloc_backward``), the join of the deferred products, and the rest (checks, copies to and from
    time-major order, Python); medians in ms over ``10 * repeats`` passes after 10 warm-up passes."""
    import rnnkit.nn.cells as cell_module
    import rnnkit.nn.recurrent as recurrent
    from rnnkit.nn import packed
    from rnnkit.nn.recurrent import RecurrentUnit

    spent: dict[str, float] = {}

    def timed(fn, phase):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.perf_counter() - t0
        return run

    patches = [(module, name, "products") for module in (recurrent, cell_module)
               for name in ("matmul", "add_column_sums")]
    patches += [(packed, "join_deferred", "join"), (RecurrentUnit, "_forward_steps", "loops"),
                (RecurrentUnit, "_backward_steps", "loops")]
    classes = cells()
    for cls in {type(layer_cls(1, 1).cell) for layer_cls in classes.values()}:
        patches += [(cls, "forward_loop", "loops"), (cls, "backward_loop", "loops"), (cls, "alloc", "packing"),
                    (cls, "alloc_backward", "packing")]
    plain = [(owner, name, getattr(owner, name)) for owner, name, _ in patches]
    try:
        for (owner, name, phase), (_, _, fn) in zip(patches, plain):
            setattr(owner, name, timed(fn, phase))
        for name, (B, T, H, L) in (("RNN", (64, 100, 256, 1)), ("LSTM", (20, 20, 200, 2))):
            rng = np.random.default_rng(0)
            layer = classes[name](H, H, num_layers=L, rng=rng)
            x, dy = (rng.standard_normal((B, T, H), dtype=np.float32) for _ in range(2))
            times: dict[str, list[float]] = {}
            for n in range(10 + 10 * repeats):
                for label, run in (("forward", lambda: layer.forward(x)), ("backward", lambda: layer.backward(dy))):
                    spent.clear()
                    t0 = time.perf_counter()
                    run()
                    total = time.perf_counter() - t0
                    if n >= 10:
                        for phase, t in {**spent, "rest": total - sum(spent.values()), "total": total}.items():
                            times.setdefault(f"{label} {phase}", []).append(t)
            print(f"{name} B{B} T{T} H{H} L{L}: " + ", ".join(f"{k} {np.median(v) * 1e3:.2f}" for k, v in times.items())
                  + " ms")
    finally:
        for owner, name, fn in plain:
            setattr(owner, name, fn)


def blas_loops(repeats: int) -> None:
    """Compiled span loops whose steps call NumPy's BLAS by address (``packed.BLAS``) against the Python
    loop with the same products: RNN (c), and LSTM and GRU at batch 128, where no packed kernel runs."""
    from rnnkit.nn import cells as cell_module

    on = cell_module.blas_loops

    def use(flag):
        def apply(layer):
            cell_module.blas_loops = on if flag else (lambda dtype: False)
        return apply

    try:
        for name, cls in cells().items():
            dims = (64, 100, 256, 1) if name == "RNN" else (128, 50, 256, 1)
            compare(f"{name} B{dims[0]} T{dims[1]} H{dims[2]}",
                    lambda H, L, rng, cls=cls: cls(H, H, num_layers=L, rng=rng),
                    {"compiled loops": use(True), "Python loop": use(False)}, repeats, dims)
    finally:
        cell_module.blas_loops = on


def optimiser(repeats: int) -> None:
    """The LM training step's passes over every parameter (zeroing the gradients, their norm and
    clipping, SGD's update) on two cores (``packed.axpby``, ``packed.sum_squares``) against one,
    alternating step by step; medians in ms of each pass and of the whole step, shapes (a) and (b)."""
    import rnnkit.optim as optim
    from rnnkit.nn import packed
    from rnnkit.nn.base import Layer

    sys.path.insert(0, HERE)
    import bench

    two_cores_from, spent = packed.FLAT_MIN, {}
    plain = {"zero_grad": Layer.zero_grad, "clip": optim.clip_grad_norm, "SGD": optim.SGD.step}

    def timed(name, fn):
        def run(*args, **kwargs):
            t0 = time.perf_counter()
            result = fn(*args, **kwargs)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t0
            return result
        return run

    Layer.zero_grad, optim.clip_grad_norm, optim.SGD.step = (timed(k, f) for k, f in plain.items())
    try:
        for shape, (B, T, H, L) in (("a", (20, 35, 650, 2)), ("b", (20, 20, 200, 2))):
            step = bench.rnnkit_lm(B, T, H, L, np.random.default_rng(0))  # looks up clip_grad_norm: timed
            times: dict[str, dict[str, list[float]]] = {"two cores": {}, "one core": {}}
            for r in range(repeats + 1):
                for label in (list(times) if r % 2 else list(times)[::-1]):
                    packed.FLAT_MIN = two_cores_from if label == "two cores" else 1 << 62
                    step()
                    spent.clear()
                    t0 = time.perf_counter()
                    step()
                    if r:
                        for k, v in {**spent, "step": time.perf_counter() - t0}.items():
                            times[label].setdefault(k, []).append(v)
            for label, parts in times.items():
                print(f"LM step ({shape}), passes on {label}: "
                      + ", ".join(f"{k} {np.median(v) * 1e3:.2f}" for k, v in parts.items()) + " ms")
    finally:
        packed.FLAT_MIN = two_cores_from
        Layer.zero_grad, optim.clip_grad_norm, optim.SGD.step = plain.values()


def main() -> None:
    if sys.argv[1:] == ["_timeout-child"]:
        return timeout_child()
    if sys.argv[1:] == ["_processes-child"]:
        return processes_child()
    if sys.argv[1:2] == ["_page-faults-child"]:
        return page_faults_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    probes = {"trace": trace, "spin": spin, "timeout": timeout, "wavefront-b": wavefront_b,
              "loop-batch": loop_batch, "two-cores": two_cores, "products": products, "defer": defer,
              "layout": layout, "softmax": softmax, "lm-phases": lm_phases, "blas-loops": blas_loops,
              "optimiser": optimiser, "processes": processes, "layer-phases": layer_phases,
              "page-faults": page_faults}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=list(probes))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    probes[args.probe](args.repeats)


if __name__ == "__main__":
    main()
