"""Run Python in a child process against the same fastgd the tests import.

CI tests the installed package from the repository root, whose source tree
has no compiled core: a child must neither start there (``python -c`` puts
the working directory first on sys.path) nor find the source tree first.
"""
import os
import tempfile

import fastgd

FASTGD_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(fastgd.__file__)))
CHILD_CWD = tempfile.gettempdir()


def child_env(**extra):
    """os.environ plus ``extra``, with the tested fastgd first on PYTHONPATH."""
    env = dict(os.environ, **extra)
    env["PYTHONPATH"] = FASTGD_PARENT + os.pathsep + env.get("PYTHONPATH", "")
    return env
