"""Stage 2: ArchSpec -> Graph (expansion, shapes) -> Report (counts), receptive fields, training."""
