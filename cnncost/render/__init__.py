"""Results -> table / JSON / CSV / Markdown / DOT / Mermaid / plots (formatting only)."""
