"""A box-drawn table as rich draws it (heavy head, light body, a footer row), in plain
string arithmetic: rich's layout engine takes 350 ms for ResNet-152's 500 rows, most of
`cnncost report`'s wall time, and the table needs none of its generality. The same bytes
as rich for a pipe; in a terminal, the named wrappable columns fold to the width and the
header, footer and title are styled."""
from __future__ import annotations

from cnncost.records import Struct

BOLD, DIM, ITALIC, RESET = "\x1b[1m", "\x1b[2m", "\x1b[3m", "\x1b[0m"


class Column(Struct):
    """justify: "left" or "right"; wraps: folds in a narrow terminal (names); numbers never do."""

    __slots__ = ("header", "justify", "footer", "cells", "wraps")

    def __init__(self, header: str, justify: str, footer: str, cells: list[str], wraps: bool = False):
        self.header, self.justify, self.footer, self.cells, self.wraps = header, justify, footer, cells, wraps


def _fit(columns: list[Column], width: int | None) -> list[int]:
    widths = [max(len(c.header), len(c.footer), *(len(v) for v in c.cells)) if c.cells or c.header or c.footer
              else 0 for c in columns]
    if width is None:
        return widths
    over = sum(w + 3 for w in widths) + 1 - width
    for i, c in enumerate(columns):
        if over <= 0:
            break
        if c.wraps:
            least = max(len(c.header), 8)
            cut = min(over, widths[i] - least)
            if cut > 0:
                widths[i] -= cut
                over -= cut
    return widths


def _fold(text: str, width: int) -> list[str]:
    return [text[i:i + width] for i in range(0, len(text), width)] or [""]


def _cell(text: str, width: int, justify: str) -> str:
    return text.rjust(width) if justify == "right" else text.ljust(width)


def table(columns: list[Column], *, title: str = "", footer: bool = True, width: int | None = None,
          styles: bool = False) -> list[str]:
    """The table's lines; `width` (a terminal's) folds wrappable columns to fit."""
    widths = _fit(columns, width)
    total = sum(w + 3 for w in widths) + 1

    def rule(left, fill, mid, right):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(values, bar, style=""):
        parts = [_fold(v, w) if c.wraps and len(v) > w else [v] for c, v, w in zip(columns, values, widths)]
        lines = []
        for k in range(max(len(p) for p in parts)):
            cells = []
            for c, p, w in zip(columns, parts, widths):
                text = _cell(p[k] if k < len(p) else "", w, c.justify)
                cells.append(f" {style}{text}{RESET} " if style else f" {text} ")
            lines.append(bar + bar.join(cells) + bar)
        return lines

    out = []
    if title:
        shown = title if len(title) >= total else title.ljust(total)
        out.append(f"{ITALIC}{shown}{RESET}" if styles else shown)
    out.append(rule("┏", "━", "┳", "┓"))
    out += row([c.header for c in columns], "┃", BOLD if styles else "")
    out.append(rule("┡", "━", "╇", "┩"))
    if width is None:        # every cell fits its column: one line per row (500 rows of a ResNet-152)
        pads = [str.rjust if c.justify == "right" else str.ljust for c in columns]
        for values in zip(*(c.cells for c in columns)):
            out.append("│ " + " │ ".join([pad(v, w) for pad, v, w in zip(pads, values, widths)]) + " │")
    else:
        for i in range(len(columns[0].cells) if columns else 0):
            out += row([c.cells[i] for c in columns], "│")
    if footer:
        out.append(rule("├", "─", "┼", "┤"))
        out += row([c.footer for c in columns], "│", BOLD if styles else "")
    out.append(rule("└", "─", "┴", "┘"))
    return out


def text_lines(text: str, *, width: int | None = None, dim: bool = False) -> list[str]:
    """A paragraph as lines: whole in a pipe, word-wrapped to a terminal's width."""
    if width is None:
        lines = [text]
    else:
        import textwrap     # only a terminal's width wraps a caption

        lines = textwrap.wrap(text, width, break_on_hyphens=False) or [""]
    return [f"{DIM}{line}{RESET}" for line in lines] if dim else lines
