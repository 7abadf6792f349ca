"""What the command line does at the terminal: warnings as one line on stderr, the
terminal's width, a progress bar. Nothing here computes a result."""
from __future__ import annotations

import contextlib
import os
import sys
import warnings

import click


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
