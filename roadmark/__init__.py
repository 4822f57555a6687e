"""roadmark: model-assisted ground truth for driving perception."""

from __future__ import annotations

__version__ = "0.1.0"
