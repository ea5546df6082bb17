"""``python -m streams.cli``: the same as the ``intelshare`` command."""

import sys

from streams.cli import main

sys.exit(main())
