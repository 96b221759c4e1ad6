"""The pieces of data-parallel training that need no MPI: the flat gradient buffer and launch detection."""

import sys

import numpy as np
import pytest

from rnnkit.models import LMConfig
from rnnkit.models.language_model import LanguageModel
from rnnkit.nn import SoftmaxCrossEntropy
from rnnkit.optim import SGD
from rnnkit.training.distributed import FlatGradients, MPISetupError, SingleProcess, launcher_size, world


def model_and_batch(tie=False, seed=0):
    cfg = LMConfig(vocab_size=11, cell="gru", hidden_size=6, num_layers=2, tie_weights=tie, dtype="float64")
    rng = np.random.default_rng(seed)
    return LanguageModel(cfg, rng=np.random.default_rng(1)), rng.integers(0, 11, (3, 5)), rng.integers(0, 11, (3, 5))


def backward(model, x, y):
    loss = SoftmaxCrossEntropy()
    logits, _ = model.forward(x)
    loss.forward(logits, y)
    model.zero_grad()
    model.backward(loss.backward())


@pytest.mark.parametrize("tie", [False, True])
def test_the_buffer_holds_exactly_the_gradients_the_layers_compute(tie):
    plain, x, y = model_and_batch(tie)
    flat_model, _, _ = model_and_batch(tie)
    flat = FlatGradients(flat_model, extras=2)
    backward(plain, x, y)
    backward(flat_model, x, y)
    expected = np.concatenate([g.ravel() for g in plain.gradients()])
    np.testing.assert_array_equal(flat.grads, expected)
    assert flat.buffer.shape == (plain.num_parameters() + 2,) and flat.buffer.flags.c_contiguous
    flat.check()
    if tie:  # the tied decoder adds into the embedding's gradient, which is a view of the buffer
        assert flat_model.embedding.grads["W"].base is flat.buffer


def test_an_optimiser_built_after_the_buffer_updates_from_it():
    model, x, y = model_and_batch()
    flat = FlatGradients(model)
    before = model.state_dict()
    opt = SGD(model, lr=0.1)
    backward(model, x, y)
    flat.grads *= 0  # what an allreduce writes into the buffer is what the optimiser applies
    opt.step()
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_a_rebound_gradient_is_caught():
    model, _, _ = model_and_batch()
    flat = FlatGradients(model)
    model.decoder.grads["W"] = np.zeros_like(model.decoder.grads["W"])
    with pytest.raises(RuntimeError, match="decoder.W"):
        flat.check()


def test_one_process_needs_no_mpi(monkeypatch):
    for var in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # importing it would fail
    comm = world()
    assert isinstance(comm, SingleProcess) and (comm.rank, comm.size) == (0, 1)
    buf = np.arange(3.0)
    comm.allreduce_sum(buf)
    assert buf.tolist() == [0.0, 1.0, 2.0] and comm.gather("x") == ["x"] and comm.broadcast(5) == 5


def test_several_processes_without_mpi4py_is_an_error_not_n_separate_runs(monkeypatch):
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    assert launcher_size() == 2
    with pytest.raises(MPISetupError, match=r"pip install 'rnnkit\[mpi\]'"):
        world()
