"""``python -m fastgd``: the same as the ``fastgd`` command."""
import sys

from fastgd.cli import main

sys.exit(main())
