"""The synthetic demo drive: a scene renderer and its ground truth (numpy, OpenCV)."""
