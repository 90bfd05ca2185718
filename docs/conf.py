"""Sphinx configuration for the Doozer documentation."""

from __future__ import annotations

import sys
from pathlib import Path

import doozer

# The runnable examples (docs/examples/) are importable, for doozercli.
sys.path.insert(0, str(Path(__file__).parent / "examples"))

project = "Doozer"
author = "The Doozer developers"
copyright = "2016-2026, the Doozer developers"
release = doozer.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "doozer.contrib.sphinx",
]

nitpicky = True
# TypeVars that autodoc shows by name.
nitpick_ignore = [
    ("py:class", name)
    for name in (
        *("F", "T_co", "doozer.base.F", "doozer.types.T_co"),
        # Private type aliases in doozer.contrib.retry's signatures.
        *("FromSettings", "ExceptionTypes", "RetryCallback"),
    )
]
# The docs are built offline (no intersphinx inventory), so references into
# the standard library stay plain text instead of failing the -W build.
nitpick_ignore_regex = [
    (
        "py:.*",
        r"(asyncio|logging|collections\.abc|typing|argparse|pathlib|types|time|functools)(\..*)?",
    ),
    ("py:func", r"(repr|str)"),
    ("py:.*", r"(sqlalchemy|alembic)(\..*)?"),
    ("py:class", r"(MetaData|AsyncEngine|AsyncSession|async_sessionmaker)"),
    ("py:class", r"(Any|Callable|Awaitable|Iterable|Mapping|Sequence|ClassVar|Protocol)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented"
autodoc_typehints_format = "short"
autodoc_preserve_defaults = True
# The registration decorators return their argument unchanged, typed with the
# TypeVar F (bound to Callable); "Return type: F" tells a reader nothing, so
# show what F stands for.  Their ":returns:" says it is the same callback.
autodoc_type_aliases = {"F": "Callable"}

html_theme = "furo"
html_title = f"Doozer {release}"
# docs/_static/doozer.css: code blocks wrap long lines, compact results tables.
html_static_path = ["_static"]
html_css_files = ["doozer.css"]
exclude_patterns = ["_build"]
# Keep "--option" as typed: command lines must not turn into en dashes.
smartquotes = False
