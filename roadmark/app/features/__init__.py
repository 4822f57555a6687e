"""Features installed into the main window (``install(window)``): each talks to the
project state and the window API, never to another feature's widgets."""
