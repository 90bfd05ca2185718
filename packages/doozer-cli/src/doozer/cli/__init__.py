"""The ``doozer`` command line: run applications and the commands extensions add.

``doozer run MODULE[:NAME]`` imports an application and runs it;
``doozer --app APP_PATH NAMESPACE COMMAND`` runs a command that an
extension registered with :func:`register_commands`.
"""

from __future__ import annotations

from .__about__ import __version__
from .program import main, parser, register_commands

__all__ = ["__version__", "main", "parser", "register_commands"]
