"""The compiled raw deflate (``csrc/``: zlib 1.3.1 with two loops rewritten) gives exactly
Python's zlib's bytes: generated run-structured data at every level, label-map-like rows
across many window slides, the window's boundary sizes, and threads at once."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roadmark.io import deflate
from tests.compiled import compiled_module, compiler_available

LEVELS = [-1, 1, 2, 3, 4, 5, 6, 7, 8, 9]  # 1-3: deflate_fast, 4-9: deflate_slow


fast_deflate = compiled_module("roadmark.io.fast_deflate")


def test_the_module_is_built_where_a_compiler_is():
    if not compiler_available():
        pytest.skip("no C compiler or Python headers: the install uses Python's zlib")
    assert deflate.COMPILED, "pip install did not build roadmark.io.fast_deflate (see setup.py)"


# The reference is Python's zlib: stock zlib there (a Python linked to zlib-ng, which
# compresses differently, has no reference here; CI's has stock zlib).
STOCK_ZLIB = not hasattr(zlib, "ZLIBNG_VERSION") and "ng" not in zlib.ZLIB_RUNTIME_VERSION
compiled = pytest.mark.skipif(
    fast_deflate is None or not STOCK_ZLIB,
    reason="no C compiler to build roadmark.io.fast_deflate, or Python's zlib is not stock zlib",
)


def _zlib(data: bytes, level: int) -> bytes:
    return zlib.compress(data, level, wbits=-15)


def _ours(data: bytes | memoryview, level: int) -> bytes:
    assert deflate.fast_deflate is not None
    return deflate.fast_deflate.compress(data, level)


runs = st.lists(st.tuples(st.integers(0, 255), st.integers(1, 4000)), max_size=120)


@compiled
@settings(max_examples=300, deadline=None)
@given(runs=runs, alphabet=st.integers(1, 256), seed=st.integers(0, 2**32 - 1),
       noise=st.floats(0, 0.2), level=st.sampled_from(LEVELS))
def test_generated_data_compresses_to_zlibs_bytes(runs, alphabet, seed, noise, level):
    # runs of equal bytes (the matches that reach 258 and the window slides) with random
    # bytes of a small alphabet sprinkled in (short matches ending anywhere in a word)
    data = np.repeat(
        np.array([value for value, _ in runs], np.uint8), [count for _, count in runs]
    )
    rng = np.random.default_rng(seed)
    spots = rng.random(data.size) < noise
    data[spots] = rng.integers(0, alphabet, int(spots.sum()))
    assert _ours(data.tobytes(), level) == _zlib(data.tobytes(), level)


def _label_rows(height: int, width: int, seed: int) -> np.ndarray:
    """Filtered label-map rows as a Cityscapes export compresses them: a type byte, then
    zeros with a few values where a region's edge crosses the row."""
    rng = np.random.default_rng(seed)
    rows = np.zeros((height, 1 + width), np.uint8)
    rows[:, 0] = rng.choice([0, 1, 2, 4], height, p=[0.05, 0.15, 0.6, 0.2])
    for _ in range(height * 3):
        rows[rng.integers(height), 1 + rng.integers(width)] = rng.integers(1, 40)
    rows[rng.integers(height, size=8)] = rng.integers(0, 34, (8, 1 + width))
    return rows


@compiled
@pytest.mark.parametrize("level", [1, 6, 9])
@pytest.mark.parametrize("seed", [0, 1])
def test_label_map_rows_across_many_window_slides(level, seed):
    rows = _label_rows(1024, 2048 * 3, seed)  # 6 MB: about 190 slides of the window
    assert _ours(rows.data, level) == _zlib(rows.tobytes(), level)


@compiled
@pytest.mark.parametrize("size", [0, 1, 2, 3, 257, 258, 259, 32767, 32768, 32769,
                                  65535, 65536, 65537, 98304, 300_001])
@pytest.mark.parametrize("fill", ["zeros", "random", "period7"])
def test_sizes_at_the_windows_boundaries(size, fill):
    rng = np.random.default_rng(size)
    data = {
        "zeros": bytes(size),
        "random": rng.integers(0, 256, size, dtype=np.uint8).tobytes(),
        "period7": (b"abcdefg" * (size // 7 + 1))[:size],
    }[fill]
    for level in (1, 6, 9):
        assert _ours(data, level) == _zlib(data, level)


@compiled
def test_threads_at_once_give_the_same_bytes():
    inputs = [_label_rows(256, 4096, seed).tobytes() for seed in range(8)]
    with ThreadPoolExecutor(4) as pool:
        ours = list(pool.map(lambda data: _ours(data, 1), inputs))
    assert ours == [_zlib(data, 1) for data in inputs]


@compiled
def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="level 0"):
        _ours(b"abc", 0)  # stored blocks: left to zlib (see raw_deflate)
    with pytest.raises(ValueError, match="level 10"):
        _ours(b"abc", 10)
    with pytest.raises(TypeError):
        _ours("text", 1)  # type: ignore[arg-type]
    with pytest.raises((TypeError, BufferError)):
        _ours(memoryview(np.zeros((4, 4), np.uint8)[:, ::2]), 1)  # not contiguous


def test_raw_deflate_is_zlibs_at_every_level_including_stored():
    # with the module: its streams at 1-9, zlib's own at level 0; without it (where the
    # comparison is zlib with itself) at least the streams decompress to the data
    data = _label_rows(64, 1024, 3).tobytes() + bytes(70_000)
    for level in [0, *LEVELS]:
        if STOCK_ZLIB:
            assert deflate.raw_deflate(data, level) == _zlib(data, level)
        assert zlib.decompress(deflate.raw_deflate(data, level), wbits=-15) == data


def test_data_beyond_the_modules_counters_goes_to_zlib(monkeypatch):
    class Counters32:  # the module where zlib's counters are 32 bits and the data is larger
        @staticmethod
        def compress(data: bytes, level: int) -> bytes:
            raise OverflowError("the data is too large for this zlib's counters")

    monkeypatch.setattr(deflate, "fast_deflate", Counters32)
    data = bytes(100_000)
    assert zlib.decompress(deflate.raw_deflate(data, 1), wbits=-15) == data
