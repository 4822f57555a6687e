"""Reading label schemas from JSON or YAML files."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import yaml

from roadmark.core.errors import SchemaError
from roadmark.core.schema import LabelSchema, cityscapes_schema
from roadmark.io.text_checks import first_invalid_text


def _bundled(name: str) -> LabelSchema:
    text = resources.files("roadmark.assets.schemas").joinpath(f"{name}.json").read_text()
    return LabelSchema.from_json(text, source=f"{name}.json")


def kitti_schema() -> LabelSchema:
    """KITTI's object classes with the ``label_2`` fields as attributes (see
    :mod:`roadmark.io.formats.kitti`)."""
    return _bundled("kitti")


def bdd100k_schema() -> LabelSchema:
    """BDD100K's detection and tracking categories with their attributes (see
    :mod:`roadmark.io.formats.bdd100k`)."""
    return _bundled("bdd100k")


BUILTIN_SCHEMAS = {
    "cityscapes": cityscapes_schema,
    "kitti": kitti_schema,
    "bdd100k": bdd100k_schema,
}


def load_schema(source: str | Path) -> LabelSchema:
    """A built-in schema by name (``cityscapes``, ``kitti``, ``bdd100k``) or a ``.json``,
    ``.yaml`` or ``.yml`` file.

    Raises:
        SchemaError: Unknown name, unreadable file, bad syntax, or invalid entries (the
            message names the file and the entry).
    """
    if str(source) in BUILTIN_SCHEMAS:
        return BUILTIN_SCHEMAS[str(source)]()
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise SchemaError(
            f"no such schema file (built-in schemas: {', '.join(BUILTIN_SCHEMAS)})", path=str(path)
        ) from error
    except (OSError, UnicodeDecodeError) as error:
        raise SchemaError(f"cannot read schema ({error})", path=str(path)) from error
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except yaml.YAMLError as error:
        raise SchemaError(f"not valid YAML ({error})".replace("\n", " "), path=str(path)) from error
    except json.JSONDecodeError:
        return LabelSchema.from_json(text, source=str(path))  # its message names the place
    except RecursionError as error:
        raise SchemaError("nested too deeply", path=str(path)) from error
    invalid = first_invalid_text(data)
    if invalid is not None:
        raise SchemaError(
            f"is not valid Unicode text (a lone surrogate at character {invalid[1]})",
            path=str(path),
            field=invalid[0] or None,
        )
    return LabelSchema.from_dict(data, source=str(path))
