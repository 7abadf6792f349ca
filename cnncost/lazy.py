"""A module imported on first use: start-up pays only for what a command runs (`cnncost
--version` and `--help` need none of the API; a report no plotting or analysis beyond its
own)."""
from __future__ import annotations

import importlib


class OnUse:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr):
        return getattr(importlib.import_module(self._name), attr)
