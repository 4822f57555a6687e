"""Editing tools as Qt-free state machines: pointer events in, commands out."""
