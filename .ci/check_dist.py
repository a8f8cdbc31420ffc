"""Check what the sdist and the wheel contain.

The sdist must carry the Cython sources (.pyx, .pxd), the C headers and the
tests, and no generated .c; the wheel only what runs (no .c/.pyx/.pxd).
"""

import sys
import tarfile
import zipfile

sdist, wheel = sys.argv[1], sys.argv[2]
names = tarfile.open(sdist).getnames()
for suffix in ("fastmlp/_kernels/_network.pyx", "fastmlp/_kernels/_blas.pxd",
               "fastmlp/_kernels/_parts.pxd", "fastmlp/_kernels/_passes.pyx",
               "fastmlp/_kernels/_layout.pxd",
               "src/fastmlp_math.h", "src/fastmlp_omp.h", "tests/test_oracle.py", "LICENSE"):
    assert any(n.endswith(suffix) for n in names), f"sdist lacks {suffix}"
assert not [n for n in names if n.endswith((".c", ".so", ".o"))], "sdist has built files"

members = zipfile.ZipFile(wheel).namelist()
assert any(n.startswith("fastmlp/_kernels/_network.") and n.endswith(".so") for n in members)
bad = [n for n in members if n.endswith((".c", ".pyx", ".pxd", ".h"))]
assert not bad, f"wheel carries sources: {bad}"
print(f"dist contents ok: {len(names)} files in the sdist, {len(members)} in the wheel")
