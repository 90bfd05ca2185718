"""Doozer: services driven by consumers, on asyncio."""

# Other distributions (doozer-cli, doozer-retry, ...) install into this
# package; extend_path lets their editable installs be found too.
__path__ = __import__("pkgutil").extend_path(__path__, __name__)

from .__about__ import __version__
from ._current import current_message
from .base import Application
from .exceptions import Abort
from .extensions import Extension

__all__ = ["Abort", "Application", "Extension", "__version__", "current_message"]
