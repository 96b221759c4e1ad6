"""The one compiled part of rnnkit: ``rnnkit.nn._packed`` (see ``src/rnnkit/nn/packed.py``).

Optional: where it cannot be built (no C compiler), installation goes on and rnnkit runs its
recurrent products through NumPy's BLAS alone. Everything else is configured in pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("rnnkit.nn._packed", ["src/rnnkit/nn/_packed.c"],
                             extra_compile_args=["-O3", "-pthread"], extra_link_args=["-pthread"],
                             optional=True)])
