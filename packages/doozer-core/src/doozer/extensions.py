"""The base class for Doozer extensions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from .base import Application

__all__ = ["Extension"]

T = TypeVar("T")


class Extension:
    """Base class for extensions that add settings, callbacks or commands.

    Subclasses declare their settings and may be bound at construction
    time, ``Ext(app)``, or later with ``ext = Ext(); ext.init_app(app)``.
    An extension that defines a ``register_cli()`` method gets it called by
    :meth:`init_app`, which is where it should call
    ``doozer.cli.register_commands()``.

    A subclass usually overrides :meth:`read_settings` to check (and keep)
    its settings, and :meth:`init_app` to register its callbacks after
    calling ``super().init_app(app)``; what :meth:`init_app` made is read
    back through :meth:`initialized`, which explains a missing
    :meth:`init_app` instead of failing on None::

        class Cache(Extension):
            ONE_PER_APP = True
            DEFAULT_SETTINGS = {"CACHE_SIZE": 100}

            def read_settings(self, app):
                self._size = check_size(app.settings["CACHE_SIZE"])

            @property
            def size(self):
                return self.initialized(self._size)

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
    #: Opt in with True for an extension an application has at most one of
    #: (a transport, a tracer): :meth:`init_app` then refuses to bind an
    #: instance that is bound already, and to bind one to an application
    #: that has an instance of the class that opted in, with a
    #: :class:`RuntimeError` saying so.
    ONE_PER_APP: ClassVar[bool] = False

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

    def initialized(self, value: T | None) -> T:
        """Return *value*, something :meth:`init_app` set, or explain why it is missing.

        For the properties of a subclass that read what :meth:`init_app`
        made (its checked settings, its connection):
        ``return self.initialized(self._connection)``.

        :raises RuntimeError: if *value* is None because the extension is not
            bound to an application (the message says how to bind it).
        """
        if value is None:
            self.app  # noqa: B018 - raises the explanatory RuntimeError when unbound
            raise RuntimeError(f"{type(self).__name__}.init_app() did not finish")
        return value

    def read_settings(self, app: Application) -> None:
        """Check, and keep, the settings the extension reads; a hook for subclasses.

        :meth:`init_app` calls it once the defaults are filled in and the
        required settings are known to be there, before binding: when it
        raises, the extension stays unbound and is not recorded in
        ``app.extensions``. The base class reads nothing.
        """

    def init_app(self, app: Application) -> None:
        """Bind the extension to *app*.

        Refuses a second binding when :attr:`ONE_PER_APP` is set, fills in
        :attr:`DEFAULT_SETTINGS`, checks :attr:`REQUIRED_SETTINGS`, calls
        :meth:`read_settings`, calls ``register_cli()`` when the extension
        defines it, and records the extension in ``app.extensions`` under
        its lowercased class name.

        :raises KeyError: naming every required setting that is missing.
        :raises RuntimeError: if the extension is :attr:`ONE_PER_APP` and
            this instance, or another one, already initialized an application.
        """
        if self.ONE_PER_APP:
            self._refuse_a_second(app)
        for key, value in self.DEFAULT_SETTINGS.items():
            app.settings.setdefault(key, value)
        missing = [key for key in self.REQUIRED_SETTINGS if key not in app.settings]
        if missing:
            raise KeyError(
                f"{type(self).__name__} needs the setting(s) {', '.join(missing)}: "
                f"set app.settings[...] before initializing the extension"
            )
        self.read_settings(app)
        self._app = app
        register_cli = getattr(self, "register_cli", None)
        if callable(register_cli):
            register_cli()
        app.extensions[type(self).__name__.lower()] = self

    def _refuse_a_second(self, app: Application) -> None:
        # The class that opted in names the kind: a subclass of AMQP counts as an AMQP.
        kind = next(
            klass
            for klass in reversed(type(self).__mro__)
            if klass.__dict__.get("ONE_PER_APP") is True
        )
        if self._app is not None:
            raise RuntimeError(
                f"this {kind.__name__} extension is already initialized on {self._app!r}"
            )
        if any(isinstance(extension, kind) for extension in app.extensions.values()):
            raise RuntimeError(f"{kind.__name__} is already initialized on {app!r}")
