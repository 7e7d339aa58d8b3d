"""``python -m vlmcal_utils.sweep``: see :mod:`vlmcal_utils.sweep.cli`."""

import sys

from vlmcal_utils.sweep.cli import main

sys.exit(main())
