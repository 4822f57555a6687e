"""The compiled modules (``setup.py``) in tests: their tests run wherever a C compiler
could build them.

``pip install`` builds the modules where it finds a C compiler and Python's headers and
goes on without them elsewhere (roadmark then takes its Python paths, the same results).
So a test of a module skips only on a machine without a compiler; where one is found, a
missing module is an install that went wrong and its tests fail to load (CI installs a
compiler, so there they always run).
"""

from __future__ import annotations

import importlib
import shutil
import sysconfig
from pathlib import Path
from types import ModuleType

import pytest


def compiler_available() -> bool:
    """Whether this Python's C compiler and headers are here (what the build needs)."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return shutil.which(compiler) is not None and headers.is_file()


def compiled_module(name: str) -> ModuleType | None:
    """The compiled module ``name``, or ``None`` where no compiler could have built it.

    Raises:
        ImportError: It is missing although a compiler and the headers are here.
    """
    try:
        return importlib.import_module(name)
    except ImportError as error:
        if compiler_available():
            raise ImportError(
                f"{name} was not built although a C compiler and Python's headers are "
                "here: pip install did not build it (see setup.py)"
            ) from error
        return None


def skip_without(module: ModuleType | None) -> pytest.MarkDecorator:
    """Skip where :func:`compiled_module` found no compiler to build the module."""
    return pytest.mark.skipif(module is None, reason="no C compiler or Python headers")
