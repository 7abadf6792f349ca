"""Stage 1: YAML -> validated ArchSpec (safe loading with positions, expressions, limits)."""
from cnncost.spec.loader import ArchSpec, BlockDef, bundled_names, library_blocks, load_spec, parse_spec, read_spec

__all__ = ["ArchSpec", "BlockDef", "bundled_names", "library_blocks", "load_spec", "parse_spec", "read_spec"]
