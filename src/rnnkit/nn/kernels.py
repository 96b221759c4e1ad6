"""Fused float32 kernels, compiled with Numba: the cells' step equations (forward and backward),
whole spans of steps (their products row by row where small, else through the packed C kernel of
``packed.py``, called by address), and three passes of a language model's
training step (the softmax's exponentials, the embedding's gradient, SGD's update).

Imported only through ``fastpath.get`` (so ``import rnnkit`` never loads Numba); the reasons, the
rules that make Numba vectorise and the reference they are tested against are in ``fastpath.py``.
``tanh32`` is the rational approximation that Eigen uses for float32 (``generic_fast_tanh_float`` in
Eigen/src/Core/MathFunctionsImpl.h, its published coefficients, and its clamp for code whose
multiply-adds are FMA instructions, ``ptanh_float`` under ``EIGEN_VECTORIZE_FMA``): within 3.5e-7 of
the exact value over the whole line (float32's spacing near 1 is 6e-8), and exactly +-1 at the
clamp. Compiled code is cached on disk (``cache=True``): a second process loads it instead of compiling.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

f32 = np.float32


# "contract": ``a * b + c`` may compile to one FMA instruction, rounded once instead of twice (the
# step equations ran in 0.68-0.81 of the time so; no other fast-math licence)
def _jit(fn):
    return numba.njit(fn, cache=True, nogil=True, error_model="numpy", boundscheck=False, fastmath={"contract"})


def _jit_exact(fn):
    """Without contraction: results equal NumPy's ufuncs bit for bit."""
    return numba.njit(fn, cache=True, nogil=True, error_model="numpy", boundscheck=False)


def _jit_inline(fn):
    return numba.njit(fn, inline="always", error_model="numpy", fastmath={"contract"})


CLAMP = f32(7.99881172180175781)  # tanh(x) rounds to +-1 beyond this (Eigen's clamp for FMA-contracted code)


@_jit_inline
def tanh32(x):
    x = min(max(x, -CLAMP), CLAMP)
    x2 = x * x
    p = f32(-2.76076847742355e-16)
    p = p * x2 + f32(2.00018790482477e-13)
    p = p * x2 + f32(-8.60467152213735e-11)
    p = p * x2 + f32(5.12229709037114e-08)
    p = p * x2 + f32(1.48572235717979e-05)
    p = p * x2 + f32(6.37261928875436e-04)
    p = p * x2 + f32(4.89352455891786e-03)
    q = f32(1.19825839466702e-06)
    q = q * x2 + f32(1.18534705686654e-04)
    q = q * x2 + f32(2.26843463243900e-03)
    q = q * x2 + f32(4.89352518554385e-03)
    return x * p / q


HALF = f32(0.5)


@_jit_inline
def sigmoid32(x):
    return HALF * tanh32(HALF * x) + HALF  # as in cells.sigmoid_: never overflows


@_jit
def lstm_activate(a, c_prev, h_next, c_next, tanh_c):
    """``a (B, 4H)``: pre-activations in, gates ``i, f, g, o`` out; writes ``c_next, tanh_c, h_next``."""
    B, H = h_next.shape
    for b in range(B):
        ab = a[b]
        i, f, g, o = ab[:H], ab[H : 2 * H], ab[2 * H : 3 * H], ab[3 * H :]
        for j in range(H):
            i[j] = sigmoid32(i[j])
        for j in range(H):
            f[j] = sigmoid32(f[j])
        for j in range(H):
            g[j] = tanh32(g[j])
        for j in range(H):
            o[j] = sigmoid32(o[j])
        cn, cp, tc, hn = c_next[b], c_prev[b], tanh_c[b], h_next[b]
        for j in range(H):
            c = f[j] * cp[j] + i[j] * g[j]
            t = tanh32(c)
            cn[j] = c
            tc[j] = t
            hn[j] = o[j] * t


