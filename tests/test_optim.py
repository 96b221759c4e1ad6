"""Optimisers, clipping and schedules: parity with PyTorch and the in-place contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnkit.nn.base import Layer
from rnnkit.nn.blas import threads
from rnnkit.optim import SGD, Adam, ReduceOnPlateau, StepDecay, clip_grad_norm

N_STEPS = 6


class Toy(Layer):
    """Two parameters plus a child that ties ``W`` (same array object) and owns ``V``."""

    def __init__(self, rng: np.random.Generator, dtype=np.float64) -> None:
        super().__init__()
        self.add_param("W", rng.standard_normal((3, 4)).astype(dtype))
        self.add_param("b", rng.standard_normal(4).astype(dtype))
        child = Layer()
        child.params["W"] = self.params["W"]
        child.grads["W"] = self.grads["W"]
        child.add_param("V", rng.standard_normal((2, 3)).astype(dtype))
        self.add_child("tied", child)


def torch_copy(model: Layer) -> dict[str, torch.Tensor]:
    return {
        name: torch.tensor(p.copy(), requires_grad=True) for name, p, _ in model.named_parameters()
    }


def set_grads(model: Layer, tparams: dict[str, torch.Tensor], rng: np.random.Generator) -> None:
    for name, _, grad in model.named_parameters():
        grad[...] = rng.standard_normal(grad.shape)
        tparams[name].grad = torch.tensor(grad.copy())


def assert_params_match(model: Layer, tparams: dict[str, torch.Tensor]) -> None:
    for name, param, _ in model.named_parameters():
        np.testing.assert_allclose(param, tparams[name].detach().numpy(), rtol=1e-12, atol=0)


def run_parity(make_ours, make_torch, seed: int, lr_change: float | None = None) -> None:
    rng = np.random.default_rng(seed)
    model = Toy(rng)
    tparams = torch_copy(model)
    ours, theirs = make_ours(model), make_torch(list(tparams.values()))
    for step in range(N_STEPS):
        if lr_change is not None and step == N_STEPS // 2:
            ours.lr = lr_change
            for group in theirs.param_groups:
                group["lr"] = lr_change
        set_grads(model, tparams, rng)
        ours.step()
        theirs.step()
        assert_params_match(model, tparams)


@pytest.mark.parametrize(
    "momentum, weight_decay", [(0.0, 0.0), (0.9, 0.0), (0.0, 0.01), (0.9, 0.01)]
)
def test_sgd_matches_torch(momentum: float, weight_decay: float) -> None:
    run_parity(
        lambda m: SGD(m, lr=0.1, momentum=momentum, weight_decay=weight_decay),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=momentum, weight_decay=weight_decay),
        seed=0,
        lr_change=0.03,
    )


@pytest.mark.parametrize(
    "betas, eps, weight_decay", [((0.9, 0.999), 1e-8, 0.0), ((0.8, 0.99), 1e-3, 0.05)]
)
def test_adam_matches_torch(betas, eps, weight_decay) -> None:
    run_parity(
        lambda m: Adam(m, lr=0.01, betas=betas, eps=eps, weight_decay=weight_decay),
        lambda ps: torch.optim.Adam(ps, lr=0.01, betas=betas, eps=eps, weight_decay=weight_decay),
        seed=1,
        lr_change=0.002,
    )


@pytest.mark.parametrize(
    "make", [lambda m: SGD(m, lr=0.1, momentum=0.9), lambda m: Adam(m, lr=0.1)]
)
def test_update_is_in_place_and_tied_weights_stay_tied(make) -> None:
    rng = np.random.default_rng(2)
    model = Toy(rng, dtype=np.float32)
    child = dict(model.children())["tied"]
    ids = {name: id(p) for name, p, _ in model.named_parameters()}
    before = model.state_dict()
    opt = make(model)
    for _, _, grad in model.named_parameters():
        grad[...] = 1.0
    opt.step()
    assert child.params["W"] is model.params["W"]
    for name, param, _ in model.named_parameters():
        assert id(param) == ids[name]
        assert param.dtype == np.float32
        assert not np.array_equal(param, before[name])
    # the tied array was updated once, not once per owner: same step as an untied copy would take
    single = Toy(np.random.default_rng(2), dtype=np.float32)
    only_w = Layer()
    only_w.add_param("W", single.params["W"])
    only_w.grads["W"][...] = 1.0
    make(only_w).step()
    np.testing.assert_array_equal(model.params["W"], only_w.params["W"])


@pytest.mark.parametrize(
    "make", [lambda m: SGD(m, lr=0.1, momentum=0.9, weight_decay=0.01), lambda m: Adam(m, lr=0.05)]
)
def test_state_dict_resume_equals_uninterrupted_run(make) -> None:
    grads_rng = np.random.default_rng(3)
    shapes = {n: g.shape for n, _, g in Toy(np.random.default_rng(4)).named_parameters()}
    grads = [
        {n: grads_rng.standard_normal(shape) for n, shape in shapes.items()}
        for _ in range(N_STEPS)
    ]

    def run(model: Layer, opt, steps) -> None:
        for k in steps:
            for name, _, grad in model.named_parameters():
                grad[...] = grads[k][name]
            opt.step()

    reference = Toy(np.random.default_rng(4))
    run(reference, make(reference), range(N_STEPS))

    first = Toy(np.random.default_rng(4))
    opt = make(first)
    run(first, opt, range(N_STEPS // 2))
    opt.lr = opt.lr  # still a plain attribute
    arrays, meta = opt.state_dict()
    meta = json.loads(json.dumps(meta))  # must survive JSON

    resumed = Toy(np.random.default_rng(99))
    resumed.load_state_dict(first.state_dict())
    opt2 = make(resumed)
    opt2.load_state_dict(arrays, meta)
    run(resumed, opt2, range(N_STEPS // 2, N_STEPS))
    resumed_params = {n: p for n, p, _ in resumed.named_parameters()}
    for name, param, _ in reference.named_parameters():
        np.testing.assert_array_equal(resumed_params[name], param)


def test_state_dict_keys_and_lr_restored() -> None:
    model = Toy(np.random.default_rng(5))
    opt = Adam(model, lr=0.01)
    opt.step()
    opt.lr = 0.0025
    arrays, meta = opt.state_dict()
    names = [n for n, _, _ in model.named_parameters()]
    assert sorted(arrays) == sorted(f"{n}.{s}" for n in names for s in ("exp_avg", "exp_avg_sq"))
    assert meta["step"] == 1
    fresh = Adam(Toy(np.random.default_rng(5)), lr=1.0)
    fresh.load_state_dict(arrays, meta)
    assert fresh.lr == 0.0025 and fresh.step_count == 1


def test_load_state_dict_errors() -> None:
    model = Toy(np.random.default_rng(6))
    opt = Adam(model)
    opt.step()
    arrays, meta = opt.state_dict()
    with pytest.raises(ValueError, match="saved by optimiser 'Adam', not SGD"):
        SGD(model, lr=0.1).load_state_dict(arrays, meta)
    bad = dict(arrays, **{"b.exp_avg": np.zeros(5)})
    with pytest.raises(ValueError, match=r"'b.exp_avg' has shape \(5,\), expected"):
        Adam(model).load_state_dict(bad, meta)
    partial = {k: v for k, v in arrays.items() if not k.startswith("b.")}
    with pytest.raises(KeyError, match="lacks the buffers"):
        Adam(model).load_state_dict(partial, meta)
    with pytest.raises(KeyError, match="match no parameter"):
        Adam(model).load_state_dict(dict(arrays, **{"nope.exp_avg": np.zeros(1)}), meta)


def test_constructor_validation() -> None:
    model = Toy(np.random.default_rng(7))
    with pytest.raises(ValueError, match="lr must be a finite number >= 0, got -1"):
        SGD(model, lr=-1)
    with pytest.raises(ValueError, match=r"betas\[1\] must lie in \[0, 1\), got 1.0"):
        Adam(model, betas=(0.9, 1.0))


# ---------------------------------------------------------------- clipping


def random_grads(rng: np.random.Generator, scale: float, dtype=np.float64) -> list[np.ndarray]:
    shapes = [(3, 4), (5,), (2, 2, 2)]
    return [(scale * rng.standard_normal(shape)).astype(dtype) for shape in shapes]


def global_norm(grads: list[np.ndarray]) -> float:
    return float(np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads)))


@pytest.mark.parametrize("scale, max_norm", [(10.0, 1.0), (0.01, 1.0), (1.0, 0.5)])
def test_clip_grad_norm_matches_torch(scale: float, max_norm: float) -> None:
    grads = random_grads(np.random.default_rng(8), scale)
    tgrads = [torch.tensor(g.copy(), requires_grad=True) for g in grads]
    for t in tgrads:
        t.grad = t.detach().clone()
    expected_norm = torch.nn.utils.clip_grad_norm_(tgrads, max_norm)
    norm = clip_grad_norm(grads, max_norm)
    assert isinstance(norm, float)
    np.testing.assert_allclose(norm, expected_norm.item(), rtol=1e-12)
    for g, t in zip(grads, tgrads):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-12, atol=0)


def test_clip_grad_norm_bounds_and_leaves_small_grads_alone() -> None:
    rng = np.random.default_rng(9)
    big = random_grads(rng, 10.0)
    before = global_norm(big)
    assert clip_grad_norm(big, 1.0) == pytest.approx(before, rel=1e-12)
    assert global_norm(big) <= 1.0 * (1 + 1e-15)
    small = random_grads(rng, 0.01)
    copies = [g.copy() for g in small]
    clip_grad_norm(small, 1.0)
    for g, c in zip(small, copies):
        np.testing.assert_array_equal(g, c)


def test_clip_grad_norm_float32_is_accurate_and_keeps_dtype() -> None:
    rng = np.random.default_rng(10)
    grads = [rng.standard_normal(200_000).astype(np.float32) for _ in range(3)]
    exact = global_norm(grads)  # float64 reference from the same float32 values
    ids = [id(g) for g in grads]
    norm = clip_grad_norm(grads, 1.0)
    np.testing.assert_allclose(norm, exact, rtol=1e-6)  # per-tensor float32 dot products, as torch
    assert [id(g) for g in grads] == ids
    assert all(g.dtype == np.float32 for g in grads)
    assert global_norm(grads) <= 1.0 * (1 + 1e-6)  # float32 rounding of the scaled values


def test_clip_grad_norm_nonfinite() -> None:
    grads = [np.array([1.0, np.nan])]
    with pytest.raises(ValueError, match="total gradient norm is nan"):
        clip_grad_norm(grads, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm must be a number > 0"):
        clip_grad_norm(grads, 0.0)


# ---------------------------------------------------------------- schedules


class Opt:
    def __init__(self, lr: float) -> None:
        self.lr = lr


def test_step_decay_follows_zaremba_medium_schedule() -> None:
    # Zaremba et al. 2014, medium model: lr 1 for 6 epochs, then halved after each epoch.
    sched = StepDecay(start_epoch=6, factor=0.5)
    opt = Opt(1.0)
    used = [opt.lr]
    for epoch in range(1, 10):
        used.append(sched.step(opt, epoch=epoch))
    # used[e - 1] is the lr of epoch e
    assert used[:6] == [1.0] * 6
    assert used[6:] == [0.5, 0.25, 0.125, 0.0625]
    assert used == [sched.lr_for_epoch(1.0, e) for e in range(1, 11)]


def test_step_decay_state_round_trip_and_epoch_guard() -> None:
    sched = StepDecay(start_epoch=2, factor=1 / 1.15)
    opt = Opt(1.0)
    for epoch in (1, 2, 3):
        sched.step(opt, epoch=epoch)
    state = json.loads(json.dumps(sched.state_dict()))
    again = StepDecay(start_epoch=99, factor=0.9)
    again.load_state_dict(state)
    with pytest.raises(ValueError, match="greater than the last one"):
        again.step(opt, epoch=3)
    assert again.step(opt, epoch=4) == pytest.approx(1.15**-3, rel=1e-15)
    with pytest.raises(ValueError, match="factor multiplies the lr"):
        StepDecay(start_epoch=2, factor=1.15)


@pytest.mark.parametrize(
    "factor, patience, threshold", [(0.25, 0, 0.0), (0.5, 2, 0.0), (0.5, 1, 0.01)]
)
def test_reduce_on_plateau_matches_torch(factor, patience, threshold) -> None:
    metrics = [5.0, 4.0, 4.0, 3.99, 4.1, 3.5, 3.6, 3.7, 3.8, 3.49, 3.2, 3.3, 3.3, 3.3]
    param = torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([param], lr=1.0)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        topt, mode="min", factor=factor, patience=patience, threshold=threshold,
        threshold_mode="rel", eps=0.0,
    )
    sched = ReduceOnPlateau(factor=factor, patience=patience, threshold=threshold)
    opt = Opt(1.0)
    for epoch, metric in enumerate(metrics, start=1):
        tsched.step(metric)
        assert sched.step(opt, epoch=epoch, metric=metric) == topt.param_groups[0]["lr"]
        if epoch == len(metrics) // 2:  # resume half-way from a JSON round trip
            state = json.loads(json.dumps(sched.state_dict()))
            sched = ReduceOnPlateau(factor=0.9)
            sched.load_state_dict(state)
    assert opt.lr < 1.0  # the sequence did trigger reductions


def test_reduce_on_plateau_needs_metric() -> None:
    with pytest.raises(ValueError, match="needs metric="):
        ReduceOnPlateau().step(Opt(1.0), epoch=1)


def test_large_float32_passes_run_on_two_cores_and_match_torch(monkeypatch) -> None:
    """From ``packed.FLAT_MIN`` floats a contiguous float32 gradient's norm, its clipping, SGD's update
    and zeroing run as passes on two cores (the caller and the extension's helper thread); they agree
    with torch (zeroing clears NaNs), and a strided gradient of that size, and a small one, take the
    one-core path."""
    from rnnkit.nn import packed

    taken: list[str] = []  # the passes that ran on two cores
    for name in ("axpby", "sum_squares"):
        def spy(*args, _pass=getattr(packed, name), _name=name):
            result = _pass(*args)
            if result is not None and result is not False:
                taken.append(_name)
            return result
        monkeypatch.setattr(packed, name, spy)
    two_cores = packed.ENABLED and threads() >= 2

    rng = np.random.default_rng(12)
    n = packed.FLAT_MIN + 1003  # not a whole number of blocks, vectors or runs
    big = rng.standard_normal(n).astype(np.float32) * 10
    strided = (rng.standard_normal(2 * n).astype(np.float32) * 10)[::2]  # a view: not contiguous
    small = rng.standard_normal(50).astype(np.float32) * 10
    grads = [big, strided, small]
    tgrads = [torch.tensor(g.copy(), requires_grad=True) for g in grads]
    for t in tgrads:
        t.grad = t.detach().clone()
    before, exact = packed.helper_chunks(), global_norm(grads)
    expected = torch.nn.utils.clip_grad_norm_(tgrads, 1.0).item()  # float32 sums: 1.6e-6 off here
    norm = clip_grad_norm(grads, 1.0)
    assert taken == (["sum_squares", "axpby"] if two_cores else []), "the big gradient only: its norm, its scaling"
    np.testing.assert_allclose(norm, exact, rtol=1e-6)
    np.testing.assert_allclose(norm, expected, rtol=1e-5)
    for g, t in zip(grads, tgrads):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-5, atol=1e-12)
    assert global_norm(grads) <= 1.0 * (1 + 1e-6)

    model = Layer()
    params = [rng.standard_normal(n).astype(np.float32), rng.standard_normal(30).astype(np.float32)]
    for i, p in enumerate(params):
        model.add_param(f"p{i}", p)
        model.grads[f"p{i}"][...] = rng.standard_normal(p.shape)
    tparams = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    for t, (_, _, g) in zip(tparams, model.named_parameters()):
        t.grad = torch.tensor(g.copy())
    taken.clear()
    SGD(model, lr=0.3).step()
    assert taken == (["axpby"] if two_cores else [])
    torch.optim.SGD(tparams, lr=0.3).step()
    for p, t in zip(params, tparams):
        np.testing.assert_allclose(p, t.detach().numpy(), rtol=2e-6, atol=1e-7)
    model.grads["p0"][::7] = np.nan
    taken.clear()
    model.zero_grad()
    assert taken == (["axpby"] if two_cores else [])
    assert not any(g.any() for g in model.gradients())
    if two_cores:  # the helper may sleep through one pass (the caller takes every block then), not all
        assert packed.helper_chunks() > before, "no pass ran on the helper thread"
