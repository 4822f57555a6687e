"""Can Qt open a window here? One clear line instead of Qt's own abort.

On Linux, Qt's ``xcb`` platform plugin needs a display and a set of X libraries that a
minimal system lacks (from Qt 6.5 also ``libxcb-cursor0``). Without them Qt prints several
lines and aborts the process (SIGABRT), which the command line cannot catch. This module
checks the same things before the application object is made and raises a
:class:`RoadmarkError` that names what is missing and the Debian package that brings it.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from roadmark.core.errors import RoadmarkError

# Loaded by the xcb plugin at run time (dlopen), so ``ldd`` of the plugin does not list it.
_RUNTIME_LIBRARIES = ("libxcb-cursor.so.0",)

# Platforms that need no display server.
_HEADLESS_PLATFORMS = {"offscreen", "minimal", "vnc", "linuxfb", "eglfs", "minimalegl"}

README_HINT = "see 'Running on a minimal Linux' in the README"


def debian_package(soname: str) -> str:
    """The Debian package that ships a shared library, by Debian's naming policy.

    ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``; ``libxkbcommon-x11.so.0`` ->
    ``libxkbcommon-x11-0`` (a hyphen where the name ends in a digit).
    """
    match = re.fullmatch(r"(.+?)\.so\.(\d+)(?:\..*)?", soname)
    if match is None:
        return soname
    name, version = match.groups()
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def xcb_plugin() -> Path | None:
    """The path of the bundled Qt ``xcb`` platform plugin, if PySide6 ships one."""
    import PySide6

    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    """Shared libraries the plugin needs that the dynamic loader cannot find."""
    missing: list[str] = []
    try:
        ctypes.CDLL(str(plugin))
    except OSError as error:
        missing.extend(_names_in_loader_message(str(error)))
        ldd = shutil.which("ldd")
        if ldd is not None:
            result = subprocess.run(
                [ldd, str(plugin)], capture_output=True, text=True, timeout=20, check=False
            )
            missing.extend(
                line.split("=>")[0].strip()
                for line in result.stdout.splitlines()
                if "not found" in line
            )
    for name in _RUNTIME_LIBRARIES:
        try:
            ctypes.CDLL(name)
        except OSError:
            missing.append(name)
    return sorted(set(missing))


def _names_in_loader_message(message: str) -> list[str]:
    return re.findall(r"(lib[\w.+-]+\.so(?:\.\d+)*): cannot open shared object file", message)


def window_system_problem(environ: dict[str, str] | None = None) -> str | None:
    """Why Qt cannot open a window here, in one sentence; ``None`` when it can (or when
    this check cannot tell: other systems, Wayland, a platform chosen by the user)."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "").split(":")[0].strip()
    if platform in _HEADLESS_PLATFORMS:
        return None
    if platform not in ("", "xcb"):
        return None
    if not platform and env.get("WAYLAND_DISPLAY"):
        return None
    plugin = xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries(plugin)
    if missing:
        packages = " ".join(sorted({debian_package(name) for name in missing}))
        return (
            f"Qt cannot load its window system plugin (xcb): missing {', '.join(missing)}; "
            f"install them (Debian/Ubuntu: apt-get install {packages}); {README_HINT}"
        )
    if not env.get("DISPLAY"):
        return (
            "no display to open a window on (DISPLAY is not set): start roadmark from a "
            "desktop session or under Xvfb (xvfb-run roadmark ...); --screenshot also works "
            f"with QT_QPA_PLATFORM=offscreen; {README_HINT}"
        )
    if not display_reachable(env["DISPLAY"]):
        return (
            f"cannot connect to the X display {env['DISPLAY']!r} (DISPLAY): is the X server "
            f"running and may this user use it? {README_HINT}"
        )
    return None


def display_reachable(display: str) -> bool:
    """Whether an X server answers at ``display`` (asked through libxcb, as Qt does)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # the library check above reports what is missing
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    connection = xcb.xcb_connect(display.encode(), None)
    try:
        return bool(xcb.xcb_connection_has_error(connection) == 0)
    finally:
        xcb.xcb_disconnect(connection)


def check_window_system() -> None:
    """Raise instead of letting Qt abort when no window can be opened.

    Raises:
        RoadmarkError: A display or a library the Qt platform plugin needs is missing.
    """
    problem = window_system_problem()
    if problem is not None:
        raise RoadmarkError(problem)
