"""Build an LSTM, run it forward and backward, and check one gradient by finite differences."""

import numpy as np

from rnnkit import LSTM

rng = np.random.default_rng(0)
lstm = LSTM(8, 16, num_layers=2, dtype=np.float64, rng=rng)
x = rng.standard_normal((4, 10, 8))                # (batch, time, features)
y, (h_T, c_T) = lstm.forward(x)                    # y: (4, 10, 16); h_T, c_T: (2, 4, 16)
dy = rng.standard_normal(y.shape)                  # the gradient of some loss w.r.t. y
dx, (dh0, dc0) = lstm.backward(dy)                 # parameter gradients accumulate in .grads

W = lstm.units[0][0].params["W_h"]
analytic = lstm.units[0][0].grads["W_h"][3, 5]
eps, old = 1e-6, W[3, 5]
W[3, 5] = old + eps; up = np.sum(lstm.forward(x)[0] * dy)
W[3, 5] = old - eps; down = np.sum(lstm.forward(x)[0] * dy)
W[3, 5] = old
print(f"y {y.shape}, dx {dx.shape}; dL/dW_h[3,5]: backprop {analytic:.10f}, "
      f"finite difference {(up - down) / (2 * eps):.10f}")
