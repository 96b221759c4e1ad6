"""rnnkit against PyTorch (and onnxruntime), side by side in one process.

    python benchmarks/bench.py                 # everything (what `make bench` runs)
    python benchmarks/bench.py --quick         # fewer repeats
    python benchmarks/bench.py --only lstm     # rows whose name contains "lstm" (case-insensitive)

Method: every row's contestants are warmed up, then timed round-robin — repeat r times every
contestant of every row once, rotating the order within a row each round, each run after a short
sleep so the other library's spinning threads have parked; a run of a fast row calls its step several
times back to back (``--min-sample``) — and the median is reported, with the ratio's 90% bootstrap interval
(``ratio_interval``) and the number of rounds in which rnnkit was the faster. rnnkit's BLAS and torch get the same number of threads (``--threads``, default: all cores). The "limit"
column is the row's matrix-product FLOPs divided by the best float32 product rate measured in this
run (2048^3, before and after the rows), i.e. the time a perfect implementation would need. "CPU
stolen" is the share of each library's timed CPU time that the hypervisor took (``/proc/stat``'s steal)
and that time in CPU milliseconds: the counter comes in 10 ms ticks per CPU, so over a row's
timed runs a few tens of milliseconds are within its reading error.
Writes ``benchmarks/results/latest.json``, ``latest.md`` and ``latest.png`` (``plot_bench.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SHAPES = {  # name: (batch, time, input = hidden, layers)
    "a": (20, 35, 650, 2),
    "b": (20, 20, 200, 2),
    "c": (64, 100, 256, 1),
    "d": (1, 1000, 128, 1),
}
GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}
VOCAB = 10_000


# ---------------------------------------------------------------------------------------------- FLOPs
def recurrent_flops(B, T, H, L, G):
    """Matrix-product FLOPs of forward + backward: forward 2BT(I+H)GH per layer, backward twice that."""
    return 3 * L * 2 * B * T * (H + H) * G * H


def lm_flops(B, T, H, L):
    return recurrent_flops(B, T, H, L, 4) + 3 * 2 * B * T * H * VOCAB


# --------------------------------------------------------------------------------------- contestants
def rnnkit_layer(kind, B, T, H, L, rng):
    import rnnkit

    return _forward_backward(getattr(rnnkit, kind)(H, H, num_layers=L, rng=rng), B, T, H, rng)


def _forward_backward(m, B, T, H, rng):
    """One forward + backward of a NumPy layer ``m`` on random float32 data ``(B, T, H)``."""
    x = rng.standard_normal((B, T, H)).astype(np.float32)
    dy = rng.standard_normal((B, T, H)).astype(np.float32)

    def step():
        m.forward(x)
        m.backward(dy)

    return step


def torch_layer(kind, B, T, H, L, rng):
    import torch

    m = getattr(torch.nn, kind)(H, H, num_layers=L, batch_first=True)
    x = torch.tensor(rng.standard_normal((B, T, H)).astype(np.float32), requires_grad=True)
    dy = torch.tensor(rng.standard_normal((B, T, H)).astype(np.float32))

    def step():
        y, _ = m(x)
        y.backward(dy)

    return step


def textbook_layer(B, T, H, L, rng):
    from textbook import TextbookStack

    return _forward_backward(TextbookStack(H, H, L, rng), B, T, H, rng)


def _lm_batch(B, T, rng):
    ids = rng.integers(0, VOCAB, (B, T + 1))
    return ids[:, :-1], ids[:, 1:]


def rnnkit_lm(B, T, H, L, rng, lr=1.0, max_norm=5.0):
    """What ``rnnkit train`` runs per batch, with the library's own pieces: ``LanguageModel``
    (embedding -> L-layer LSTM -> linear; the state carried, truncated BPTT), ``SoftmaxCrossEntropy``,
    ``clip_grad_norm`` and ``SGD``."""
    import rnnkit
    from rnnkit.models import LanguageModel, LMConfig
    from rnnkit.optim import SGD, clip_grad_norm

    model = LanguageModel(LMConfig(vocab_size=VOCAB, hidden_size=H, num_layers=L), rng=rng)
    loss_fn = rnnkit.SoftmaxCrossEntropy()
    optimizer = SGD(model, lr=lr)
    grads = [g for _, _, g in model.named_parameters()]
    inputs, targets = _lm_batch(B, T, rng)
    state = [None]

    def step():
        model.zero_grad()
        logits, state[0] = model.forward(inputs, state[0])
        loss = loss_fn.forward(logits, targets)
        model.backward(loss_fn.backward())
        clip_grad_norm(grads, max_norm)
        optimizer.step()
        return loss

    return step


def torch_lm(B, T, H, L, rng, lr=1.0, max_norm=5.0, grads_from_start=False):
    """torch's LM step. ``grads_from_start``: the gradients made with the model and zeroed in place
    (as rnnkit's are), for the memory measurement; else ``zero_grad()``'s default (set to None)."""
    import torch

    class LM(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(VOCAB, H)
            self.lstm = torch.nn.LSTM(H, H, num_layers=L, batch_first=True)
            self.out = torch.nn.Linear(H, VOCAB)

        def forward(self, ids, state):
            y, state = self.lstm(self.emb(ids), state)
            return self.out(y), state

    model = LM()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    inputs, targets = (torch.tensor(a) for a in _lm_batch(B, T, rng))
    state = [None]

    if grads_from_start:
        for p in model.parameters():
            p.grad = torch.zeros_like(p)

    def step():
        opt.zero_grad(set_to_none=not grads_from_start)
        logits, st = model(inputs, state[0])
        state[0] = tuple(s.detach() for s in st)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        opt.step()
        return loss

    return step


def rnnkit_stream(H, rng):
    import rnnkit

    from rnnkit.nn.stepper import Stepper

    m = rnnkit.LSTM(H, H, rng=rng)
    m.eval()
    stepper = Stepper(m, 1)  # what rnnkit.deploy.StreamingLM steps with
    x = rng.standard_normal((1, H)).astype(np.float32)
    state = [(np.zeros((1, 1, H), np.float32), np.zeros((1, 1, H), np.float32))]

    def step():
        _, state[0] = stepper.step(x, state[0])

    return step, m


def torch_stream(H, rng):
    import torch

    m = torch.nn.LSTM(H, H, batch_first=True)
    x = torch.tensor(rng.standard_normal((1, 1, H)).astype(np.float32))
    state = [(torch.zeros(1, 1, H), torch.zeros(1, 1, H))]

    def step():
        with torch.no_grad():
            _, state[0] = m(x, state[0])

    return step


def onnx_step_model(m):
    """A one-step ONNX graph of the rnnkit stack ``m``, built by rnnkit's own exporter: ONNX's LSTM
    operator on ``x (1, 1, I)`` (time-major, so no transposes), the state in and out."""
    from onnx import TensorProto, helper
    from rnnkit.io.onnx_export import ONNX_IR_VERSION, ONNX_OPSET, GraphBuilder, stateful_stack

    g = GraphBuilder(m.dtype)
    _, state_in, state_out = stateful_stack(g, m, "x")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, m.input_size])
    graph = helper.make_graph(g.nodes, "lstm_step", [x, *state_in], state_out, g.inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)], ir_version=ONNX_IR_VERSION)


def ort_stream(H, rng, m, threads):
    """onnxruntime on the same weights as ``m`` (an rnnkit LSTM); checks it computes the same step."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(onnx_step_model(m).SerializeToString(), opts, providers=["CPUExecutionProvider"])
    x = rng.standard_normal((1, 1, H)).astype(np.float32)
    h0 = rng.standard_normal((1, 1, H)).astype(np.float32) * 0.1
    c0 = rng.standard_normal((1, 1, H)).astype(np.float32) * 0.1
    h_ort, c_ort = sess.run(None, {"x": x, "state_h": h0, "state_c": c0})
    _, (h_ref, c_ref) = m.forward(x, (h0, c0))
    assert np.allclose(h_ort, h_ref, atol=1e-5) and np.allclose(c_ort, c_ref, atol=1e-5), "ONNX model differs"
    feeds = {"x": x, "state_h": h0, "state_c": c0}

    def step():
        feeds["state_h"], feeds["state_c"] = sess.run(None, feeds)

    return step


# -------------------------------------------------------------------------------------------- timing
def matmul_rates(repeats=5):
    """Best float32 product rates in GFLOP/s: square 2048^3, and the narrow per-step LSTM shape."""
    rng = np.random.default_rng(0)
    out = {}
    for name, (m, k, n) in {"2048^3": (2048, 2048, 2048), "20x650 @ 650x2600": (20, 650, 2600)}.items():
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        reps = 1 if m >= 2048 else 200
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(reps):
                a @ b
            best = min(best, (time.perf_counter() - t0) / reps)
        out[name] = 2 * m * k * n / best / 1e9
    return out


def stolen_cpu_s():
    """CPU time the hypervisor has taken from this VM since boot, all CPUs together (the "steal" field
    of ``/proc/stat``), in seconds; None where the kernel does not report it."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK") if fields[0] == "cpu" and len(fields) > 8 else None
    except (OSError, ValueError, IndexError):
        return None


def stolen_note(env) -> str:
    """The report header's sentence on the CPU the hypervisor took, or "" where it was not measured."""
    if env.get("stolen_share") is None:
        return ""
    return (" CPU stolen: the share of the CPU time of each library's timed runs that the hypervisor took, and "
            "that CPU time (/proc/stat's steal, in 10 ms ticks per CPU: tens of ms are within its reading "
            f"error); {100 * env['stolen_share']:.1f}% over the whole timing.")


def bootstrap_ratios(a, b, draws=4000, seed=0) -> np.ndarray:
    """``draws`` bootstrap replicates of ``median(a) / median(b)``: each contestant's timed runs
    resampled with replacement."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return (np.median(rng.choice(a, (draws, a.size)), axis=1) /
            np.median(rng.choice(b, (draws, b.size)), axis=1))


def ratio_interval(a, b, level=0.9) -> tuple[float, float]:
    """``(low, high)``: the ``level`` percentile-bootstrap interval of ``median(a) / median(b)``. Over
    27 runs of this bench with seven repeats, the ratios' spread from run to run was as wide
    as the bootstrap predicts from within one run (``plot_bench.py --spread``): a run's samples, not
    the runs, carry the uncertainty."""
    low, high = np.quantile(bootstrap_ratios(a, b), [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def time_rows(rows, repeats, warmup=2, settle=0.25, min_sample=0.1):
    """Round-robin timing: ``rows`` is a list of dicts with ``contestants: {name: fn}``.

    Before each timed run the process sleeps ``settle`` seconds: after a parallel region both
    OpenBLAS's workers (for ~2^28 cycles) and OpenMP's (torch) keep spinning, and would otherwise
    take a core from whichever contestant runs next. A timed run makes ``row["inner"]`` calls, or
    as many as fill ``min_sample`` seconds for the slower contestant (1 to 20, the same for both):
    the first call after the sleep pays for cold caches and sleeping cores, which made single calls
    of ~20 ms read anywhere from 21 to 45 ms (LSTM (b), both libraries); a training loop runs its
    steps back to back.

    Each row also gets ``stolen``: the share of the CPU time its timed runs could have used that the
    hypervisor took instead (``stolen_cpu_s``: on a shared VM a slow minute shows there), per
    contestant, and ``stolen_s``, that time in CPU seconds; None where it is not reported. The counter
    comes in 10 ms ticks per CPU, so each timed run's reading may be off by that much per CPU."""
    for row in rows:
        for fn in row["contestants"].values():
            for _ in range(warmup):
                fn()
        if "inner" not in row:
            slowest = 0.0
            for fn in row["contestants"].values():
                t0 = time.perf_counter()
                fn()
                slowest = max(slowest, time.perf_counter() - t0)
            row["inner"] = max(1, min(20, round(min_sample / slowest))) if min_sample > 0 else 1
    samples = {(r["name"], c): [] for r in rows for c in r["contestants"]}
    stolen = {key: [0.0, 0.0] for key in samples}  # CPU seconds stolen, CPU seconds available
    for rep in range(repeats):
        for row in rows:
            names = list(row["contestants"])
            names = names[rep % len(names):] + names[: rep % len(names)]
            for c in names:
                fn, inner = row["contestants"][c], row.get("inner", 1)
                time.sleep(settle)
                steal0 = stolen_cpu_s()
                t0 = time.perf_counter()
                for _ in range(inner):
                    fn()
                elapsed = time.perf_counter() - t0
                steal1 = stolen_cpu_s()
                samples[(row["name"], c)].append(elapsed / inner)
                if steal0 is not None and steal1 is not None:
                    stolen[(row["name"], c)][0] += steal1 - steal0
                    stolen[(row["name"], c)][1] += elapsed * (os.cpu_count() or 1)
    for row in rows:
        row["median_s"] = {c: float(np.median(samples[(row["name"], c)])) for c in row["contestants"]}
        row["samples_s"] = {c: samples[(row["name"], c)] for c in row["contestants"]}
        shares = {c: stolen[(row["name"], c)] for c in row["contestants"]}
        measured = all(total > 0 for _, total in shares.values())
        row["stolen"] = {c: taken / total for c, (taken, total) in shares.items()} if measured else None
        row["stolen_s"] = {c: taken for c, (taken, _) in shares.items()} if measured else None
    return rows


# ---------------------------------------------------------------------------------------------- memory
MEM_CHILD = r"""
import sys, json, resource
sys.path.insert(0, {here!r})
import numpy as np
import bench
which, shape = sys.argv[1], sys.argv[2]
B, T, H, L = bench.SHAPES[shape]
if which == "torch":
    import torch; torch.set_num_threads({threads})
import ctypes, gc


def make():
    if which == "rnnkit":
        return bench.rnnkit_lm(B, T, H, L, np.random.default_rng(0))
    return bench.torch_lm(B, T, H, L, np.random.default_rng(0), grads_from_start=True)


step = make()
step()  # loads each library's code (compiled kernels, BLAS threads): once per process, not per step
del step
gc.collect()
ctypes.CDLL("libc.so.6").malloc_trim(0)  # what was freed goes back to the system: RSS is what lives
step = make()

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
before = status("VmRSS:")
try:
    open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
    method = "VmHWM after clear_refs"
except OSError:
    method = "ru_maxrss"
for _ in range(4):  # the first included: what rnnkit keeps from one step to the next is made there
    step()
peak = status("VmHWM:") if method.startswith("VmHWM") else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(dict(before=before, peak=peak, delta=peak - before, method=method)))
"""


def peak_memory(shape, threads):
    out = {}
    code = MEM_CHILD.format(here=str(HERE), threads=threads)
    for which in ("rnnkit", "torch"):
        r = subprocess.run([sys.executable, "-c", code, which, shape], capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        if r.returncode:
            raise RuntimeError(r.stderr)
        out[which] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


# ------------------------------------------------------------------------------------------------ main
def set_threads(n):
    """Give NumPy's BLAS and torch the same ``n`` threads (torch: one inter-op thread)."""
    from threadpoolctl import threadpool_limits
    import torch

    threadpool_limits(n)
    torch.set_num_threads(n)
    torch.set_num_interop_threads(1)


def raise_malloc_thresholds(mib: int) -> bool:
    """Set glibc's mmap and trim thresholds to ``mib`` MiB (``mallopt``) for this process: memory a
    call frees stays in the heap for the next call, instead of going back to the kernel and being
    faulted in anew (by default glibc maps blocks from 128 KiB up to a threshold that moves, and trims
    the heap). torch allocates its intermediates per call and so pays page faults by default;
    jemalloc or TCMalloc, which Intel's tuning guide for PyTorch on CPUs suggests, avoid them too. False where the
    C library is not glibc."""
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, mib << 20)) and bool(mallopt(M_TRIM_THRESHOLD, mib << 20))


