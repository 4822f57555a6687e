"""Where a project lives: a ``.roadmark`` file or a PostgreSQL URL, and the image root that
each machine maps it to.

A team project is named by a URL such as ``postgresql://host/db`` or
``postgresql://anna@db.example.com:5432/labels?sslmode=require``. Passwords come from where
libpq looks for them (``PGPASSWORD``, ``~/.pgpass``, a service file with
``?service=NAME``); a password written into the URL is used to connect but never shown,
stored in the settings or put into an error message (:func:`display_location`).

Frame paths are stored relative to the project's image root. For a project file that is
its folder; a team project has no folder, so each machine says where the images are
mounted there (``roadmark config image-root PROJECT PATH``, kept in the per-machine
settings, keyed by the project's displayed location).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from roadmark.io.errors import ProjectError
from roadmark.io.settings import Settings

IMAGE_ROOTS_KEY = "image_roots"
_DRIVERS = {"postgresql": "postgresql+psycopg", "postgres": "postgresql+psycopg"}


def is_url(location: str | Path) -> bool:
    """Whether ``location`` is a database URL rather than a project file."""
    return "://" in str(location)


def _parse(location: str) -> sa.engine.URL:
    try:
        url = sa.engine.make_url(location)
    except sa.exc.ArgumentError:
        raise ProjectError(
            "is not a database URL (write postgresql://HOST/DATABASE)",
            path=_mask_fallback(location),
        ) from None
    backend = url.get_backend_name()
    if backend not in ("postgresql", "postgres"):
        raise ProjectError(
            f"'{backend}' databases are not supported (team projects use postgresql://)",
            path=_mask_fallback(location),
        )
    return url


def _mask_fallback(location: str) -> str:
    scheme, _, rest = location.partition("://")
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}" if "@" in rest else location


def database_url(location: str) -> sa.engine.URL:
    """The URL to connect with: ``postgresql://`` goes through psycopg 3.

    Raises:
        ProjectError: Not a URL, or not a PostgreSQL one.
    """
    url = _parse(location)
    if url.drivername in _DRIVERS:
        url = url.set(drivername=_DRIVERS[url.drivername])
    return url


def display_location(location: str) -> str:
    """The location as shown and stored: a URL without its password and driver.

    Raises:
        ProjectError: Not a URL, or not a PostgreSQL one.
    """
    url = _parse(location)
    bare = sa.engine.URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    )
    return bare.render_as_string(hide_password=True)


def image_root(location: str) -> Path | None:
    """The image root this machine maps ``location`` to, if one was set."""
    roots = Settings.load().extra.get(IMAGE_ROOTS_KEY, {})
    value = roots.get(canonical(location)) if isinstance(roots, dict) else None
    return Path(value) if isinstance(value, str) and value else None


def set_image_root(location: str, root: Path | None) -> None:
    """Map ``location`` to ``root`` on this machine (``None`` removes the mapping).

    Raises:
        ProjectError: ``root`` is not a folder.
    """
    location = canonical(location)
    if root is not None and not Path(root).is_dir():
        raise ProjectError("is not a folder", path=str(root), field="image root")
    settings = Settings.load()
    roots = settings.extra.get(IMAGE_ROOTS_KEY)
    roots = dict(roots) if isinstance(roots, dict) else {}
    if root is None:
        roots.pop(location, None)
    else:
        roots[location] = str(Path(root).resolve())
    settings.extra[IMAGE_ROOTS_KEY] = roots
    settings.save()


def canonical(location: str | Path) -> str:
    """The key a project is known by on this machine: its displayed URL or absolute path."""
    if is_url(location):
        return display_location(str(location))
    return str(Path(location).resolve())
