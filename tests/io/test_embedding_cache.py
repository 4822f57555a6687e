"""The embedding cache beside a project: keys, reuse, invalidation, damaged entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from roadmark.io.embedding_cache import EmbeddingCache, cache_folder, pixels_digest

MODEL_A = "a" * 64
MODEL_B = "b" * 64


def _embedding(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "features": rng.normal(size=(4, 8, 8)).astype(np.float16),
        "frame_size": np.array([32, 48], dtype=np.int64),
    }


def test_cache_folder_is_beside_the_project(tmp_path: Path):
    assert cache_folder(tmp_path / "drive.roadmark") == tmp_path / "drive.roadmark-cache"


def test_put_get_round_trip_and_keys(tmp_path: Path):
    image = np.zeros((32, 48, 3), np.uint8)
    digest = pixels_digest(image)
    cache = EmbeddingCache.for_project(tmp_path / "p.roadmark", MODEL_A)
    assert cache.get(digest) is None and digest not in cache
    stored = _embedding(1)
    path = cache.put(digest, stored)
    assert path.parent.parent.parent == tmp_path / "p.roadmark-cache"
    loaded = cache.get(digest)
    assert loaded is not None and set(loaded) == set(stored)
    np.testing.assert_array_equal(loaded["features"], stored["features"])
    assert loaded["features"].dtype == np.float16
    assert len(cache) == 1 and cache.nbytes() == path.stat().st_size
    assert not list(cache.folder.glob(".tmp-*"))  # the write was atomic
    # another model never sees these embeddings
    assert EmbeddingCache.for_project(tmp_path / "p.roadmark", MODEL_B).get(digest) is None


def test_changed_pixels_change_the_key(tmp_path: Path):
    image = np.zeros((32, 48, 3), np.uint8)
    changed = image.copy()
    changed[5, 5, 0] = 1
    assert pixels_digest(image) != pixels_digest(changed)
    assert pixels_digest(image) == pixels_digest(image.copy())
    # same bytes, other shape: other key
    assert pixels_digest(image) != pixels_digest(image.reshape(48, 32, 3))


def test_a_damaged_entry_counts_as_missing_and_is_removed(tmp_path: Path):
    cache = EmbeddingCache(tmp_path / "cache", MODEL_A)
    digest = "c" * 40
    path = cache.put(digest, _embedding(2))
    path.write_bytes(b"not an npz")
    assert cache.get(digest) is None
    assert not path.exists()
    cache.put(digest, _embedding(2))
    cache.clear()
    assert len(cache) == 0 and cache.get(digest) is None


def test_keys_are_checked(tmp_path: Path):
    with pytest.raises(ValueError):
        EmbeddingCache(tmp_path, "../escape")
    with pytest.raises(ValueError):
        EmbeddingCache(tmp_path, MODEL_A).path("../../x")
