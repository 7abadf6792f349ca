"""The command line: parse options, call the library, render. No arithmetic here."""
from __future__ import annotations

import os
import sys

import click

from . import analysis, render
from .errors import CnnCostError

SET_HELP = "Override a spec variable: NAME=VALUE (repeatable)."


class _Group(click.Group):
    """Turns every CnnCostError into one line on stderr and its exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CnnCostError as exc:
            if (ctx.obj or {}).get("debug") or os.environ.get("CNNCOST_DEBUG"):
                raise
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@click.version_option(package_name="cnncost")
@click.pass_context
def cli(ctx, debug):
    """cnncost: what a convolutional network costs (params, MACs, FLOPs, activations)."""
    ctx.obj = {"debug": debug}


def emit(text: str, output: str | None) -> None:
    if output:
        render.write_atomic(output, text)
    else:
        click.echo(text, nl=False)


def format_option(choices=render.FORMATS):
    return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0],
                        show_default=True, help="Output format.")


@cli.command()
@click.argument("spec")
@click.option("--depth", type=click.IntRange(min=1), default=None,
              help="Group rows by the first N parts of their dotted names.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@format_option()
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE (atomically) instead of stdout.")
def report(spec, depth, batch, sets, fmt, output):
    """Per-layer cost report of SPEC (a YAML file or a bundled name)."""
    rep = analysis.analyze(spec, batch=batch, overrides=list(sets))
    if fmt == "table" and not output:
        render.print_table(rep, depth)
        return
    emit(render.render(rep, fmt, depth), output)


@cli.command(name="list")
def list_cmd():
    """List the bundled architectures."""
    from .spec import bundled_names, load_spec
    for name in bundled_names():
        spec = load_spec(name)
        click.echo(f"{name:32s} {spec.source}")


@cli.command()
def kinds():
    """List the layer kinds, their arguments and their FLOP conventions."""
    from .layers import ALIASES, KINDS
    for name, kind in KINDS.items():
        args = ", ".join(kind.args) or "-"
        click.echo(f"{name:18s} {kind.doc}\n{'':18s} args: {args}\n{'':18s} flops: {kind.flops_rule}")
    click.echo("aliases: " + ", ".join(f"{a} = {k}(fn={f['fn']})" for a, (k, f) in ALIASES.items()))


def main(argv=None):
    cli.main(args=argv, prog_name="cnncost")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
