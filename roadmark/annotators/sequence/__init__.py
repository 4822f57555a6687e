"""Sequence tools: interpolation, flow propagation, track operations."""
