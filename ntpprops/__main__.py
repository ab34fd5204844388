"""``python -m ntpprops``: the same command line as the ``ntpprops`` console script."""

import sys

from ntpprops.cli import main

if __name__ == "__main__":
    sys.exit(main())
