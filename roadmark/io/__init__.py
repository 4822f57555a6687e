"""Project store, frame sources and file formats. No Qt, no torch."""
