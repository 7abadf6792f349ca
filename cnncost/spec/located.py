"""The values a spec document is made of: mappings and lists that remember where they stood
in their file. Kept apart from the YAML loader so that code which only walks a document
(the builder, a cached document) never imports PyYAML."""
from __future__ import annotations

from cnncost.errors import Loc

MAX_FILE_BYTES = 5 * 1024 * 1024


class YMap(dict):
    """A mapping that remembers where it and each of its keys stood."""

    loc: Loc
    key_locs: dict

    def loc_of(self, key) -> Loc:
        return self.key_locs.get(key, self.loc)


class YList(list):
    loc: Loc
