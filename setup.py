"""Build the Cython kernels. All metadata lives in pyproject.toml.

Flags: -O3 -fno-math-errno (lets gcc/clang vectorise sqrt in the Adam step)
and OpenMP for the compiler at hand. No -march=native and no -ffast-math:
wheels run on other machines and results must follow IEEE arithmetic.
Set FASTMLP_NO_OPENMP=1 to build without OpenMP (kernels then run serially);
FASTMLP_CYTHON_DEBUG=1 turns bounds checking on for debugging.
"""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = ["_blas", "_openmp_helpers", "_ops", "_optim", "_network"]
USE_OPENMP = os.environ.get("FASTMLP_NO_OPENMP", "") in ("", "0")
DEBUG = os.environ.get("FASTMLP_CYTHON_DEBUG", "") not in ("", "0")


class BuildExt(build_ext):
    """Add optimisation and OpenMP flags that match the compiler in use."""

    def build_extensions(self):
        if self.compiler.compiler_type == "msvc":
            compile_args = ["/O2"] + (["/openmp"] if USE_OPENMP else [])
            link_args = []
        else:
            compile_args = ["-O3", "-fno-math-errno", "-g0"]
            link_args = []
            if USE_OPENMP:
                compile_args.append("-fopenmp")
                link_args.append("-fopenmp")
        for ext in self.extensions:
            ext.extra_compile_args = compile_args
            ext.extra_link_args = link_args
        super().build_extensions()


extensions = [
    Extension(
        f"fastmlp._kernels.{name}",
        [f"fastmlp/_kernels/{name}.pyx"],
        include_dirs=["src"],
    )
    for name in KERNELS
]

setup(
    ext_modules=cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "boundscheck": DEBUG,
            "wraparound": DEBUG,
            "initializedcheck": DEBUG,
            "cdivision": True,
        },
    ),
    cmdclass={"build_ext": BuildExt},
)
