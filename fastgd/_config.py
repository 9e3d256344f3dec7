"""show_config(): what this fastgd build can do on this machine."""
from __future__ import annotations

import importlib.util
import platform
import sys


def _cuda_status():
    if importlib.util.find_spec("numba") is None:
        return "not available (install the 'cuda' extra: pip install fastgd[cuda])"
    try:
        from numba import cuda

        if cuda.is_available():
            return f"available ({len(cuda.gpus)} device(s))"
        return "numba installed, but no CUDA device or driver found"
    except Exception as exc:  # a broken CUDA setup must not break show_config
        return f"numba installed, CUDA unusable: {exc}"


def _blas():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (install threadpoolctl to see it)"
    libs = [f"{i.get('internal_api')} {i.get('version')} ({i.get('num_threads')} threads)"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(libs) or "none found"


def config_info():
    """The facts show_config() prints, as a dict."""
    import numpy
    import scipy
    import sklearn

    from fastgd import __version__
    from fastgd.backends.cpu import build_info

    core = build_info()
    return {
        "fastgd": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "openmp": ("yes" if core["openmp"] else
                   "NO: built without OpenMP, the compiled core runs single-threaded"),
        "openmp threads": core["max_threads"],
        "simd": core["simd"],
        "sparse weight prefetch": ("yes" if core["csr_weight_prefetch"] else
                                   "no (measured slower on this kind of CPU)"),
        "blas": _blas(),
        "cuda": _cuda_status(),
    }


def show_config(file=None):
    """Print the versions, OpenMP status and thread count, SIMD level, BLAS and CUDA status."""
    info = config_info()
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}} : {value}", file=file or sys.stdout)
