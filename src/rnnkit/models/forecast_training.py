"""Training and forecasting loops of the :class:`~rnnkit.models.forecaster.Forecaster`.

Shape legend: ``B`` windows or series, ``L`` window length, ``T`` context length, ``h`` horizon,
``C`` target channels, ``K`` covariates, ``R`` forecast rows (mean paths and sample paths).

Two ways to read the training data:

* *windows* — random windows of ``L = lookback + horizon`` steps from every series, each starting
  from a zero state (recursive: the loss counts every one-step-ahead target; direct: the horizon);
* *stateful* — every series concatenated into one stream, cut into ``B`` parallel streams and read in
  order, ``bptt`` steps per update, the state carried from window to window and zeroed where a new
  series begins (``data.windows``: the language model's truncated BPTT). Targets that would cross
  from one series into the next are masked out.
"""

from __future__ import annotations

import time

import numpy as np

from ..data.windows import batchify, bptt_windows, document_starts
from ..optim import Adam, clip_grad_norm
from ..training.progress import Progress


def _loss_step(loss_fn, out: np.ndarray, target: np.ndarray, mask: np.ndarray | None, C: int, gaussian: bool):
    """Loss of ``out (..., C*P)`` against ``target (..., C)`` and its gradient ``dout``."""
    if gaussian:
        loss = loss_fn.forward(out[..., :C], out[..., C:], target.astype(out.dtype), mask)
        dmu, ds = loss_fn.backward()
        return loss, np.concatenate([dmu, ds], axis=-1)
    loss = loss_fn.forward(out, target.astype(out.dtype), mask)
    return loss, loss_fn.backward()


def _window_batches(fc, Z: list[np.ndarray], U: list[np.ndarray], rng: np.random.Generator):
    """Yield ``(Zw (B, L, C), Uw (B, L, K))`` for one epoch of shuffled windows."""
    cfg = fc.config
    L = cfg.lookback + cfg.horizon
    Z_all, U_all = np.concatenate(Z), np.concatenate(U)
    offsets = np.cumsum([0] + [len(z) for z in Z])[:-1]
    starts = np.concatenate([off + np.arange(len(z) - L + 1) for off, z in zip(offsets, Z)])
    order = rng.permutation(starts)
    if cfg.steps_per_epoch is not None:
        order = order[: cfg.steps_per_epoch * cfg.batch_size]
    steps = np.arange(L)
    for i in range(0, len(order), cfg.batch_size):
        idx = order[i : i + cfg.batch_size, None] + steps  # (B, L)
        yield Z_all[idx], U_all[idx]