def blas_info():
    try:
        from threadpoolctl import threadpool_info

        infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        return ", ".join(f"{i['internal_api']} {i.get('version')} ({i.get('architecture')}, "
                         f"{i['num_threads']} threads)" for i in infos)
    except ImportError:
        return "unknown (install threadpoolctl to name it)"


def fmt_ms(s):
    return f"{s * 1e3:.3f}" if s < 0.01 else f"{s * 1e3:.1f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="3 repeats instead of 21, smaller streaming loops")
    ap.add_argument("--only", default=None, help="run rows whose name contains this (case-insensitive)")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed runs per contestant and row (default 21: with 7, one run's ratio moved by 4-14%% "
                         "(one standard deviation) from run to run, no more than its own samples predict)")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--settle", type=float, default=0.25,
                    help="seconds of sleep before each timed run, for the other library's spinning threads to park")
    ap.add_argument("--min-sample", type=float, default=0.1,
                    help="seconds each timed run should last: rows faster than this call their step several "
                         "times back to back per run (1 to 20, the same count for every contestant); 0: one call")
    ap.add_argument("--malloc-thresholds", type=int, default=0, metavar="MIB",
                    help="set glibc's mmap and trim thresholds to MIB MiB first (mallopt), so that neither library "
                         "pays page faults for memory it frees and allocates again each call; default: glibc's "
                         "own settings. The memory rows run in processes of their own, with glibc's settings")
    ap.add_argument("--out", default=str(HERE / "results"))
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 21)
    N = args.threads

    if args.malloc_thresholds and not raise_malloc_thresholds(args.malloc_thresholds):
        ap.error("--malloc-thresholds needs glibc")
    import torch

    set_threads(N)
    import rnnkit

    env = dict(
        python=platform.python_version(), numpy=np.__version__, torch=torch.__version__,
        rnnkit=rnnkit.__version__, cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
        threads=N, blas=blas_info(), torch_threads=torch.get_num_threads(),
        torch_mkldnn=bool(torch.backends.mkldnn.is_available()),
        command="python benchmarks/bench.py " + " ".join(sys.argv[1:] if argv is None else argv),
        repeats=repeats, date=time.strftime("%Y-%m-%d %H:%M:%S"), malloc_thresholds_mib=args.malloc_thresholds,
    )
    try:
        env["cpu"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"rnnkit {env['rnnkit']} | numpy {env['numpy']} | torch {env['torch']} | {env['cpu']}")
    print(f"threads: {N} (numpy BLAS and torch.set_num_threads({N})) | BLAS: {env['blas']}")
    rates = matmul_rates()
    print("float32 product rates: " + ", ".join(f"{k}: {v:.0f} GFLOP/s" for k, v in rates.items()))

    rng = np.random.default_rng(0)
    rows = []
    for kind in ("RNN", "LSTM", "GRU"):
        for s, (B, T, H, L) in SHAPES.items():
            rows.append(dict(name=f"{kind} ({s}) B{B} T{T} H{H} L{L} fwd+bwd", unit="ms",
                             flops=recurrent_flops(B, T, H, L, GATES[kind]),
                             contestants={"rnnkit": rnnkit_layer(kind, B, T, H, L, rng),
                                          "torch": torch_layer(kind, B, T, H, L, rng)}))
    for s, (B, T, H, L) in SHAPES.items():
        rows.append(dict(name=f"textbook LSTM ({s}) B{B} T{T} H{H} L{L} fwd+bwd", unit="ms",
                         flops=recurrent_flops(B, T, H, L, 4),
                         contestants={"rnnkit": textbook_layer(B, T, H, L, rng),
                                      "torch": torch_layer("LSTM", B, T, H, L, rng)},
                         note="reference: per-step input projection, unfused gates (benchmarks/textbook.py)"))
    for s in ("a", "b"):
        B, T, H, L = SHAPES[s]
        rows.append(dict(name=f"LM train step ({s}) B{B} T{T} H{H} L{L} V{VOCAB}", unit="tokens/s",
                         tokens=B * T, flops=lm_flops(B, T, H, L),
                         contestants={"rnnkit": rnnkit_lm(B, T, H, L, rng), "torch": torch_lm(B, T, H, L, rng)}))
    for H in (128, 256, 650):
        step, m = rnnkit_stream(H, rng)
        contestants = {"rnnkit": step, "torch": torch_stream(H, rng)}
        for n in sorted({1, N}):
            contestants[f"onnxruntime({n}t)"] = ort_stream(H, rng, m, n)
        rows.append(dict(name=f"streaming LSTM step B1 H{H} (inference)", unit="us",
                         flops=2 * (H + H) * 4 * H, contestants=contestants, inner=20 if args.quick else 50))
    if args.only:
        rows = [r for r in rows if args.only.lower() in r["name"].lower()]

    t0, steal0 = time.perf_counter(), stolen_cpu_s()
    time_rows(rows, repeats, settle=args.settle, min_sample=args.min_sample)
    env["timing_s"] = time.perf_counter() - t0
    steal1 = stolen_cpu_s()
    env["stolen_share"] = ((steal1 - steal0) / (env["timing_s"] * (os.cpu_count() or 1))
                           if steal0 is not None and steal1 is not None else None)
    # measured again after the rows, keeping the better of the two: a rate taken while the machine
    # was busy for a moment (seen once: 96 against 166-178 GFLOP/s) would inflate "% of limit"
    again = matmul_rates()
    print("float32 product rates, again: " + ", ".join(f"{k}: {v:.0f} GFLOP/s" for k, v in again.items()))
    rates = {k: max(v, again[k]) for k, v in rates.items()}
    best_rate = max(rates.values())
    env["matmul_gflops"] = rates

    memory = None
    if not args.no_memory and (args.only is None or args.only.lower() in "lm train step memory"):
        memory = {s: peak_memory(s, N) for s in ("a", "b")}

    # ------------------------------------------------------------------------------------- report
    lines = [f"| row | rnnkit | torch | ratio rnnkit/torch | its 90% interval | rnnkit faster in | calls | limit | rnnkit % of limit | "
             "CPU stolen, rnnkit / torch | other |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    print()
    print(f"{'row':<48} {'rnnkit':>10} {'torch':>10} {'ratio (90% interval)':>20} {'faster':>6} {'limit':>9} {'%lim':>5}  other")
    for row in rows:
        med = row["median_s"]
        ratio = med["rnnkit"] / med["torch"]
        row["ratio"] = ratio
        samples = row["samples_s"]
        row["ratio_interval"] = {c: ratio_interval(samples["rnnkit"], samples[c]) for c in samples if c != "rnnkit"}
        low, high = row["ratio_interval"]["torch"]
        # the repeats pair up (each repeat times every contestant once, one after the other): in how many
        # was rnnkit the faster? A median ratio near 1 with 4 of 7 is a tie; 7 of 7 is not noise.
        pairs = list(zip(samples["rnnkit"], samples["torch"]))
        wins = f"{sum(r < t for r, t in pairs)}/{len(pairs)}"
        row["rnnkit_faster_in"] = wins
        limit = row["flops"] / (best_rate * 1e9)
        row["limit_s"] = limit
        others = {c: v for c, v in med.items() if c not in ("rnnkit", "torch")}
        if row["unit"] == "tokens/s":
            vals = [f"{row['tokens'] / med[c]:,.0f}" for c in ("rnnkit", "torch")]
            lim = f"{row['tokens'] / limit:,.0f}"
            row["speedup_tokens_per_s"] = med["torch"] / med["rnnkit"]
        elif row["unit"] == "us":
            vals = [f"{med[c] * 1e6:.1f} us" for c in ("rnnkit", "torch")]
            lim = f"{limit * 1e6:.2f} us"
        else:
            vals = [f"{fmt_ms(med[c])} ms" for c in ("rnnkit", "torch")]
            lim = f"{fmt_ms(limit)} ms"
        pct = f"{100 * limit / med['rnnkit']:.0f}%"
        other = "; ".join(f"{c} {v * 1e6:.1f} us (rnnkit/{c} {med['rnnkit'] / v:.2f}, "
                          f"{'-'.join(f'{x:.2f}' for x in row['ratio_interval'][c])})" for c, v in others.items())
        stolen, stolen_s = row["stolen"], row["stolen_s"]
        steal = (" / ".join(f"{100 * stolen[c]:.1f}% ({1e3 * stolen_s[c]:.0f} ms)" for c in ("rnnkit", "torch"))
                 if stolen else "n/a")
        print(f"{row['name']:<48} {vals[0]:>10} {vals[1]:>10} {ratio:6.2f} ({low:.2f}-{high:.2f}) {wins:>6} {lim:>9} {pct:>5}  "
              f"stolen {steal}  {other}")
        lines.append(f"| {row['name']} | {vals[0]} | {vals[1]} | **{ratio:.2f}** | {low:.2f}-{high:.2f} | {wins} | {row['inner']} | {lim} | "
                     f"{pct} | {steal} | {other} |")
    if memory:
        print()
        lines += ["", "| peak memory of LM training steps (MiB above the RSS with a new model and its gradients made, "
                  "before its first step; each library in its own process, warmed up on a first model) "
                  "| rnnkit | torch | ratio |",
                  "|---|---:|---:|---:|"]
        for s, m in memory.items():
            r, t = m["rnnkit"]["delta"] / 2**20, m["torch"]["delta"] / 2**20
            print(f"peak memory LM step ({s}): rnnkit {r:.1f} MiB, torch {t:.1f} MiB, ratio {r / t:.2f} "
                  f"[{m['rnnkit']['method']}]")
            lines.append(f"| LM step ({s}) | {r:.1f} | {t:.1f} | {r / t:.2f} |")
    header = [f"`{env['command']}` — {env['date']}", "",
              f"{env['cpu']}, {env['cores']} cores; threads {N} (numpy BLAS via threadpoolctl, "
              f"torch.set_num_threads({N})); BLAS: {env['blas']}; numpy {env['numpy']}, torch {env['torch']} "
              f"(mkldnn {env['torch_mkldnn']}). Medians of {repeats} interleaved repeats after warm-up, {args.settle} s of sleep before each; "
              "the interval is the ratio's 90% bootstrap interval over those repeats; "
              f"each repeat calls a row's step as many times as fill {args.min_sample} s (1-20, the same for both; column calls). "
              f"Product rates (the better of two measurements, before and after the rows): "
              + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in rates.items()) +
              ". limit = row FLOPs (matrix products only) / best product rate." + stolen_note(env)
              + (f" glibc's mmap and trim thresholds set to {args.malloc_thresholds} MiB (--malloc-thresholds)."
                 if args.malloc_thresholds else ""), ""]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        del row["contestants"]
    (out / "latest.json").write_text(json.dumps(dict(env=env, rows=rows, memory=memory), indent=1))
    (out / "latest.md").write_text("\n".join(header + lines) + "\n")
    print(f"\nwrote {out / 'latest.json'} and {out / 'latest.md'}")
    from plot_bench import plot, title_for  # this run's ratios against the goals, as a picture

    run = dict(env=env, rows=rows)
    plot([run], out / "latest.png", title_for([run]))
    print(f"wrote {out / 'latest.png'}")


if __name__ == "__main__":
    main()
