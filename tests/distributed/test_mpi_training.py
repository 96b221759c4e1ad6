"""Data-parallel training under a real ``mpiexec -n 2`` (the venv's MPICH), through the real CLI.

Equivalence: two ranks with ``B/2`` streams each must follow one process with ``B`` streams step
for step. They cannot be bit-identical: the full batch's weight gradients are single matmuls over
``B*L`` rows, the ranks' are two matmuls over ``B*L/2`` rows summed by the allreduce, so float
sums are taken in another order. Each step adds a few units of round-off (``eps``) relative to the
values, and the updates carry them on, so after the ``STEPS`` steps below the runs may differ by
a few dozen ``eps`` of each tensor's scale: we allow ``TOL_EPS = 64`` (float32: 64 * 1.2e-7 =
7.6e-6 relative; observed about 2 eps). A real bug (an unscaled or missing allreduce, ranks
reading the same streams) moves the numbers by 1e-3 or more after one step. The float64 run,
with the same multiple of float64's eps (1.4e-14), shows the gap is round-off and nothing else.

Dropout is 0: with dropout each rank draws masks for its own ``B/2`` rows from its own random
stream, while one process draws one ``(B, L, D)`` mask, so the two runs drop different units and
legitimately diverge (the engine's dropout layer cannot draw another rank's rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rnnkit.cli import main
from rnnkit.io.checkpoint import load_checkpoint

MPIEXEC = Path(sys.executable).parent / "mpiexec"  # the PyPI mpich wheel puts it beside python
TIMEOUT = 90  # seconds for one mpiexec job; a hang fails the test instead of CI
STEPS = 42  # one epoch is 35 steps: the runs cross an epoch end (validation, lr decay) and stop mid-epoch
TOL_EPS = 64

# Not periodic: every stream (and so every rank) must read different text, or a rank reading the
# wrong rows, or states gathered in the wrong order, would go unnoticed.
_WORDS = "the cat sat on mat a dog ran in park bird sang song".split()
_rng = np.random.default_rng(7)
TEXT = "".join(" ".join(_rng.choice(_WORDS, size=_rng.integers(3, 9))) + "\n" for _ in range(120))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    path = tmp_path_factory.mktemp("mpi")
    (path / "train.txt").write_text(TEXT)
    (path / "valid.txt").write_text(TEXT[:400])
    return path


def args(files, out, *, dtype="float32", optimizer="sgd", **extra):
    argv = ["train", "--train", str(files / "train.txt"), "--valid", str(files / "valid.txt"), "--level", "word",
            "--hidden", "16", "--layers", "2", "--batch-size", "4", "--bptt", "6", "--epochs", "3",
            "--dropout", "0", "--dtype", dtype, "--optimizer", optimizer, "--lr", "1" if optimizer == "sgd" else "0.01",
            "--schedule", "step", "--decay-start", "1", "--log-every", "1", "--checkpoint-every", "0",
            "--max-steps", str(STEPS), "--out", str(out), "--quiet"]
    for key, value in extra.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    return argv


def mpiexec(n, argv, *, env=None, timeout=TIMEOUT):
    """``mpiexec -n N python -m rnnkit ARGV``; returns the finished process (never hangs the suite)."""
    assert MPIEXEC.exists(), f"{MPIEXEC} is missing: install the test extra (pip install -e '.[test]')"
    return subprocess.run([str(MPIEXEC), "-n", str(n), sys.executable, "-m", "rnnkit", *argv],
                          capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})})


def run_ok(n, argv):
    proc = mpiexec(n, argv)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def records(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def assert_close(actual, expected, dtype, what):
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = max(np.abs(expected).max(initial=0.0), 1e-30)
    err = np.abs(actual - expected).max(initial=0.0) / scale
    assert err <= TOL_EPS * np.finfo(dtype).eps, f"{what}: relative error {err:.3g} > {TOL_EPS} eps of {dtype}"


def assert_same_run(a, b, dtype):
    """Same steps, losses, gradient norms, validation perplexities, and the same checkpoint
    (weights, optimiser state, carried state of all streams)."""
    ra, rb = records(a), records(b)
    assert [(r["type"], r["step"]) for r in ra] == [(r["type"], r["step"]) for r in rb]
    assert len([r for r in ra if r["type"] == "interval"]) == STEPS
    for key in ("train_ppl", "grad_norm", "valid_ppl", "lr"):
        pairs = [(x[key], y[key]) for x, y in zip(ra, rb) if x.get(key) is not None]
        assert pairs, key
        for step, (x, y) in enumerate(pairs):
            assert_close(y, x, dtype, f"{key} #{step}")
    arrays_a, meta_a = load_checkpoint(a / "checkpoint.safetensors")
    arrays_b, meta_b = load_checkpoint(b / "checkpoint.safetensors")
    assert meta_a["training"]["step"] == meta_b["training"]["step"] == STEPS
    assert meta_a["training"]["pos"] == meta_b["training"]["pos"] > 0  # stopped mid-epoch: a state is carried
    assert sorted(arrays_a) == sorted(arrays_b) and "state.0" in arrays_a
    for name, value in arrays_a.items():
        assert arrays_b[name].shape == value.shape, name
        assert_close(arrays_b[name], value, dtype, name)


@pytest.fixture(scope="module")
def single(files):
    """The reference: one process, batch 4, float32 SGD (also the target of the resume tests)."""
    out = files / "single"
    assert main(args(files, out)) == 0
    return out


@pytest.mark.parametrize("dtype,optimizer", [("float32", "sgd"), ("float64", "adam")])
def test_two_ranks_with_half_the_batch_each_follow_one_process_step_for_step(files, single, dtype, optimizer):
    one = single if (dtype, optimizer) == ("float32", "sgd") else files / f"single-{dtype}"
    if one != single:
        assert main(args(files, one, dtype=dtype, optimizer=optimizer)) == 0
    two = files / f"two-{dtype}"
    proc = run_ok(2, args(files, two, dtype=dtype, optimizer=optimizer))
    assert "data-parallel over 2 MPI ranks, 2 streams each" in proc.stdout
    assert proc.stdout.count("status: stopped") == 1  # rank 0 alone reports
    assert_same_run(one, two, dtype)


def test_resume_on_another_number_of_ranks(files, single):
    """Stopped mid-epoch on 2 ranks, resumed on 1; and stopped on 1, resumed on 2: both reach
    the uninterrupted single-process run (the checkpoint holds all streams' carried state)."""
    two_then_one, one_then_two = files / "two-then-one", files / "one-then-two"
    run_ok(2, args(files, two_then_one, max_steps=7))
    assert main(args(files, one_then_two, max_steps=7)) == 0
    gathered, _ = load_checkpoint(two_then_one / "checkpoint.safetensors")
    whole, _ = load_checkpoint(one_then_two / "checkpoint.safetensors")
    for part in ("state.0", "state.1"):  # LSTM (h, c), each (layers, B, H): rank 0's rows, then rank 1's
        assert gathered[part].shape == whole[part].shape == (2, 4, 16)
        assert_close(gathered[part], whole[part], "float32", part)

    assert main(["train", "--resume", str(two_then_one), "--max-steps", str(STEPS), "--quiet"]) == 0
    assert_same_run(single, two_then_one, "float32")
    run_ok(2, ["train", "--resume", str(one_then_two), "--max-steps", str(STEPS), "--quiet"])
    assert_same_run(single, one_then_two, "float32")


def test_a_batch_the_ranks_cannot_share_evenly_is_refused(files):
    proc = mpiexec(3, args(files, files / "three"))
    assert proc.returncode != 0
    assert "batch_size 4 must be divisible by the number of MPI ranks (3)" in proc.stderr


@pytest.mark.parametrize("mode,message", [
    ("kill", "BAD TERMINATION"),  # SIGKILL, as the out-of-memory killer would: MPICH's launcher reports it
    ("raise", "rnnkit train: error on rank 1 of 2: RuntimeError"),  # an exception: our handler aborts all ranks
    ("exit", "RNNKIT_TEST_FAIL: rank 1 fails after step 3 (exit)"),  # os._exit(1): no clean-up at all
])
def test_a_rank_that_dies_ends_the_job_instead_of_hanging_it(files, mode, message):
    """Rank 0 is then waiting in the allreduce of step 4; the job must still end, non-zero, soon."""
    proc = mpiexec(2, args(files, files / f"dies-{mode}", max_steps=1000, epochs=1000),
                   env={"RNNKIT_TEST_FAIL": f"1:3:{mode}"}, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