def train(fc, Z: list[np.ndarray], U: list[np.ndarray], *, verbose: bool = False) -> tuple[list[float], float]:
    """Train ``fc.net`` on scaled series ``Z[s] (N_s, C)`` and covariates ``U[s] (N_s, K)``.

    Adam with the lr decaying linearly from ``lr`` to ``lr * lr_final`` over the epochs, gradients
    clipped to ``clip``. Returns the mean training loss of each epoch and the seconds spent.
    """
    from .forecaster import make_loss

    cfg, net, rng = fc.config, fc.net, fc.rng
    C, gaussian = net.C, cfg.head == "gaussian"
    opt = Adam(net, lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_fn = make_loss(cfg)
    progress = Progress(every=1, enabled=verbose)
    start = time.perf_counter()
    out_of_time = lambda: cfg.time_limit is not None and time.perf_counter() - start > cfg.time_limit  # noqa: E731
    history: list[float] = []
    net.train()

    def update(out, target, mask, backward):
        net.zero_grad()
        loss, dout = _loss_step(loss_fn, out, target, mask, C, gaussian)
        backward(dout)
        if cfg.clip:
            clip_grad_norm(net.gradients(), cfg.clip)
        opt.step()
        return loss

    for epoch in range(cfg.epochs):
        opt.lr = cfg.lr * (1.0 - (1.0 - cfg.lr_final) * epoch / max(1, cfg.epochs - 1))
        losses = []
        if cfg.training == "stateful":
            state = None  # carried from window to window; the backward pass stops at the window's start
            for x, target, mask, resets in _stateful_batches(Z, U, cfg.batch_size, cfg.bptt):
                out, state = net.forward_steps(x, state, resets=resets)
                losses.append(update(out, target, mask, net.backward_steps))
                if out_of_time():
                    break
        else:
            lb = cfg.lookback
            for Zw, Uw in _window_batches(fc, Z, U, rng):
                if cfg.normalize == "window":
                    Zw = Zw - Zw[:, :lb].mean(axis=1, keepdims=True)  # the context's level
                if cfg.strategy == "recursive":  # x_t = [z_t, u_{t+1}] -> z_{t+1}
                    out, _ = net.forward_steps(np.concatenate([Zw[:, :-1], Uw[:, 1:]], axis=-1))
                    losses.append(update(out, Zw[:, 1:], None, net.backward_steps))
                else:
                    out = net.forward_direct(np.concatenate([Zw[:, :lb], Uw[:, :lb]], axis=-1), Uw[:, lb:])
                    losses.append(update(out, Zw[:, lb:], None, net.backward_direct))
                if out_of_time():
                    break
        history.append(float(np.mean(losses)))
        progress.message(f"epoch {epoch + 1}/{cfg.epochs}  loss {history[-1]:.4f}  lr {opt.lr:.2e}  "
                         f"{time.perf_counter() - start:.0f} s")
        if not np.isfinite(history[-1]):
            raise FloatingPointError(f"training diverged at epoch {epoch + 1} (loss {history[-1]}); "
                                     "lower lr or set clip")
        if out_of_time():
            break
    net.eval()
    return history, time.perf_counter() - start


def _stateful_batches(Z, U, batch_size: int, bptt: int):
    """Yield ``(x (B, L, C+K), target (B, L, C), mask (B, L, 1), resets (B, L))`` in stream order."""
    lengths = [len(z) for z in Z]
    Z_all, U_all = np.concatenate(Z), np.concatenate(U)
    first = document_starts(lengths)  # True at each series' first step
    total = len(Z_all)
    B = max(1, min(batch_size, total // (bptt + 1)))
    positions = batchify(np.arange(total), B)  # (B, n): stream b holds steps [b*n, (b+1)*n)
    starts = batchify(first, B)
    for w in bptt_windows(positions, bptt=bptt, doc_starts=starts):
        x = np.concatenate([Z_all[w.x], U_all[w.y]], axis=-1)  # x_t = [z_t, u_{t+1}]
        mask = ~first[w.y][..., None]  # a target that starts a new series has no input before it
        yield x, Z_all[w.y], mask, np.ascontiguousarray(w.resets)


def take_rows(state, rows: np.ndarray):
    """Rows ``rows`` of a state (``h`` or ``(h, c)``, each ``(num_layers, B, H)``), copied."""
    if isinstance(state, tuple):
        return tuple(s[:, rows] for s in state)
    return state[:, rows]


def forecast_batch(fc, Zc: np.ndarray, Uc: np.ndarray, *, horizon: int, levels, rng: np.random.Generator):
    """Forecast ``horizon`` steps after contexts ``Zc (B, T, C)`` (scaled), with covariates ``Uc (B, T +
    steps, K)`` over context and future. Returns ``mean (B, h, C)`` and ``{level: (lower, upper)}``
    (empty for a point head), all in scaled units."""
    cfg, net = fc.config, fc.net
    B, T, C = Zc.shape
    level = Zc.mean(axis=1, keepdims=True) if cfg.normalize == "window" else np.zeros((B, 1, C))
    Zn = Zc - level
    was_training = net.training
    net.eval()
    try:
        if cfg.strategy == "direct":
            out = net.forward_direct(np.concatenate([Zn, Uc[:, :T]], axis=-1), Uc[:, T:])
            return direct_forecast(fc, out[:, :horizon], levels=levels, level=level)
        out, state = net.forward_steps(np.concatenate([Zn, Uc[:, 1 : T + 1]], axis=-1))
        return rollout(fc, out[:, -1], state, Uc[:, T + 1 : T + horizon], horizon=horizon, levels=levels, rng=rng,
                       level=level)
    finally:
        net.train(was_training)


def direct_forecast(fc, out: np.ndarray, *, levels, level: np.ndarray | None = None):
    """The direct head's output ``out (B, h, C*P)`` as ``mean (B, h, C)`` (plus ``level (B, 1, C)``)
    and, for a Gaussian head, the normal quantiles ``{level: (lower, upper)}``; scaled units."""
    from .forecaster import make_loss, normal_bounds

    C = fc.net.C
    out = out.astype(np.float64)
    mu = out[..., :C] + (0.0 if level is None else level)
    if fc.config.head != "gaussian":
        return mu, {}
    return mu, normal_bounds(mu, make_loss(fc.config).sigma(out[..., C:]), levels)


def rollout(fc, o: np.ndarray, state, U_next: np.ndarray, *, horizon: int, levels, rng: np.random.Generator,
            level: np.ndarray | None = None):
    """The recursive forecast from the network's last output ``o (B, C*P)`` (the distribution of the
    first future step) and the state that produced it: the mean path (means fed back) and, for a
    Gaussian head, ``n_samples`` ancestral sample paths (each feeds back its own draw) whose
    quantiles give the intervals. ``U_next (B, horizon - 1, K)``: the scaled covariates fed beside
    forecasts 1 .. horizon-1 (``x = [z_{T+k}, u_{T+k+1}]``). ``level (B, 1, C)``: added back to every
    path (``normalize="window"``'s context mean; None: zero).
    Returns ``mean (B, h, C)`` and ``{level: (lower, upper)}`` in scaled units; ``state`` is not changed."""
    from .forecaster import make_loss
    from .heads import interval_quantiles

    cfg, net = fc.config, fc.net
    B, C = o.shape[0], net.C
    gaussian = cfg.head == "gaussian"
    n = cfg.n_samples if gaussian else 0
    rows = np.concatenate([np.arange(B), np.repeat(np.arange(B), n)])  # mean paths, then sample paths
    state, o, Uf = take_rows(state, rows), o[rows], U_next[rows]
    sigma_of = make_loss(cfg).sigma if gaussian else None
    is_mean = (np.arange(len(rows)) < B)[:, None]
    paths = np.empty((len(rows), horizon, C))
    for k in range(horizon):
        mu = o[:, :C].astype(np.float64)
        z = mu
        if gaussian:  # ancestral sampling: each sample path feeds back its own draw
            draw = mu + sigma_of(o[:, C:]).astype(np.float64) * rng.standard_normal(mu.shape)
            z = np.where(is_mean, mu, draw)
        paths[:, k] = z
        if k < horizon - 1:  # x = [z_{T+k}, u_{T+k+1}]
            x = np.concatenate([z, Uf[:, k]], axis=-1)[:, None]
            out, state = net.forward_steps(x, state)
            o = out[:, 0]
    level = np.zeros((B, 1, C)) if level is None else level
    mean = paths[:B] + level
    if not gaussian:
        return mean, {}
    samples = paths[B:].reshape(B, n, horizon, C) + level[:, None]
    bounds = {lv: (np.quantile(samples, lo, axis=1), np.quantile(samples, hi, axis=1))
              for lv, lo, hi in interval_quantiles(levels)}
    return mean, bounds


__all__ = ["train", "forecast_batch", "direct_forecast", "rollout"]
