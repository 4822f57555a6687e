"""Domain model: label schema, geometry, frame annotations, provenance, rasterization.

Nothing here imports Qt, torch, a database or OpenCV.
"""
