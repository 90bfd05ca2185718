"""The reloader's file watcher: it tells the supervisor when the code changed.

The supervisor (:mod:`doozer.cli._supervisor`) runs the application in
child processes; this watcher watches directories (by default the
application's root) with watchdog and, once a burst of changes to matching
files has settled, asks the supervisor to replace the children: each stops
gracefully (it finishes its in-flight messages) and a fresh one starts. A
child that exits on its own, for instance because the edit broke it, waits
for the next change.

A file matches when its name, or its path relative to the watched
directory, matches one of the include globs (``*.py`` and ``*.ini``, and
those given with ``--reload-include``), and neither it nor any directory on
its way matches an exclude glob (``.*``, hidden files and directories, and
those given with ``--reload-exclude``).
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
from collections.abc import Callable, Iterable, Sequence

from watchdog.events import (
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

__all__ = ["DEFAULT_EXCLUDE", "DEFAULT_INCLUDE", "FileFilter", "Reloader"]

#: Files whose changes restart the application, besides ``--reload-include``.
DEFAULT_INCLUDE = ("*.py", "*.ini")
#: Hidden files and directories are not the application's code: a virtualenv
#: or .tox being installed into, or an editor's lock file such as Emacs's
#: .#service.py, must not restart it.
DEFAULT_EXCLUDE = (".*",)
# watchdog also reports opened / closed / attrib events, which reading a file
# (the child importing the application) causes: only real changes count.
EVENTS = frozenset({EVENT_TYPE_CREATED, EVENT_TYPE_MODIFIED, EVENT_TYPE_MOVED, EVENT_TYPE_DELETED})
#: Seconds without further changes before restarting: an editor's save, or a
#: checkout, produces a burst of events that should cause one restart.
DEBOUNCE = 0.3

logger = logging.getLogger("doozer.cli.reloader")


class FileFilter:
    """Which changed files count, by glob, relative to the watched directories."""

    def __init__(
        self, directories: Sequence[str], include: Iterable[str] = (), exclude: Iterable[str] = ()
    ) -> None:
        self.directories = [os.path.abspath(directory) for directory in directories]
        self.include = (*DEFAULT_INCLUDE, *include)
        self.exclude = (*DEFAULT_EXCLUDE, *exclude)

    def relative(self, path: str) -> str | None:
        """*path* relative to the innermost watched directory holding it."""
        path = os.path.abspath(path)
        holders = [d for d in self.directories if path.startswith(d.rstrip(os.sep) + os.sep)]
        return os.path.relpath(path, max(holders, key=len)) if holders else None

    def matches(self, path: str) -> bool:
        relative = self.relative(path)
        if relative is None:
            return False
        parts = relative.split(os.sep)
        if any(_match(part, glob) for part in parts for glob in self.exclude):
            return False
        if any(_match(relative, glob) for glob in self.exclude):
            return False
        return any(_match(parts[-1], glob) or _match(relative, glob) for glob in self.include)


def _match(name: str, glob: str) -> bool:
    return fnmatch.fnmatchcase(name, glob.rstrip("/" + os.sep))


class _Events(FileSystemEventHandler):
    """Forward matching file-system events (from watchdog's thread)."""

    def __init__(self, files: FileFilter, notify: Callable[[str], None]) -> None:
        self.files = files
        self.notify = notify

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type not in EVENTS or event.is_directory:
            return
        for raw in (event.src_path, event.dest_path):
            path = os.fsdecode(raw)
            if path and self.files.matches(path):
                self.notify(path)
                return


class Reloader:
    """Watch *files*' directories; report each settled burst of matching changes.

    A change source for :class:`~doozer.cli._supervisor.Supervisor`.

    :param files: the directories and globs.
    :param debounce: seconds of quiet that end a burst of changes.
    """

    def __init__(self, files: FileFilter, debounce: float = DEBOUNCE) -> None:
        self.files = files
        self.debounce = debounce
        self._observer: BaseObserver | None = None
        self._changed: set[str] = set()
        self._settled: asyncio.TimerHandle | None = None

    def start(self, loop: asyncio.AbstractEventLoop, notify: Callable[[list[str]], None]) -> None:
        """Start watching; call ``notify(paths)`` on *loop* after each burst of changes."""

        def changed(path: str) -> None:  # on the loop
            relative = self.files.relative(path)
            self._changed.add(relative or path)
            if self._settled is not None:
                self._settled.cancel()
            self._settled = loop.call_later(self.debounce, settled)

        def settled() -> None:
            self._settled = None
            paths, self._changed = sorted(self._changed), set()
            notify(paths)

        def notify_loop(path: str) -> None:  # in watchdog's thread
            loop.call_soon_threadsafe(changed, path)

        handler = _Events(self.files, notify_loop)
        observer = Observer()
        for directory in self.files.directories:
            observer.schedule(handler, directory, recursive=True)
        observer.start()
        self._observer = observer
        logger.info(
            "Watching %s for changes to %s%s",
            ", ".join(self.files.directories),
            ", ".join(self.files.include),
            f" (except {', '.join(self.files.exclude)})",
        )

    def stop(self) -> None:
        """Stop watching (and forget a burst that has not settled)."""
        if self._settled is not None:
            self._settled.cancel()
            self._settled = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