@_jit
def lstm_step_back(dh, dc, a, tanh_c, c_prev, dA, dc_prev):
    """The element-wise part of the LSTM's backward step: ``dA (B, 4H)`` and ``dc_prev``."""
    B, H = dh.shape
    one = f32(1)
    for b in range(B):
        ab, dAb = a[b], dA[b]
        i, f, g, o = ab[:H], ab[H : 2 * H], ab[2 * H : 3 * H], ab[3 * H :]
        di, df, dg, do = dAb[:H], dAb[H : 2 * H], dAb[2 * H : 3 * H], dAb[3 * H :]
        dhb, dcb, tc, cp, dcp = dh[b], dc[b], tanh_c[b], c_prev[b], dc_prev[b]
        for j in range(H):
            t = tc[j]
            d_c = dcb[j] + dhb[j] * o[j] * (one - t * t)
            do[j] = dhb[j] * t * o[j] * (one - o[j])
            di[j] = d_c * g[j] * i[j] * (one - i[j])
            df[j] = d_c * cp[j] * f[j] * (one - f[j])
            dg[j] = d_c * i[j] * (one - g[j] * g[j])
            dcp[j] = d_c * f[j]


@_jit
def gru_activate(xw, hw, b_hn, a, hn, h_prev, h_next):
    """GRU, reset after the product: ``hw = h_prev W_h (B, 3H)``; writes gates ``r, z, n`` into
    ``a``, ``hn = hw_n + b_hn`` and ``h_next``."""
    B, H = h_next.shape
    for b in range(B):
        xb, hb, ab = xw[b], hw[b], a[b]
        rz, x_rz, h_rz = ab[: 2 * H], xb[: 2 * H], hb[: 2 * H]
        for j in range(2 * H):
            rz[j] = sigmoid32(x_rz[j] + h_rz[j])
        r, z, n, x_n, h_n = ab[:H], ab[H : 2 * H], ab[2 * H :], xb[2 * H :], hb[2 * H :]
        hnb, hp, ho = hn[b], h_prev[b], h_next[b]
        for j in range(H):
            u = h_n[j] + b_hn[j]
            hnb[j] = u
            n[j] = tanh32(x_n[j] + r[j] * u)
        for j in range(H):
            ho[j] = n[j] + z[j] * (hp[j] - n[j])


@_jit
def gru_step_back(dh, a, hn, h_prev, dA, dA_h, dh_direct):
    """The element-wise part of the GRU's backward step (reset after the product): ``dA``, ``dA_h``
    (the gradient as the product with ``W_h`` sees it) and ``dh_direct = dh * z``."""
    B, H = dh.shape
    one = f32(1)
    for b in range(B):
        ab, dAb, dAhb = a[b], dA[b], dA_h[b]
        r, z, n = ab[:H], ab[H : 2 * H], ab[2 * H :]
        dr, dz, dn = dAb[:H], dAb[H : 2 * H], dAb[2 * H :]
        hnb, hp, g, dd = hn[b], h_prev[b], dh[b], dh_direct[b]
        for j in range(H):
            d_n = g[j] * (one - z[j]) * (one - n[j] * n[j])
            dn[j] = d_n
            dz[j] = g[j] * (hp[j] - n[j]) * z[j] * (one - z[j])
            dr[j] = d_n * hnb[j] * r[j] * (one - r[j])
            dd[j] = g[j] * z[j]
        dAhb[: 2 * H] = dAb[: 2 * H]
        dh_n = dAhb[2 * H :]
        for j in range(H):
            dh_n[j] = dn[j] * r[j]


@_jit
def tanh_(a):
    """``a = tanh(a)`` in place over a 2-D block (the Elman RNN's activation). One array: with an
    output that may alias the input the loop was not vectorised (5 ns per element instead of 0.6)."""
    for b in range(a.shape[0]):
        ab = a[b]
        for j in range(a.shape[1]):
            ab[j] = tanh32(ab[j])


@_jit
def tanh_back(dh, h_next, dA):
    """``dA = dh * (1 - h_next^2)``, where ``h_next = tanh(a)``."""
    one = f32(1)
    for b in range(dh.shape[0]):
        g, y, d = dh[b], h_next[b], dA[b]
        for j in range(dh.shape[1]):
            d[j] = g[j] * (one - y[j] * y[j])


# ---- whole spans of time steps (plain ones: no lengths or resets), their products row by row where
# small, else by address through the packed kernel or NumPy's BLAS (``packed.py``), without the Python
# loop's round trip per step
# Steps run ``t = first + n * step`` for ``n < count``; ``prev[t]`` is the state step t reads and
# ``out[t]`` the one it writes (views of the layer's ``(T+1, B, H)`` buffer). Backward loops take the
# ping-pong state gradients ``dhs (2, B, H)`` (and ``dcs``) with the index ``k`` of the current one,
# and return the index after the span; every 4th step flushes tiny values to zero as the NumPy loop does.


