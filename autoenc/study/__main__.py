"""``python -m autoenc.study``: the command line (it lives in :mod:`autoenc.cli`)."""

import sys

from ..cli import main

if __name__ == "__main__":
    sys.exit(main())
