"""``python -m polar_emulator``: the ``polar-emulator`` command."""

import sys

from .cli import main

sys.exit(main())
