"""The optional compiled part of roadmark (everything else is in pyproject.toml).

``roadmark.io.fast_deflate``: zlib's raw deflate from ``csrc/zlib``, byte-identical to
stock zlib and about three times as fast on label maps (see ``roadmark/io/deflate.py``);
``roadmark.io.fast_png``: PNG's row filters undone in one pass (see
``roadmark/io/png_file.py``); ``roadmark.analysis.fast_parts``: the 4-connected parts of a
label image in one pass (see ``roadmark/analysis/pixel_outline.py``), and pixels counted
per level and per part (``roadmark/analysis/pixel_counts.py``);
``roadmark.analysis.fast_outline``: the outlines of a label image's labels traced in one
pass (see ``roadmark/analysis/pixel_outline.py``); ``roadmark.analysis.fast_pieces``:
uncertain components cut into pieces in one pass (see ``roadmark/analysis/region_pieces.py``);
``roadmark.models.fast_summary``: a segmentation model's per-pixel summary on the CPU in
one pass (see ``roadmark/models/cpu_summary.py``).
All optional: where no C compiler is found, the install goes on and roadmark uses
Python's zlib, OpenCV's PNG decoding and OpenCV's labelling (the same bytes, pixels and
parts, slower) and PyTorch's operations for the summary (within one level, slower).
"""

from setuptools import Extension, setup

ZLIB = ["adler32.c", "deflate.c", "trees.c", "zutil.c"]
HEADERS = ["deflate.h", "gzguts.h", "trees.h", "zconf.h", "zlib.h", "zutil.h"]


def module(name: str, source: str, *, headers: list[str] | None = None,
           flags: list[str] | None = None) -> Extension:
    """An optional extension made of one file of ``csrc/`` (and the headers it includes)."""
    return Extension(
        name,
        sources=[f"csrc/{source}"],
        depends=[f"csrc/{header}" for header in headers or []],
        extra_compile_args=["-O3", *(flags or []), "-fvisibility=hidden"],
        optional=True,
    )


setup(
    ext_modules=[
        Extension(
            "roadmark.io.fast_deflate",
            sources=["csrc/deflate_module.c", *(f"csrc/zlib/{name}" for name in ZLIB)],
            include_dirs=["csrc/zlib"],
            depends=[f"csrc/zlib/{name}" for name in HEADERS],
            # NO_GZIP: raw deflate only (no CRC-32 code); Z_PREFIX and hidden symbols keep
            # this copy apart from the zlib that Python and other modules load
            define_macros=[("NO_GZIP", None), ("Z_PREFIX", None)],
            extra_compile_args=["-O3", "-fvisibility=hidden"],
            optional=True,
        ),
        module("roadmark.analysis.fast_parts", "parts_module.c", headers=["part_order.h"]),
        module("roadmark.analysis.fast_outline", "outline_module.c", headers=["growing.h"]),
        module("roadmark.analysis.fast_pieces", "pieces_module.c",
               headers=["growing.h", "part_order.h"]),
        # no floating-point traps or errno: the compares in the loops become selects, and
        # the loops are vectorized
        module("roadmark.models.fast_summary", "summary_module.c",
               flags=["-fno-trapping-math", "-fno-math-errno"]),
        module("roadmark.io.fast_png", "png_module.c"),
    ]
)
