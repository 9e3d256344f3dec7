"""Build the compiled core: Cython extension over the C sources in csrc/.

OpenMP is probed by compiling a tiny program. Set FASTGD_NO_OPENMP=1 to build
without it; either way a build without OpenMP says so loudly here and in
fastgd.show_config().
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.join("csrc")

OMP_PROBE = r"""
#include <omp.h>
int main(void) {
    int n = 0;
    #pragma omp parallel reduction(+:n)
    n += 1;
    return omp_get_max_threads() > 0 ? 0 : 1;
}
"""


def _compiler():
    return os.environ.get("CC") or sysconfig.get_config_var("CC").split()[0] or "cc"


def openmp_flags():
    """Return (compile_args, link_args) for OpenMP, or ([], []) if unusable."""
    if os.environ.get("FASTGD_NO_OPENMP", "") not in ("", "0"):
        print("fastgd: FASTGD_NO_OPENMP is set: building WITHOUT OpenMP (single-threaded)",
              file=sys.stderr)
        return [], []
    cc = _compiler()
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(OMP_PROBE)
        for flag in ("-fopenmp", "-Xpreprocessor -fopenmp"):
            cmd = [cc, *flag.split(), src, "-o", os.path.join(tmp, "probe")]
            libs = [] if flag == "-fopenmp" else ["-lomp"]
            try:
                res = subprocess.run(cmd + libs, capture_output=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                continue
            if res.returncode == 0:
                return flag.split(), flag.split() if not libs else libs
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("=" * 72 + "\nfastgd: the C compiler %r has no usable OpenMP: building "
          "WITHOUT OpenMP.\nfastgd will run single-threaded; "
          "fastgd.show_config() reports this.\n" % cc + "=" * 72, file=sys.stderr)
    return [], []


def extensions():
    omp_compile, omp_link = openmp_flags()
    is_msvc = sys.platform == "win32"
    # -O3 and no -ffast-math / -march=native: results must not depend on the
    # build host. fp-contract=off keeps FMA contraction from changing results
    # between the run-time dispatched instruction sets. -fno-trapping-math
    # changes no value (the core never reads floating-point exception flags)
    # but lets GCC evaluate both sides of a select: without it the AVX2 clone
    # ran the log-loss's exp/log1p in scalar code (only AVX-512's masks
    # vectorized them), half the batch-256 loop's time there.
    base = ["/O2"] if is_msvc else ["-O3", "-ffp-contract=off", "-fno-math-errno",
                                    "-fno-trapping-math"]
    base += os.environ.get("FASTGD_EXTRA_CFLAGS", "").split()
    link = os.environ.get("FASTGD_EXTRA_LDFLAGS", "").split()
    ext = Extension(
        "fastgd.backends.cpu._core",
        sources=["fastgd/backends/cpu/_core.pyx", os.path.join(CSRC, "epoch_dense.c")],
        include_dirs=[CSRC, np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")],
        extra_compile_args=base + omp_compile,
        extra_link_args=omp_link + link,
        depends=[os.path.join(CSRC, h) for h in os.listdir(os.path.join(HERE, CSRC))],
    )
    # The multinomial (softmax) core is its own module, with the same flags.
    multinomial = Extension(
        "fastgd.backends.cpu._multinomial",
        sources=["fastgd/backends/cpu/_multinomial.pyx",
                 os.path.join(CSRC, "epoch_multinomial.c")],
        include_dirs=ext.include_dirs, define_macros=ext.define_macros,
        extra_compile_args=ext.extra_compile_args, extra_link_args=ext.extra_link_args,
        depends=ext.depends,
    )
    # The CSR (sparse rows) core: its own module, same flags.
    sparse = Extension(
        "fastgd.backends.cpu._sparse",
        # epoch_dense.c, epoch_multinomial.c: the dense steps of mini-batches
        # that touch most columns
        sources=["fastgd/backends/cpu/_sparse.pyx", os.path.join(CSRC, "epoch_csr.c"),
                 os.path.join(CSRC, "epoch_dense.c"), os.path.join(CSRC, "epoch_multinomial.c")],
        include_dirs=ext.include_dirs, define_macros=ext.define_macros,
        extra_compile_args=ext.extra_compile_args, extra_link_args=ext.extra_link_args,
        depends=ext.depends,
    )
    return cythonize([ext, multinomial, sparse], compiler_directives={"language_level": "3"})


setup(ext_modules=extensions())
