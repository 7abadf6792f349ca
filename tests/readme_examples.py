"""The README's console examples, regenerated from the tool so they never drift.

A ```console block that follows a `<!-- regenerated from the tool -->` line holds
`$ cnncost ...` commands, each followed by what it prints. Where the block shows all of it,
the output replaces it whole; where it shows a selection, a line `...` (or a table row
whose first cell is `...`) stands for lines left out, and each shown line is replaced by
the tool's line with the same key (a table row's first cell, a border's kind, the words
before the first number). A shown line ending in ` ...` keeps only as much of the tool's
line. `test_docs.py` fails when the README differs from what this regenerates;
`python tests/readme_examples.py` rewrites it.
"""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

MARK = "<!-- regenerated from the tool -->"
README = Path(__file__).resolve().parent.parent / "README.md"
BORDERS = "┏┡├└┌╭"


class Drift(Exception):
    pass


def _is_elision(line: str) -> bool:
    s = line.strip()
    return s == "..." or bool(re.match(r"^[│|]\s*\.\.\.\s*[│|]", s))


def _key(line: str) -> str:
    s = line.rstrip()
    if s[:1] in BORDERS:
        return "border " + s[:1]
    if s[:1] in "│┃":
        return "row " + s[1:].split(s[0], 1)[0].strip()
    return "text " + re.match(r"^\D*", s).group(0)


def output_of(command: str) -> list[str]:
    from click.testing import CliRunner

    from cnncost.cli import cli

    args = shlex.split(command.split("  #", 1)[0])
    result = CliRunner().invoke(cli, args[1:])
    if result.exit_code not in (0, 1):
        raise Drift(f"`{command}` exited {result.exit_code}: {result.output[-300:]}")
    return [line.rstrip() for line in result.stdout.rstrip("\n").split("\n")]


def _select(shown: list[str], out: list[str], command: str) -> list[str]:
    if not any(_is_elision(line) for line in shown):
        return out
    new, at = [], 0
    for line in shown:
        if _is_elision(line):
            new.append(line)
            continue
        cut = line.removesuffix(" ...")
        key = _key(cut)
        for i in range(at, len(out)):
            if _key(out[i]) == key or (cut != line and out[i].startswith(cut.split(";")[0])):
                break
        else:
            raise Drift(f"`{command}`: the shown line {line.strip()[:60]!r} is no longer in its output")
        at = i + 1
        if line.endswith(" ..."):
            cut = len(line) - 4
            new.append(out[i] if len(out[i]) <= cut else out[i][:cut].rstrip() + " ...")
        else:
            new.append(out[i])
    return new


def regenerate(text: str) -> str:
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        out.append(lines[i])
        if lines[i].strip() == MARK and i + 1 < len(lines) and lines[i + 1].startswith("```console"):
            out.append(lines[i + 1])
            j = i + 2
            block = []
            while lines[j] != "```":
                block.append(lines[j])
                j += 1
            out += _regenerate_block(block)
            i = j
            continue
        i += 1
    return "\n".join(out)


def _regenerate_block(block: list[str]) -> list[str]:
    new, k = [], 0
    while k < len(block):
        command = block[k]
        if not command.startswith("$ cnncost "):
            raise Drift(f"a regenerated block must start each example with `$ cnncost`: {command!r}")
        k += 1
        shown = []
        while k < len(block) and not block[k].startswith("$ "):
            shown.append(block[k])
            k += 1
        gap = 0
        while shown and not shown[-1].strip():     # blank lines between examples are the README's
            shown.pop()
            gap += 1
        new.append(command)
        new += _select(shown, output_of(command[2:]), command[2:]) + [""] * gap
    return new


if __name__ == "__main__":
    text = README.read_text()
    fresh = regenerate(text)
    if fresh != text:
        README.write_text(fresh)
        print("README.md regenerated", file=sys.stderr)
