"""The base class for Doozer extensions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from .base import Application

__all__ = ["Extension"]


class Extension:
    """Base class for extensions that add settings, callbacks or commands.

    Subclasses declare their settings and may be bound at construction
    time, ``Ext(app)``, or later with ``ext = Ext(); ext.init_app(app)``.
    An extension that defines a ``register_cli()`` method gets it called by
    :meth:`init_app`, which is where it should call
    ``doozer.cli.register_commands()``.

    :param app: the application to initialize, if known yet.
    """

    #: Settings and their defaults, applied by :meth:`init_app` where the
    #: application does not set them already.
    DEFAULT_SETTINGS: ClassVar[Mapping[str, Any]] = {}
    #: Settings that have no sensible default and must be set by the
    #: application before :meth:`init_app`.
    REQUIRED_SETTINGS: ClassVar[Iterable[str]] = ()
    #: Settings read only when the application sets them: no default is
    #: filled in and none is required (the code falls back on its own).
    OPTIONAL_SETTINGS: ClassVar[Iterable[str]] = ()
    #: What each setting means: setting name -> one or two sentences of
    #: reStructuredText. Every name of
    #: :attr:`~doozer.Extension.DEFAULT_SETTINGS`,
    #: :attr:`~doozer.Extension.REQUIRED_SETTINGS` and
    #: :attr:`~doozer.Extension.OPTIONAL_SETTINGS` has an entry,
    #: and nothing else. ``.. doozersettings::`` (:mod:`doozer.contrib.sphinx`)
    #: renders them with the defaults (see :doc:`/configuration`).
    #:
    #: :meta hide-value:
    SETTINGS_DOCS: ClassVar[Mapping[str, str]] = {}

    def __init__(self, app: Application | None = None) -> None:
        self._app: Application | None = None
        if app is not None:
            self.init_app(app)

    @property
    def app(self) -> Application:
        """The application this extension was initialized with.

        :raises RuntimeError: if :meth:`init_app` has not been called.
        """
        if self._app is None:
            name = type(self).__name__
            raise RuntimeError(
                f"{name} is not bound to an application: "
                f"pass the application to {name}(app) or call init_app(app) first"
            )
        return self._app

    def init_app(self, app: Application) -> None:
        """Bind the extension to *app*.

        Fills in :attr:`DEFAULT_SETTINGS`, checks :attr:`REQUIRED_SETTINGS`,
        calls ``register_cli()`` when the extension defines it, and records
        the extension in ``app.extensions`` under its lowercased class name.

        :raises KeyError: naming every required setting that is missing.
        """
        for key, value in self.DEFAULT_SETTINGS.items():
            app.settings.setdefault(key, value)
        missing = [key for key in self.REQUIRED_SETTINGS if key not in app.settings]
        if missing:
            raise KeyError(
                f"{type(self).__name__} needs the setting(s) {', '.join(missing)}: "
                f"set app.settings[...] before initializing the extension"
            )
        self._app = app
        register_cli = getattr(self, "register_cli", None)
        if callable(register_cli):
            register_cli()
        app.extensions[type(self).__name__.lower()] = self
