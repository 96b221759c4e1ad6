# Set-up and everyday commands. `make demo` and `make test` are all a fresh machine needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install install-test demo test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# installing builds the one C extension (src/rnnkit/nn/_packed.c; optional: without a C compiler NumPy
# runs those products); the last line compiles the fused step kernels once, into Numba's on-disk cache
$(VENV)/.installed: pyproject.toml setup.py src/rnnkit/nn/_packed.c | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	$(BIN)/python -c "from rnnkit.nn.fastpath import warm_up; warm_up()"
	touch $@

# torch==2.13.0 is the test oracle only (a CPU wheel on local disk); the library never imports it.
$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

# A character-level LSTM on CPython's own documentation text (ships with Python), about two minutes,
# then text generated from it.
demo: install
	rm -rf runs/demo
	$(BIN)/rnnkit train --out runs/demo
	$(BIN)/rnnkit generate runs/demo --prompt "In Python, " --length 300 --temperature 0.6 --seed 1

test: install-test
	$(BIN)/python -m pytest -q

# Side-by-side speed against torch and onnxruntime (benchmarks/README.md); writes benchmarks/results/.
# BENCH_ARGS=--quick for fewer repeats, BENCH_ARGS="--only lstm" for some rows.
$(VENV)/.installed-bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install -q -e '.[bench,test]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache src/*.egg-info build
	find src -name "*.so" -delete
