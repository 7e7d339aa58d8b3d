"""``python -m vlmcal_utils.sweep``: see :mod:`vlmcal_utils.sweep.cli`."""

import sys

from vlmcal_utils.sweep.cli import main

if __name__ == "__main__":  # importing this module (e.g. to list the package) runs nothing
    sys.exit(main())
