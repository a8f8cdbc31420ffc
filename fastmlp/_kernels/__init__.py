"""Cython kernels of fastmlp. Private: each module is owned by one Python module."""
