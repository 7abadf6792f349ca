"""What the command line does at the terminal: the global options anywhere on the line,
every user error as one line and its exit code, warnings as one line on stderr, the
terminal's width, a progress bar. Nothing here computes a result."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

import click

from cnncost.errors import CnnCostError


@contextlib.contextmanager
def warnings_on_stderr():
    """cnncost's warnings as one `warning: ...` line each on stderr, each said once."""
    from cnncost.errors import CnnCostWarning

    with warnings.catch_warnings():
        warnings.simplefilter("once", CnnCostWarning)
        shown = warnings.showwarning

        def show(message, category, *args, **kw):
            if issubclass(category, CnnCostWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                shown(message, category, *args, **kw)
        warnings.showwarning = show
        yield


def terminal_width() -> int:
    """COLUMNS, else the terminal's, else 80 (shutil's rule, without importing shutil)."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 80


def _progress(total):
    """A rich progress bar on stderr when it is a terminal; (None, no-op) otherwise."""
    if not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress
    progress = Progress(console=Console(stderr=True), transient=True)
    task = progress.add_task("running", total=total)
    return progress, (lambda *_: progress.advance(task))


def with_progress(total, call):
    progress, tick = _progress(total)
    if progress is None:
        return call(None)
    progress.start()
    try:
        return call(tick)
    finally:
        progress.stop()


GLOBAL_FLAGS = ("--debug", "--allow-code")
GLOBAL_OPTIONS = ("--limit", "--input-shape")


class Group(click.Group):
    """Turns every CnnCostError into one line on stderr and its exit code, and accepts
    the global options (--limit, --input-shape, --debug) after the subcommand too."""

    def parse_args(self, ctx, args):
        front, rest, i = [], [], 0
        seen_command = False
        while i < len(args):
            a = args[i]
            if a == "--":
                rest += args[i:]
                break
            if seen_command and a in GLOBAL_FLAGS:
                front.append(a)
            elif seen_command and a in GLOBAL_OPTIONS and i + 1 < len(args):
                front += [a, args[i + 1]]
                i += 1
            elif seen_command and a.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in a:
                front.append(a)
            else:
                seen_command = seen_command or (a in self.commands)
                rest.append(a)
            i += 1
        return super().parse_args(ctx, front + rest)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CnnCostError as exc:
            if (ctx.obj or {}).get("debug") or os.environ.get("CNNCOST_DEBUG"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except MemoryError:
            if (ctx.obj or {}).get("debug") or os.environ.get("CNNCOST_DEBUG"):
                raise
            click.echo("error: out of memory: the system refused an allocation (lower --batch or "
                       "--max-memory, or free memory)", err=True)
            ctx.exit(2)
