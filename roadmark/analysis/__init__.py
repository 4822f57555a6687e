"""Pure computation on labels and predictions: uncertainty, label audit, agreement,
statistics and report rendering. numpy, shapely and OpenCV only: no Qt, torch or database."""
