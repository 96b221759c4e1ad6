"""Embedding, Linear, Dropout and the losses: finite differences (float64) and parity with torch."""

import weakref

import numpy as np
import pytest
import torch
from _support import no_c_softmax, numeric_grad, rel_err

from rnnkit.nn import MSE, Dropout, Embedding, Linear, SoftmaxCrossEntropy


def test_linear_gradients_and_torch_parity():
    rng = np.random.default_rng(0)
    layer = Linear(4, 3, dtype=np.float64, rng=rng)
    x = rng.standard_normal((2, 5, 4))
    dy = rng.standard_normal((2, 5, 3))

    def loss():
        return np.sum(layer.forward(x) * dy)

    loss()
    dx = layer.backward(dy)
    np.testing.assert_allclose(dx, numeric_grad(loss, x), rtol=1e-7, atol=1e-9)
    for name, p, g in layer.named_parameters():
        np.testing.assert_allclose(g, numeric_grad(loss, p), rtol=1e-7, atol=1e-9, err_msg=name)

    ref = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(layer.params["W"].T))
        ref.bias.copy_(torch.tensor(layer.params["b"]))
    xt = torch.tensor(x, requires_grad=True)
    (ref(xt) * torch.tensor(dy)).sum().backward()
    layer.zero_grad()
    assert rel_err(layer.forward(x), ref(xt).detach().numpy()) <= 1e-12
    assert rel_err(layer.backward(dy), xt.grad.numpy()) <= 1e-12
    assert rel_err(layer.grads["W"], ref.weight.grad.numpy().T) <= 1e-12
    assert rel_err(layer.grads["b"], ref.bias.grad.numpy()) <= 1e-12


def test_embedding_gradient_sums_repeated_ids_like_torch():
    rng = np.random.default_rng(1)
    emb = Embedding(7, 3, dtype=np.float64, rng=rng)
    ids = np.array([[1, 2, 1], [6, 1, 0]])
    dy = rng.standard_normal((2, 3, 3))
    out = emb.forward(ids)
    np.testing.assert_array_equal(out, emb.params["W"][ids])
    assert emb.backward(dy) is None

    ref = torch.nn.Embedding(7, 3).double()
    with torch.no_grad():
        ref.weight.copy_(torch.tensor(emb.params["W"]))
    (ref(torch.tensor(ids)) * torch.tensor(dy)).sum().backward()
    assert rel_err(emb.grads["W"], ref.weight.grad.numpy()) <= 1e-12

    def loss():
        return np.sum(emb.forward(ids) * dy)

    np.testing.assert_allclose(emb.grads["W"], numeric_grad(loss, emb.params["W"]), rtol=1e-7, atol=1e-9)


def test_embedding_rejects_ids_outside_the_vocabulary():
    emb = Embedding(5, 2)
    with pytest.raises(ValueError, match=r"ids in \[0, 5\), got values from 0 to 5"):
        emb.forward(np.array([0, 5]))
    with pytest.raises(TypeError, match="integer dtype"):
        emb.forward(np.array([0.0, 1.0]))


def test_dropout_is_inverted_and_backward_uses_the_same_mask():
    rng = np.random.default_rng(2)
    drop = Dropout(0.25, rng=rng)
    x = np.ones((200, 500), dtype=np.float32)
    y = drop.forward(x)
    assert y.dtype == np.float32
    kept = y != 0
    assert abs(kept.mean() - 0.75) < 0.01
    np.testing.assert_allclose(y[kept], 1 / 0.75, rtol=1e-6)
    dy = rng.standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(drop.backward(dy), dy * y)  # x = 1, so y is the scaled mask
    drop.eval()
    np.testing.assert_array_equal(drop.forward(x), x)
    np.testing.assert_array_equal(drop.backward(dy), dy)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_softmax_cross_entropy_matches_torch_with_ignore_index(reduction):
    rng = np.random.default_rng(3)
    logits = rng.standard_normal((4, 6, 9)) * 3
    targets = rng.integers(0, 9, size=(4, 6))
    targets[0, :3] = -100
    loss_fn = SoftmaxCrossEntropy(ignore_index=-100, reduction=reduction)
    loss = loss_fn.forward(logits, targets)
    dlogits = loss_fn.backward()
    lt = torch.tensor(logits, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt.reshape(-1, 9), torch.tensor(targets).reshape(-1),
                                            ignore_index=-100, reduction=reduction)
    ref.backward()
    assert abs(loss - ref.item()) <= 1e-12 * abs(ref.item())
    assert rel_err(dlogits, lt.grad.numpy()) <= 1e-12
    numeric = numeric_grad(lambda: loss_fn.forward(logits, targets), logits)
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-7 * np.abs(numeric).max())


def test_softmax_cross_entropy_mask_equals_ignore_and_is_stable():
    rng = np.random.default_rng(4)
    logits = rng.standard_normal((3, 5)).astype(np.float32)
    targets = np.array([1, 2, 3])
    mask = np.array([True, False, True])
    a = SoftmaxCrossEntropy()
    b = SoftmaxCrossEntropy(ignore_index=-1)
    la = a.forward(logits, targets, mask)
    lb = b.forward(logits, np.where(mask, targets, -1))
    assert la == lb
    np.testing.assert_array_equal(a.backward(), b.backward())
    huge = np.array([[1e4, 0.0, -1e4]], dtype=np.float32)
    loss = SoftmaxCrossEntropy().forward(huge, np.array([1]))
    assert loss == pytest.approx(1e4, rel=1e-6)


