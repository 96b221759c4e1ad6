"""Data-parallel training speed: tokens/s on 1 and 2 MPI ranks, and the share of a step in the allreduce.

The PTB "small" model of Zaremba et al. (2014): 2 x 200 LSTM, vocabulary 10k, batch 20, bptt 20
(4.65M parameters, so each step's allreduce sums 18.6 MB of float32). Run as::

    .venv/bin/python benchmarks/mpi_lm.py --ptb /work/shared/data/ptb --steps 200 --ranks 1 2

which starts ``mpiexec -n N`` (the venv's) for each N and prints one line per rank count plus a
JSON summary (``--json FILE`` to keep it). Per step it times the whole step and, inside it, the
``Allreduce`` call, which includes waiting for the slower rank; a separate loop times the
allreduce alone after a barrier (the pure cost of summing the buffer).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()


def worker(args) -> None:
    """One rank (run under mpiexec)."""
    import numpy as np

    from rnnkit.data.corpus import load_corpus
    from rnnkit.models import LMConfig
    from rnnkit.training.distributed import world
    from rnnkit.training.lm_trainer import LMTrainer, TrainConfig
    from rnnkit.training.progress import Progress

    comm = world()
    ptb = Path(args.ptb)
    corpus = load_corpus(train=ptb / "ptb.train.txt", level="word")
    model_cfg = LMConfig(vocab_size=len(corpus.vocab), cell="lstm", hidden_size=200, num_layers=2, init_scale=0.1)
    config = TrainConfig(batch_size=20, bptt=20, lr=1.0, clip=5.0, sum_over_time=True, epochs=1,
                         max_steps=args.steps + args.warmup, log_every=10**9, checkpoint_every=0)
    out = Path(args.out) / f"n{comm.size}"
    trainer = LMTrainer.create(model_config=model_cfg, corpus=corpus, config=config, out_dir=out,
                               progress=Progress(enabled=False), comm=comm)
    step_times, reduce_times = [], []
    reduce = comm.allreduce_sum

    def timed_reduce(buffer):
        t0 = time.perf_counter()
        reduce(buffer)
        reduce_times.append(time.perf_counter() - t0)

    comm.allreduce_sum = timed_reduce
    train_step = trainer._train_step

    def timed_step(w):
        t0 = time.perf_counter()
        norm = train_step(w)
        step_times.append(time.perf_counter() - t0)
        return norm

    trainer._train_step = timed_step
    trainer.fit()
    comm.allreduce_sum = reduce
    pure = []
    if comm.size > 1:
        buf = trainer.flat.buffer.copy()
        for _ in range(20):
            comm.comm.Barrier()
            t0 = time.perf_counter()
            comm.allreduce_sum(buf)
            pure.append(time.perf_counter() - t0)
    w = args.warmup
    steps, reduces = np.array(step_times[w:]), np.array(reduce_times[w:]) if reduce_times else np.zeros(1)
    mine = {"rank": comm.rank, "step_s": float(np.median(steps)), "reduce_s": float(np.median(reduces)),
            "reduce_share": float(reduces.sum() / steps.sum()) if comm.size > 1 else 0.0,
            "pure_reduce_s": float(np.median(pure)) if pure else 0.0,
            "tokens_per_s": 20 * 20 * len(steps) / float(steps.sum())}
    everyone = comm.gather(mine)
    if comm.rank == 0:
        summary = {"ranks": comm.size, "steps": len(steps), "buffer_mb": trainer.flat.buffer.nbytes / 1e6,
                   "tokens_per_s": min(r["tokens_per_s"] for r in everyone),
                   "step_ms": max(r["step_s"] for r in everyone) * 1e3,
                   "allreduce_ms_in_step": max(r["reduce_s"] for r in everyone) * 1e3,
                   "allreduce_share_of_step": max(r["reduce_share"] for r in everyone),
                   "pure_allreduce_ms": everyone[0]["pure_reduce_s"] * 1e3}
        print("RESULT " + json.dumps(summary), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ptb", required=True, help="folder with ptb.train.txt")
    p.add_argument("--steps", type=int, default=200, help="timed steps (after --warmup)")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    p.add_argument("--out", help="run folder (default: a temporary one)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        return worker(args)
    mpiexec = Path(sys.executable).parent / "mpiexec"
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.ranks:
            cmd = [str(mpiexec), "-n", str(n), sys.executable, str(HERE), "--worker", "--ptb", args.ptb,
                   "--steps", str(args.steps), "--warmup", str(args.warmup), "--out", args.out or tmp]
            # the cores shared out: N ranks get cores/N threads each, and the two-thread wavefront over
            # the LSTM's layers only where a rank has two cores to itself
            per_rank = max(1, (os.cpu_count() or 1) // n)
            env = {**os.environ, "OPENBLAS_NUM_THREADS": str(per_rank), "OMP_NUM_THREADS": str(per_rank),
                   "RNNKIT_WAVEFRONT": "1" if per_rank >= 2 else "0"}
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode:
                sys.exit(f"mpiexec -n {n} failed:\n{proc.stdout}\n{proc.stderr}")
            line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT "))
            r = json.loads(line[len("RESULT "):])
            r["wall_s"] = time.perf_counter() - t0
            r["threads_per_rank"], r["wavefront"] = per_rank, env["RNNKIT_WAVEFRONT"] == "1"
            results.append(r)
            print(f"{n} rank(s): {r['tokens_per_s']:8.0f} tok/s  step {r['step_ms']:6.1f} ms  "
                  f"allreduce in step {r['allreduce_ms_in_step']:6.2f} ms ({r['allreduce_share_of_step']:.1%})  "
                  f"allreduce alone {r['pure_allreduce_ms']:6.2f} ms  ({r['buffer_mb']:.1f} MB)", flush=True)
    machine = {"machine": platform.node(), "cpu": _cpu(), "cores": os.cpu_count(), "load_avg": os.getloadavg()}
    print(json.dumps({"machine": machine, "results": results}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=1))


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
