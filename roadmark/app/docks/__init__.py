"""The docks beside the canvas: labels, objects, attributes, tracks, review, uncertainty."""
