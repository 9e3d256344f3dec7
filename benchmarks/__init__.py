"""asv benchmarks of fastgd (see README.md in this folder).

With ``asv run --python=same`` asv imports these modules in the current
environment; if fastgd is not installed there, the repository checkout that
holds this folder is used (build it in place first:
``python setup.py build_ext --inplace``).
"""
import os
import sys

try:  # pragma: no cover - depends on how asv was started
    import fastgd  # noqa: F401
except ImportError:  # pragma: no cover
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