def test_softmax_cross_entropy_backward_hands_out_its_buffer_once():
    """The gradient is made in forward (float32: by the C kernel where it runs); backward() hands out
    that buffer once, later calls and dloss != 1 get new arrays; an uncounted row holding a NaN gets
    a zero gradient and leaves the loss finite."""
    rng = np.random.default_rng(6)
    logits = (rng.standard_normal((5, 3, 50)) * 4).astype(np.float32)
    targets = rng.integers(0, 50, size=(5, 3))
    targets[2, 1] = -1
    logits[2, 1, 7] = np.nan
    loss_fn = SoftmaxCrossEntropy(ignore_index=-1)
    loss = loss_fn.forward(logits, targets)
    first, again, doubled = loss_fn.backward(), loss_fn.backward(), loss_fn.backward(2.5)
    assert again is not first and doubled is not first
    np.testing.assert_array_equal(again, first)
    np.testing.assert_allclose(doubled, 2.5 * first, rtol=1e-6)
    lt = torch.tensor(np.where(np.isnan(logits), 0, logits), requires_grad=True)
    ref = torch.nn.functional.cross_entropy(lt.reshape(-1, 50), torch.tensor(targets).reshape(-1), ignore_index=-1)
    ref.backward()
    assert np.isfinite(loss) and abs(loss - ref.item()) <= 1e-5 * abs(ref.item())
    assert np.all(first[2, 1] == 0)
    assert rel_err(first, lt.grad.numpy()) <= 1e-5


def test_softmax_cross_entropy_reuses_its_buffer_only_when_nobody_holds_it():
    """A second forward writes the gradient into the first one's buffer when the gradient handed out
    was dropped (no new (N, V) array per step), and never into a gradient the caller kept."""
    rng = np.random.default_rng(7)
    logits = [(rng.standard_normal((4, 5, 30)) * 3).astype(np.float32) for _ in range(3)]
    targets = rng.integers(0, 30, size=(4, 5))
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits[0], targets)
    kept = loss_fn.backward()
    kept_values = kept.copy()
    loss_fn.forward(logits[1], targets)
    np.testing.assert_array_equal(kept, kept_values)
    buffer = weakref.ref(loss_fn.backward().base)  # the gradient itself dropped at once
    loss_fn.forward(logits[2], targets)
    grad = loss_fn.backward()
    assert buffer() is not None and grad.base is buffer()
    fresh = SoftmaxCrossEntropy()
    fresh.forward(logits[2], targets)
    np.testing.assert_array_equal(grad, fresh.backward())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])  # Numba's exponentials; NumPy's
def test_softmax_cross_entropy_fallbacks_reuse_the_buffer_and_agree(dtype, monkeypatch):
    """Without the C kernel (no extension, or one BLAS thread) the exponentials run in a compiled pass
    (float32) or in NumPy (float64), and the gradient is still written into the previous one's buffer
    where nobody holds it; the result equals a fresh loss's."""
    from rnnkit.nn import packed

    monkeypatch.setattr(packed, "softmax_exps", no_c_softmax)
    rng = np.random.default_rng(8)
    logits = [(rng.standard_normal((3, 4, 25)) * 4).astype(dtype) for _ in range(2)]
    targets = rng.integers(0, 25, size=(3, 4))
    mask = rng.random((3, 4)) > 0.3
    loss_fn = SoftmaxCrossEntropy()
    loss_fn.forward(logits[0], targets, mask)
    buffer = weakref.ref(loss_fn.backward().base)
    loss = loss_fn.forward(logits[1], targets, mask)
    grad = loss_fn.backward()
    assert buffer() is not None and grad.base is buffer()
    lt = torch.tensor(logits[1].astype(np.float64), requires_grad=True)
    per = torch.nn.functional.cross_entropy(lt.reshape(-1, 25), torch.tensor(targets.reshape(-1)),
                                            reduction="none")
    ref = per[torch.tensor(mask.reshape(-1))].mean()
    ref.backward()
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert abs(loss - ref.item()) <= tol * abs(ref.item())
    assert rel_err(grad, lt.grad.numpy()) <= tol


def test_mse_matches_torch_and_masks():
    rng = np.random.default_rng(5)
    pred, target = rng.standard_normal((3, 4, 2)), rng.standard_normal((3, 4, 2))
    loss_fn = MSE()
    loss = loss_fn.forward(pred, target)
    pt = torch.tensor(pred, requires_grad=True)
    ref = torch.nn.functional.mse_loss(pt, torch.tensor(target))
    ref.backward()
    assert abs(loss - ref.item()) <= 1e-12
    assert rel_err(loss_fn.backward(), pt.grad.numpy()) <= 1e-12
    mask = rng.random((3, 4, 1)) > 0.5
    masked = MSE()
    value = masked.forward(pred, target, mask)
    full_mask = np.broadcast_to(mask, pred.shape)
    assert value == pytest.approx(np.mean((pred - target)[full_mask] ** 2), rel=1e-12)
    np.testing.assert_allclose(masked.backward(), numeric_grad(lambda: masked.forward(pred, target, mask), pred),
                               rtol=1e-6, atol=1e-9)
