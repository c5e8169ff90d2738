"""``python -m gaugeconv``: the same command line as the ``gaugeconv`` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
