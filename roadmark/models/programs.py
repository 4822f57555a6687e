"""Program model files (TorchScript, ``torch.export``): checks before torch reads them.

A TorchScript or ``torch.export`` file is a program: torch's interpreter runs its graph,
which calls torch operators. roadmark trusts a program only in the form it had when the
user made the model file with ``roadmark model new`` (their choice to trust it): the
manifest records :func:`program_digest` of the archive then, and :func:`check_digest`
refuses a program whose bytes changed since.

A ``.pt2`` archive also holds pickles (pickled weights and constants, sample inputs), and
torch unpickles some of them with ``weights_only=False``, which runs any code a pickle
names. :func:`check_pt2_archive` loads every pickle with ``weights_only=True`` first and
refuses archive layouts that would let torch read a member differently from the check
(a member named by two config entries, one pickled; custom and opaque objects; compiled
AOTInductor libraries, which torch would load as native code; the legacy format);
:func:`guarded_torch_load` then forces ``weights_only=True`` for every ``torch.load`` torch
makes while it reads the archive, and keeps torch's own warnings and log lines off the
terminal (a failure is reported as one error instead).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from roadmark.models.errors import ModelFileError, UnsafeModelFileError

EXTRA_FILE = "roadmark.json"
_ENV_FORCE = "TORCH_FORCE_WEIGHTS_ONLY_LOAD"
_ENV_ALLOW = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
_LOAD_LOCK = threading.RLock()
# Members of the torch.export archive layout that torch itself reads with pickle.
_CONFIG_SUFFIXES = ("_weights_config.json", "_constants_config.json")
_UNSAFE_PREFIXES = ("custom_obj", "opaque_obj")
_LEGACY_MEMBERS = ("version", "serialized_exported_program.json")
_NATIVE_SUFFIXES = (".so", ".dll", ".dylib", ".pyd", ".cubin", ".fatbin", ".o")


def _is_native(name: str) -> bool:
    return "/data/aotinductor/" in f"/{name}" or name.lower().endswith(_NATIVE_SUFFIXES)


def _left_out_of_digest(name: str) -> bool:
    # roadmark's manifest, and the random id torch writes anew at every save.
    return name.endswith((f"/extra/{EXTRA_FILE}", "/.data/serialization_id"))


def program_digest(path: Path) -> str:
    """SHA-256 (hex) of a program archive's contents, leaving out roadmark's manifest.

    Every member counts, in name order, as its name, its size and its bytes, except the
    embedded ``extra/roadmark.json`` (so the digest can be written into the manifest that
    the archive carries) and ``.data/serialization_id`` (a random id torch writes anew at
    every save; torch does not run it).

    Raises:
        ModelFileError: Not a readable zip archive, or a member name appears twice.
    """
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            _refuse_duplicates(names, path)
            for name in sorted(names):
                if _left_out_of_digest(name):
                    continue
                data = archive.read(name)
                digest.update(name.encode("utf-8") + b"\0")
                digest.update(len(data).to_bytes(8, "little"))
                digest.update(data)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ModelFileError(
            f"is not a readable program archive ({error})", path=str(path)
        ) from error
    return digest.hexdigest()


def _refuse_duplicates(names: list[str], path: Path) -> None:
    twice = sorted(name for name, count in Counter(names).items() if count > 1)
    if twice:
        raise UnsafeModelFileError(
            "refused to load: the archive holds two members of one name (torch and a check "
            "could read different ones)",
            path=str(path),
            field=twice[0],
        )


def check_digest(path: Path, recorded: str | None, *, model: Path) -> None:
    """Refuse a program whose archive no longer has the digest recorded when it was made.

    Args:
        path: The program archive.
        recorded: ``program_sha256`` from the manifest.
        model: The model file or folder (named in the error).

    Raises:
        UnsafeModelFileError: No digest recorded, or the program changed since.
    """
    if recorded is None:
        raise UnsafeModelFileError(
            "refused to run: this program model records no program_sha256 (programs are "
            "code; if you trust the program, wrap it again with `roadmark model new`)",
            path=str(model),
            field="program_sha256",
        )
    found = program_digest(path)
    if found != recorded:
        raise UnsafeModelFileError(
            f"refused to run: the program changed since the model file was made (SHA-256 "
            f"{found[:12]}..., recorded {recorded[:12]}...); if you trust the new program, "
            "wrap it again with `roadmark model new`",
            path=str(model),
            field="program_sha256",
        )


def check_pt2_archive(path: Path, load_pickle: object) -> None:
    """Check every pickle inside a ``torch.export`` archive before torch opens it.

    Args:
        path: The ``.pt2`` archive.
        load_pickle: ``load_pickle(data: bytes, name: str)`` that loads one pickle with
            ``weights_only=True`` and raises :class:`UnsafeModelFileError` on code.

    Each entry of the weight and constant configs is judged by its own ``use_pickle``
    flag: a member that a pickled entry names may not be named by any other entry; every
    member under ``data/`` that is not a raw tensor payload of raw entries only (JSON
    aside) must load as weights only.

    Raises:
        UnsafeModelFileError: A pickle would run code; the archive holds custom Python
            objects, compiled native code (AOTInductor shared libraries, which torch loads
            and runs), a member named by a pickled entry and another entry, or the legacy
            layout that torch reads without these checks.
        ModelFileError: The archive is corrupt.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            _refuse_duplicates(names, path)
            native = [name for name in names if _is_native(name)]
            if native:
                raise UnsafeModelFileError(
                    "refused to load: the archive holds compiled native code (AOTInductor), "
                    "which torch would load as a shared library",
                    path=str(path),
                    field=native[0],
                )
            legacy = [name for name in names if name in _LEGACY_MEMBERS or "/" not in name]
            if legacy:
                raise UnsafeModelFileError(
                    "refused to load: legacy or unknown torch.export layout (top-level "
                    f"member {legacy[0]!r}); save the program again with this torch",
                    path=str(path),
                    field=legacy[0],
                )
            flags: dict[str, list[bool]] = {}
            for name in names:
                if not name.endswith(_CONFIG_SUFFIXES):
                    continue
                folder = name.rsplit("/", 1)[0]
                config = json.loads(archive.read(name)).get("config", {})
                for key, entry in config.items():
                    file_name = str(entry["path_name"])
                    if file_name.startswith(_UNSAFE_PREFIXES):
                        raise UnsafeModelFileError(
                            "refused to load: the program holds custom Python objects",
                            path=str(path),
                            field=f"{name}:{key}",
                        )
                    use_pickle = entry.get("use_pickle", False)
                    if not isinstance(use_pickle, bool):
                        raise ModelFileError(
                            "use_pickle must be true or false",
                            path=str(path),
                            field=f"{name}:{key}",
                        )
                    flags.setdefault(f"{folder}/{file_name}", []).append(use_pickle)
            for member, seen in flags.items():
                if any(seen) and len(seen) > 1:
                    raise UnsafeModelFileError(
                        "refused to load: a pickled member is named by more than one config entry",
                        path=str(path),
                        field=member,
                    )
            raw = {member for member, seen in flags.items() if not any(seen)}
            for name in names:
                if "/data/" not in name or name.endswith(("/", ".json")) or name in raw:
                    continue
                load_pickle(archive.read(name), f"{path}:{name}")  # type: ignore[operator]
    except (zipfile.BadZipFile, KeyError, TypeError, json.JSONDecodeError, AttributeError) as error:
        raise ModelFileError(
            f"is not a readable torch.export archive ({error})", path=str(path)
        ) from error
    except (UnicodeDecodeError, RecursionError, OSError) as error:
        raise ModelFileError(
            f"is not a readable torch.export archive ({type(error).__name__})", path=str(path)
        ) from error


@contextmanager
def guarded_torch_load() -> Iterator[None]:
    """While torch reads a program: every ``torch.load`` is ``weights_only``, and torch's
    warnings and log lines stay off the terminal.

    The switch is torch's own environment variable, read at each ``torch.load``; it is set
    for the block only (one block at a time in this process) and restored afterwards.
    """
    with _LOAD_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = {key: os.environ.get(key) for key in (_ENV_FORCE, _ENV_ALLOW)}
        previous_disable = logging.root.manager.disable
        os.environ[_ENV_FORCE] = "1"
        os.environ.pop(_ENV_ALLOW, None)
        logging.disable(logging.CRITICAL)
        try:
            yield
        finally:
            logging.disable(previous_disable)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