@intrinsic
def _call_packed_matmul(typingctx, address, M, N, K, a, lda, Wp, c, ldc, d, ldd):
    """Call ``rnnkit_packed_matmul`` (``_packed.c``) at ``address``; pointers as integers. The address
    is an argument, not a constant, so that the loops calling this stay cacheable."""
    sig = types.int32(*([types.int64] * 11))

    def codegen(context, builder, signature, args):
        i64, i8p = ir.IntType(64), ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.IntType(32), [i64, i64, i64, i8p, i64, i8p, i8p, i64, i8p, i64])
        address, M, N, K, a, lda, Wp, c, ldc, d, ldd = args
        fn = builder.inttoptr(address, fnty.as_pointer())
        return builder.call(fn, [M, N, K, builder.inttoptr(a, i8p), lda, builder.inttoptr(Wp, i8p),
                                 builder.inttoptr(c, i8p), ldc, builder.inttoptr(d, i8p), ldd])

    return sig, codegen


@_jit_inline
def _product(out, x, W, address, Wp, base, with_base):
    """``out (B, N) = x (B, K) @ W (K, N)``, plus ``base (B, N)`` where ``with_base`` (``base`` may be
    ``out`` itself); rows contiguous. With ``address`` (not 0) through the C function there: the packed
    kernel (``Wp`` being ``W`` packed) or NumPy's BLAS (``Wp`` being ``W`` itself), which read ``base``
    as they write ``out`` (no copy of it into ``out`` first: the helper thread of a two-core product then
    writes its half of ``out`` without fetching the caller's copy); else row by row, so that the inner
    loop runs along ``W``'s rows (as fast as BLAS for the small products it is used for)."""
    B, K = x.shape
    if address != 0:
        d = np.int64(base.ctypes.data) if with_base else np.int64(0)
        _call_packed_matmul(np.int64(address), np.int64(B), np.int64(out.shape[1]), np.int64(K),
                            np.int64(x.ctypes.data), np.int64(x.strides[0] // 4), np.int64(Wp.ctypes.data),
                            np.int64(out.ctypes.data), np.int64(out.strides[0] // 4), d,
                            np.int64(base.strides[0] // 4))
        return
    if not with_base:
        out[:] = 0
    elif out.ctypes.data != base.ctypes.data:
        out[:] = base
    for b in range(B):
        ob, xb = out[b], x[b]
        for k in range(K):
            xk, row = xb[k], W[k]
            for j in range(ob.shape[0]):
                ob[j] += xk * row[j]


@_jit_inline
def _flush(a, below):
    for b in range(a.shape[0]):
        ab = a[b]
        for j in range(a.shape[1]):
            if abs(ab[j]) < below:
                ab[j] = 0


@_jit_inline
def _add_into(out, x):
    for b in range(out.shape[0]):
        ob, xb = out[b], x[b]
        for j in range(ob.shape[0]):
            ob[j] += xb[j]


@_jit
def lstm_forward_loop(first, count, step, xw, W_h, address, W_hp, h_prev, h_out, c_prev, c_out, gates, tanh_c):
    for n in range(count):
        t = first + n * step
        a = gates[t]
        _product(a, h_prev[t], W_h, address, W_hp, xw[t], True)
        lstm_activate(a, c_prev[t], h_out[t], c_out[t], tanh_c[t])


@_jit
def lstm_backward_loop(first, count, step, dy, gates, tanh_c, c_prev, W_hT, address, W_hTp, dA, dhs, dcs, k,
                       below):
    for n in range(count):
        t = first + n * step
        dh, dh_prev, dc, dc_prev = dhs[k], dhs[1 - k], dcs[k], dcs[1 - k]
        _add_into(dh, dy[t])
        lstm_step_back(dh, dc, gates[t], tanh_c[t], c_prev[t], dA[t], dc_prev)
        _product(dh_prev, dA[t], W_hT, address, W_hTp, dh_prev, False)
        if n % 4 == 3:
            _flush(dh_prev, below)
            _flush(dc_prev, below)
        k = 1 - k
    return k


@_jit
def gru_forward_loop(first, count, step, xw, W_h, address, W_hp, b_hn, h_prev, h_out, gates, hn, hw):
    for n in range(count):
        t = first + n * step
        _product(hw, h_prev[t], W_h, address, W_hp, hw, False)
        gru_activate(xw[t], hw, b_hn, gates[t], hn[t], h_prev[t], h_out[t])


@_jit
def gru_backward_loop(first, count, step, dy, gates, hn, h_prev, W_hT, address, W_hTp, dA, dA_h, dhs, dh_direct,
                      k, below):
    for n in range(count):
        t = first + n * step
        dh, dh_prev = dhs[k], dhs[1 - k]
        _add_into(dh, dy[t])
        gru_step_back(dh, gates[t], hn[t], h_prev[t], dA[t], dA_h[t], dh_direct)
        _product(dh_prev, dA_h[t], W_hT, address, W_hTp, dh_direct, True)
        if n % 4 == 3:
            _flush(dh_prev, below)
        k = 1 - k
    return k


@_jit
def rnn_forward_loop(first, count, step, xw, W_h, address, W_hp, h_prev, h_out):
    for n in range(count):
        t = first + n * step
        h = h_out[t]
        _product(h, h_prev[t], W_h, address, W_hp, xw[t], True)
        tanh_(h)


@_jit
def rnn_backward_loop(first, count, step, dy, h_out, W_hT, address, W_hTp, dA, dhs, k, below):
    for n in range(count):
        t = first + n * step
        dh, dh_prev = dhs[k], dhs[1 - k]
        _add_into(dh, dy[t])
        tanh_back(dh, h_out[t], dA[t])
        _product(dh_prev, dA[t], W_hT, address, W_hTp, dh_prev, False)
        if n % 4 == 3:
            _flush(dh_prev, below)
        k = 1 - k
    return k


# ---- softmax: the exponentials of a (N, V) block of logits, less each row's maximum
LOG2E = f32(1.4426950408889634)
LN2_HI, LN2_LO = f32(0.693359375), f32(-2.12194440e-4)  # ln 2 in two parts: kf * LN2_HI is exact
EXP_FLOOR = f32(-87.0)  # exp below this is under float32's normal range: 0 here (NumPy: subnormal)


@_jit
def softmax_exps(z, z_max, out, bits):
    """``out[i] = exp(z[i] - z_max[i])`` for each row of ``z (N, V)``; ``bits`` is int32 scratch
    ``(V,)``. ``exp(x) = 2^k exp(r)`` with ``k = round(x / ln 2)``, ``|r| <= ln 2 / 2``, ``exp(r)`` by
    its Taylor series to degree 7 (truncation 1.2e-8) and ``2^k`` made from its exponent bits: every
    step vectorises, where NumPy's float32 ``exp`` takes 1.5 ns per element on this CPU. Within 1e-7
    (relative) of the exact value; a NaN in a row makes its maximum, and so the loss, NaN."""
    N, V = z.shape
    scale = bits.view(np.float32)
    one = f32(1)
    for i in range(N):
        zi, oi, m = z[i], out[i], z_max[i]
        for j in range(V):
            x = zi[j] - m
            small = x < EXP_FLOOR  # False for NaN, which then runs through to the output
            if small:
                x = EXP_FLOOR
            kf = np.floor(x * LOG2E + f32(0.5))
            r = x - kf * LN2_HI - kf * LN2_LO
            p = f32(1 / 5040)
            p = p * r + f32(1 / 720)
            p = p * r + f32(1 / 120)
            p = p * r + f32(1 / 24)
            p = p * r + f32(1 / 6)
            p = p * r + f32(0.5)
            p = p * r + one
            p = p * r + one
            oi[j] = f32(0) if small else p
            bits[j] = (np.int32(kf) + 127) << 23
        for j in range(V):
            oi[j] *= scale[j]


# ---- a training step's gradient and update passes
@_jit_exact
def add_scaled(y, a, x):
    """``y += a * x`` over 1-D arrays, in place: SGD's update without a temporary the size of every
    parameter (20M floats in the PTB medium model), equal to NumPy's."""
    a = y.dtype.type(a)
    for i in range(y.shape[0]):
        y[i] += a * x[i]


@_jit
def add_rows(W, ids, dy):
    """``W[ids[n]] += dy[n]`` for every ``n`` in turn (a repeated id adds up), as ``np.add.at`` does
    at ~10x its speed: the embedding's gradient."""
    for n in range(ids.shape[0]):
        row, src = W[ids[n]], dy[n]
        for j in range(row.shape[0]):
            row[j] += src[j]
