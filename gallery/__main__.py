"""``python -m gallery``: see gallery/cli.py."""

import sys

from .cli import main

sys.exit(main())
