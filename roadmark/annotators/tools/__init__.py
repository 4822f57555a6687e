"""Pointer tools: box, polygon, brush, eraser, fill, select, GrabCut, Smart."""
