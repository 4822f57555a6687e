"""User settings: the user name recorded in provenance, recent projects, folders.

Settings live in ``settings.json`` in the user's config folder (``ROADMARK_CONFIG_DIR``
overrides it, which tests use to stay isolated). The user name defaults to the OS login.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from roadmark.core.errors import RoadmarkError

MAX_RECENT = 10


def config_dir() -> Path:
    override = os.environ.get("ROADMARK_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("roadmark"))


def data_dir() -> Path:
    """Where roadmark keeps its own files (the demo project, caches)."""
    override = os.environ.get("ROADMARK_DATA_DIR")
    return Path(override) if override else Path(platformdirs.user_data_dir("roadmark"))


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        return "user"


@dataclass
class Settings:
    """The contents of ``settings.json``.

    Attributes:
        user: Name written into provenance; empty means the OS login.
        recent_projects: Most recent first.
        extra: Any other keys (kept when saving), for example GUI shortcut overrides.
    """

    user: str = ""
    recent_projects: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user_name(self) -> str:
        return os.environ.get("ROADMARK_USER") or self.user or os_user()

    @classmethod
    def path(cls) -> Path:
        return config_dir() / "settings.json"

    @classmethod
    def load(cls) -> Settings:
        """Read the settings; a missing file gives the defaults.

        Raises:
            RoadmarkError: The file exists but is not a JSON object.
        """
        path = cls.path()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as error:
            raise RoadmarkError(f"cannot read settings ({error})", path=str(path)) from error
        if not isinstance(data, dict):
            raise RoadmarkError("settings must be a JSON object", path=str(path))
        recent = [str(p) for p in data.pop("recent_projects", []) if isinstance(p, str)]
        user = data.pop("user", "")
        return cls(user=str(user), recent_projects=recent, extra=data)

    def save(self) -> None:
        """Write the settings atomically (a temporary file renamed over the old one)."""
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {**self.extra, "user": self.user, "recent_projects": self.recent_projects}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, path)

    def add_recent(self, project: str) -> None:
        self.recent_projects = [project] + [p for p in self.recent_projects if p != project]
        del self.recent_projects[MAX_RECENT:]
