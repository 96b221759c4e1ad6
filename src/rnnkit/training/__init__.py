"""Training loops: truncated BPTT, checkpoints, progress and metrics."""
