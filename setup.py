"""Build the Cython kernels. All metadata lives in pyproject.toml.

Flags: -O3 -fno-math-errno (lets compilers vectorise sqrt in the Adam step)
-g0, and OpenMP for the compiler at hand (-fopenmp for gcc/clang, /openmp for
MSVC, -Xpreprocessor -fopenmp with libomp for Apple clang). No -march=native
and no -ffast-math: wheels run on other machines and results follow IEEE
arithmetic. FASTMLP_NO_OPENMP=1 builds without OpenMP (the kernels then run
serially); FASTMLP_CYTHON_DEBUG=1 turns bounds checking on for debugging.
"""

import os
import sys

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

KERNELS = ["_blas", "_bench", "_openmp_helpers", "_layout", "_ops", "_optim", "_passes", "_network"]
USE_OPENMP = os.environ.get("FASTMLP_NO_OPENMP", "") in ("", "0")
DEBUG = os.environ.get("FASTMLP_CYTHON_DEBUG", "") not in ("", "0")


def _flags(compiler_type):
    """(compile args, link args) for the compiler in use."""
    if compiler_type == "msvc":
        return ["/O2"] + (["/openmp"] if USE_OPENMP else []), []
    compile_args = ["-O3", "-fno-math-errno", "-g0"]
    link_args = []
    if USE_OPENMP:
        if sys.platform == "darwin":  # Apple clang: libomp via CPPFLAGS/LDFLAGS
            compile_args += ["-Xpreprocessor", "-fopenmp"]
            link_args += ["-lomp"]
        else:
            compile_args.append("-fopenmp")
            link_args.append("-fopenmp")
    return compile_args, link_args


class BuildExt(build_ext):
    """Add optimisation and OpenMP flags that match the compiler in use."""

    def build_extensions(self):
        compile_args, link_args = _flags(self.compiler.compiler_type)
        flags = " ".join(compile_args)
        for ext in self.extensions:
            ext.extra_compile_args = compile_args
            ext.extra_link_args = link_args
            ext.define_macros = [("FASTMLP_BUILD_FLAGS", f'"{flags}"')]
        super().build_extensions()


extensions = [
    Extension(f"fastmlp._kernels.{name}", [f"fastmlp/_kernels/{name}.pyx"],
              include_dirs=["src"])
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
