"""Live updates: what other people changed in the project, as it happens.

On PostgreSQL every change of a watched table (frame status and assignment, workflow,
review comments, predictions, objects, leases) sends a NOTIFY when it commits (triggers
made with the tables, see :mod:`roadmark.io.team_tables`); :class:`PostgresFeed` LISTENs on
its own connection and hands them out within milliseconds. SQLite has no notifications:
:class:`PollingFeed` polls ``PRAGMA data_version``, which changes when another connection
commits, every :data:`POLL_SECONDS`, and reports "something changed" (frame unknown).

:class:`ChangeWatcher` runs a feed on a daemon thread and calls back with each batch; the
editor turns the call into a Qt signal.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from roadmark.io.errors import ProjectError
from roadmark.io.store import Project
from roadmark.io.team_tables import NOTIFY_CHANNEL

if TYPE_CHECKING:
    import psycopg

POLL_SECONDS = 0.5


@dataclass(frozen=True)
class Change:
    """One change another connection committed.

    Attributes:
        table: The table changed (``"*"`` when the back end cannot tell).
        frame_id: The frame concerned, ``None`` when unknown.
        op: ``INSERT``, ``UPDATE``, ``DELETE`` (or ``"*"``).
        at: POSIX time the change was made (from the database server's clock), when known.
    """

    table: str
    frame_id: int | None
    op: str
    at: float | None = None


class ChangeFeed(Protocol):
    """Waits for changes committed by others."""

    def wait(self, timeout: float) -> list[Change]: ...

    def close(self) -> None: ...


class PostgresFeed:
    """LISTEN on the project's notification channel (its own autocommit connection).

    A lost connection (a server restart, a network break) is opened again; the changes
    missed meanwhile are reported as one "something changed" so that views reload.
    """

    def __init__(self, conninfo: str, location: str) -> None:
        import psycopg  # only team projects need it: the window opens without it

        self._conninfo = conninfo
        try:
            self._conn = self._listen()
        except psycopg.Error as error:
            first = str(error).strip().splitlines()[0] if str(error).strip() else "failed"
            raise ProjectError(f"cannot listen for changes ({first})", path=location) from None

    def _listen(self) -> psycopg.Connection:
        import psycopg

        conn = psycopg.connect(self._conninfo, autocommit=True)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def wait(self, timeout: float) -> list[Change]:
        import psycopg

        try:
            notifies = self._conn.notifies(timeout=timeout, stop_after=1)
            first = [_parse(n.payload) for n in notifies]
            if not first:
                return []
            # and whatever else has arrived by now, without waiting for more
            return first + [_parse(n.payload) for n in self._conn.notifies(timeout=0.001)]
        except psycopg.OperationalError:
            self._conn.close()
            time.sleep(min(timeout, 1.0))
            try:
                self._conn = self._listen()
            except psycopg.OperationalError:
                return []  # still away: try again on the next wait
            return [Change("*", None, "*", time.time())]

    def close(self) -> None:
        self._conn.close()


def _parse(payload: str) -> Change:
    try:
        data = json.loads(payload)
        frame = data.get("frame")
        return Change(
            table=str(data.get("table", "*")),
            frame_id=int(frame) if frame is not None else None,
            op=str(data.get("op", "*")),
            at=float(data["at"]) if data.get("at") is not None else None,
        )
    except (ValueError, TypeError, AttributeError):
        return Change("*", None, "*")


class PollingFeed:
    """Polls SQLite's ``data_version``: it changes when another connection commits."""

    def __init__(self, path: Path, poll: float = POLL_SECONDS) -> None:
        uri = f"file:{path.as_posix()}?mode=ro"
        self._conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._poll = poll
        self._version = self._data_version()

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def wait(self, timeout: float) -> list[Change]:
        deadline = time.monotonic() + timeout
        while True:
            version = self._data_version()
            if version != self._version:
                self._version = version
                return [Change("*", None, "*", time.time())]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            time.sleep(min(self._poll, remaining))

    def close(self) -> None:
        self._conn.close()


def open_feed(project: Project) -> ChangeFeed:
    """The change feed that suits the project's database."""
    if project.dialect == "postgresql":
        url = project.engine.url.set(drivername="postgresql")
        return PostgresFeed(url.render_as_string(hide_password=False), project.location)
    return PollingFeed(Path(project.location))


Listener = Callable[[list[Change]], None]


class ChangeWatcher:
    """Calls ``listener(changes)`` from a daemon thread whenever others commit changes."""

    def __init__(self, project: Project, listener: Listener) -> None:
        self._feed = open_feed(project)
        self._listener = listener
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="roadmark-live", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                changes = self._feed.wait(0.25)
                if changes and not self._stop.is_set():
                    self._listener(changes)
        finally:
            self._feed.close()

    def stop(self) -> None:
        """Stop watching (returns when the thread has ended)."""
        self._stop.set()
        self._thread.join(timeout=5)
