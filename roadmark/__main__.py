"""``python -m roadmark`` runs the command line."""

from __future__ import annotations

import sys

from roadmark.cli import main

sys.exit(main())
