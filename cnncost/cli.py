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
@click.option("--limit", "limit_pairs", multiple=True, metavar="NAME=VALUE",
              help="Raise a safety limit, e.g. --limit max_layers=1000000 (see docs/spec.md).")
@click.version_option(package_name="cnncost")
@click.pass_context
def cli(ctx, debug, limit_pairs):
    """cnncost: what a convolutional network costs (params, MACs, FLOPs, activations)."""
    ctx.obj = {"debug": debug, "limit_pairs": limit_pairs}


def limits():
    """The --limit settings of this invocation (parsed inside the command so that a bad
    value is reported like any other user error)."""
    from .limits import parse_limits
    return parse_limits(click.get_current_context().find_root().obj["limit_pairs"])


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
    rep = analysis.analyze(spec, batch=batch, overrides=list(sets), limits=limits())
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


@cli.command()
@click.argument("specs", nargs=-1)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help=SET_HELP + " Expectations are skipped for overridden specs.")
@click.option("--max-params", default=None, metavar="N", help="Budget, e.g. 5M.")
@click.option("--max-mults", default=None, metavar="N", help="Budget, e.g. 600M.")
@click.option("--max-flops", default=None, metavar="N", help="Budget, e.g. 4.1G.")
@click.option("--max-activations", default=None, metavar="N", help="Budget on activation elements.")
@click.option("--baseline", type=click.Path(dir_okay=False), default=None,
              help="A `report --format json` file to compare against.")
@click.option("--max-increase", default="0%", show_default=True,
              help="Allowed growth over the baseline: a percentage or an absolute number.")
@format_option(("table", "json"))
@click.option("--junit", type=click.Path(dir_okay=False), default=None,
              help="Also write JUnit XML (one test case per architecture).")
def check(specs, sets, max_params, max_mults, max_flops, max_activations, baseline,
          max_increase, fmt, junit):
    """Check `expect:` blocks, budgets and baselines. No SPECS: every bundled spec.

    Exit 0 when everything holds, 1 when a check fails, 2 when a spec is wrong.
    """
    from . import check as checks
    from .spec import bundled_names

    budgets = {"params": max_params, "mults": max_mults, "flops": max_flops,
               "activations": max_activations}
    for metric, value in budgets.items():   # a bad budget is a usage error, before any work
        if value is not None:
            checks.parse_quantity(value, f"--max-{metric}")
    checks.parse_tolerance(max_increase, "--max-increase")
    lim = limits()
    results = [checks.check_one(s, overrides=list(sets), budgets=budgets, baseline=baseline,
                                max_increase=max_increase, limits=lim)
               for s in (specs or bundled_names())]
    if junit:
        render.write_atomic(junit, checks.junit_xml(results))
    if fmt == "json":
        import json
        click.echo(json.dumps(checks.results_dict(results), indent=2, default=str))
    else:
        render.print_checks(results)
    if any(r.error for r in results):
        sys.exit(2)
    sys.exit(0 if all(r.ok for r in results) else 1)


def _bytes_option(value, what):
    from .check import parse_quantity
    return None if value is None else int(parse_quantity(value, what))


def _progress(total: int):
    """A rich progress bar on stderr when it is a terminal; a no-op callback otherwise."""
    if not sys.stderr.isatty():
        return None, (lambda node: None)
    from rich.console import Console
    from rich.progress import Progress
    progress = Progress(console=Console(stderr=True), transient=True)
    task = progress.add_task("running", total=total)
    return progress, (lambda node: progress.advance(task))


@cli.command(name="verify")
@click.argument("spec")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of weights and input.")
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Forward passes; timings are medians.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="An .npz of '<layer path>/<weight name>' arrays instead of random weights.")
@click.option("--max-memory", default=None, metavar="BYTES",
              help="Refuse to run above this estimate (e.g. 4G); default half the available memory.")
@format_option(("table", "json"))
def verify_cmd(spec, batch, sets, seed, repeat, weights, max_memory, fmt):
    """Run SPEC in the NumPy executor; compare every layer's shape and multiplications
    with the analysis. Exit 1 on any difference or non-finite output."""
    from .verify import verify
    limit = _bytes_option(max_memory, "--max-memory")
    progress, tick = _progress(0)
    try:
        if progress is not None:
            progress.start()
        def on_layer(node, _tick=tick):
            _tick(node)
        result = verify(spec, batch=batch, overrides=list(sets), seed=seed, repeat=repeat,
                        max_memory=limit, weights_path=weights, limits=limits(),
                        on_layer=on_layer if progress is not None else None)
    finally:
        if progress is not None:
            progress.stop()
    if fmt == "json":
        import json
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        render.print_verification(result)
    for line in result.failures():
        click.echo(f"FAIL: {line}", err=True)
    sys.exit(0 if result.ok else 1)


@cli.command(name="run")
@click.argument("spec")
@click.option("--input", "input_path", type=click.Path(dir_okay=False), required=True,
              help="A .npy array, H x W x C or N x H x W x C (NHWC).")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="An .npz of '<layer path>/<weight name>' arrays (default: seeded random).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@click.option("--output", "output_path", type=click.Path(dir_okay=False), default=None,
              help="Save the network's output as .npy.")
@click.option("--max-memory", default=None, metavar="BYTES")
def run_cmd(spec, input_path, weights, seed, sets, output_path, max_memory):
    """Run a real input through SPEC and print (or save) the output."""
    from .executor import load_input, run_network
    x = load_input(input_path)
    result = run_network(spec, x, weights_path=weights, seed=seed, overrides=list(sets),
                         max_memory=_bytes_option(max_memory, "--max-memory"), limits=limits())
    if output_path:
        render.save_array(output_path, result.output)
    out = result.output
    click.echo(f"output {'x'.join(map(str, out.shape))} in {result.seconds * 1000:.1f} ms; "
               f"min {out.min():.6g}, max {out.max():.6g}, mean {out.mean():.6g}")
    if out.ndim == 2 and out.shape[1] > 1:
        top = out[0].argsort()[::-1][:5]
        click.echo("top-5 of example 0: " + ", ".join(f"{i} ({out[0, i]:.4g})" for i in top))
    for row in result.layers:
        if not row.ok:
            click.echo(f"FAIL: layer '{row.name}': shape {row.executed_shape} vs {row.output_shape}, "
                       f"mults {row.executed_mults:,} vs {row.mults:,}", err=True)
    sys.exit(0 if result.ok else 1)


def main(argv=None):
    cli.main(args=argv, prog_name="cnncost")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
