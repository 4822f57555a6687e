"""The canvas: the image view and the layers drawn over it."""
