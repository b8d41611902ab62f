"""``python -m vstore.cli``."""

import sys

from vstore.cli import main

sys.exit(main())
