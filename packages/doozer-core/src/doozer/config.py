"""The settings mapping shared by an application and its extensions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Config"]


class Config(dict[str, Any]):
    """A ``dict`` of settings that can be filled from mappings and objects.

    Only UPPERCASE names are taken, so a module or class can hold helpers
    and imports next to its settings without leaking them in.
    """

    def from_mapping(self, mapping: Mapping[str, Any]) -> None:
        """Update the settings with the UPPERCASE keys of *mapping*."""
        self.update((key, value) for key, value in mapping.items() if key.isupper())

    def from_object(self, obj: object) -> None:
        """Update the settings with the UPPERCASE attributes of *obj*.

        *obj* is typically a module or a class.
        """
        self.update((name, getattr(obj, name)) for name in dir(obj) if name.isupper())
