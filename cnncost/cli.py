"""The command line: parse options, call the library, render. No arithmetic here."""
from __future__ import annotations

import os
import sys

import click

from cnncost.core import analysis
from cnncost.render import report as render
from cnncost.errors import CnnCostError, escape_controls
from cnncost.files import write_output

SET_HELP = "Override a spec variable: NAME=VALUE (repeatable)."


GLOBAL_FLAGS = ("--debug",)
GLOBAL_OPTIONS = ("--limit",)


class _Group(click.Group):
    """Turns every CnnCostError into one line on stderr and its exit code, and accepts
    the global options (--limit, --debug) after the subcommand too."""

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
    from cnncost.spec.limits import parse_limits
    return parse_limits(click.get_current_context().find_root().obj["limit_pairs"])


def emit(text: str, output: str | None) -> None:
    if output:
        write_output(output, text)
    else:
        click.echo(text, nl=False)


def format_option(choices=render.FORMATS):
    return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0],
                        show_default=True, help="Output format.")


def analysis_options(f):
    """Options shared by report and compare: dtype, transfer-learning cut, training, rewrites."""
    f = click.option("--dtype", type=click.Choice(["float32", "float16", "int8"]), default="float32",
                     show_default=True, help="Element type for activation and weight memory.")(f)
    f = click.option("--trainable-from", default=None, metavar="LAYER",
                     help="Freeze every layer before LAYER (a layer or block name).")(f)
    f = click.option("--freeze-until", default=None, metavar="LAYER",
                     help="Freeze LAYER and every layer before it.")(f)
    f = click.option("--training", is_flag=True, help="Add the backward pass per layer.")(f)
    f = click.option("--rewrite", default=None, metavar="separable|bottleneck=R",
                     help="What-if: rewrite every standard kxk convolution.")(f)
    return f


@cli.command()
@click.argument("spec")
@click.option("--depth", type=click.IntRange(min=1), default=None,
              help="Group rows by the first N parts of their dotted names.")
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@format_option(render.FORMATS + ("dot", "mermaid"))
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write to FILE (atomically) instead of stdout.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Chart mults and params per layer to FILE.svg|png (needs cnncost[plot]).")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None,
              help="A device profile (cnncost calibrate): adds roofline time estimates.")
@analysis_options
def report(spec, depth, batch, sets, fmt, output, plot, profile_path, dtype, trainable_from,
           freeze_until, training, rewrite):
    """Per-layer cost report of SPEC (a YAML file or a bundled name)."""
    kw = dict(batch=batch, overrides=list(sets), limits=limits(), dtype=dtype,
              trainable_from=trainable_from, freeze_until=freeze_until, training=training)
    if rewrite:
        from cnncost.render import compare as render_compare
        from cnncost.analyses import whatif
        original, rep, savings = whatif.savings(spec, rewrite, **kw)
    else:
        rep = analysis.analyze(spec, **kw)
    if plot:
        from cnncost.render import plot as plotting
        rows = rep.grouped(depth)
        plotting.bars(plot, f"{rep.name}: per-layer cost", [r.name for r in rows],
                      {"mults": [r.mults for r in rows], "params": [r.params for r in rows]})
    if profile_path:
        from cnncost.render import roofline as render_roofline
        from cnncost.analyses import roofline
        profile = roofline.load_profile(profile_path)
        estimates = roofline.estimate(rep, profile)
        if fmt == "table" and not output:
            render.print_table(rep, depth)
            render_roofline.print_estimates(rep, profile, estimates)
            return
        if fmt == "json":
            import json
            data = render.report_dict(rep, depth)
            data["roofline"] = render_roofline.estimates_dict(profile, estimates)
            emit(json.dumps(data, indent=2) + "\n", output)
            return
    if fmt in ("dot", "mermaid"):
        from cnncost.render import graph as render_graph
        emit(render_graph.to_dot(rep) if fmt == "dot" else render_graph.to_mermaid(rep), output)
    elif fmt == "table" and not output:
        render.print_table(rep, depth)
        if rewrite:
            render_compare.print_savings(savings, original, rep, rewrite)
    elif fmt == "json" and rewrite:
        import json
        data = render.report_dict(rep, depth)
        data["savings"] = render_compare.savings_dict(savings, original, rep, rewrite)
        emit(json.dumps(data, indent=2) + "\n", output)
    else:
        emit(render.render(rep, fmt, depth), output)


@cli.command(name="compare")
@click.argument("specs", nargs=-1, required=True)
@format_option(("table", "json", "csv", "markdown"))
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None)
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Chart mults and params per architecture (needs cnncost[plot]).")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), default=None,
              help="A device profile: adds roofline-estimated and executor-measured time.")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True,
              help="Forward passes per column when measuring time (with --profile).")
@analysis_options
def compare_cmd(specs, fmt, output, plot, profile_path, repeat, dtype, trainable_from, freeze_until,
                training, rewrite):
    """Architectures side by side, with ratios to the first. Variants: NAME@VAR=VALUE,...
    (also batch, dtype, trainable_from, freeze_until, rewrite per column)."""
    from cnncost.analyses import compare as cmp
    from cnncost.render import compare as render_compare
    if freeze_until:
        raise CnnCostError("compare takes per-column freeze_until in variants: NAME@freeze_until=LAYER")
    columns = cmp.compare(specs, training=training, dtype=dtype, rewrite=rewrite,
                          trainable_from=trainable_from, limits=limits())
    if profile_path:
        from cnncost.analyses import roofline
        cmp.add_time(columns, roofline.load_profile(profile_path), repeat=repeat)
    if plot:
        from cnncost.render import plot as plotting
        plotting.bars(plot, "compare", [c.label for c in columns],
                      {"mults": [c.values["mults"] for c in columns],
                       "params": [c.values["params"] for c in columns]})
    if fmt == "table" and not output:
        render_compare.print_compare(columns)
    else:
        emit(render_compare.compare_text(columns, fmt), output)


@cli.command(name="sweep")
@click.argument("spec")
@click.option("--set", "sets", multiple=True, required=True, metavar="NAME=V1,V2,...",
              help="A variable and its values (repeat for a grid).")
@click.option("--metric", type=click.Choice(["mults", "params", "flops", "activations",
                                             "peak_activation_bytes"]), default="mults", show_default=True)
@format_option(("table", "json", "csv"))
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes for large grids.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None)
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Chart the metric per cell (needs cnncost[plot]).")
def sweep_cmd(spec, sets, metric, fmt, jobs, output, plot):
    """The metric over a grid of variable values, e.g. MobileNet's width x resolution."""
    from cnncost.render import compare as render_compare
    from cnncost.analyses import sweep as swp
    lim = limits()
    cells = swp.check_grid(swp.parse_axes(sets)[1], lim)
    click.echo(f"sweeping {cells:,} cell(s) with {swp.workers(jobs, cells)} worker(s)", err=True)
    progress, tick = _progress(cells)
    if progress is not None:
        progress.start()
    try:
        grid = swp.sweep(spec, sets, jobs=jobs, on_cell=(lambda: tick(None)) if progress else None,
                         limits=lim)
    finally:
        if progress is not None:
            progress.stop()
    if plot:
        from cnncost.render import plot as plotting
        labels = [",".join(f"{n}={v}" for n, v in zip(grid.names, c)) for c in grid.cells]
        plotting.bars(plot, f"{grid.spec}: {metric}", labels, {metric: [v[metric] for v in grid.cells.values()]})
    if fmt == "table" and not output:
        render_compare.print_sweep(grid, metric)
    else:
        emit(render_compare.sweep_text(grid, metric, fmt), output)


@cli.command(name="explain")
@click.argument("target")
@click.argument("layer", required=False)
@click.option("--input", "input_shape", default=None, metavar="HxWxC", help="Calculator mode: input shape.")
@click.option("--filters", type=click.IntRange(min=1), default=None)
@click.option("--kernel", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--padding", default="valid", show_default=True, help="valid, same or an integer.")
@click.option("--separable", is_flag=True, help="Also derive the depthwise separable version.")
@click.option("--units", type=click.IntRange(min=1), default=None, help="For `explain dense`.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
def explain_cmd(target, layer, input_shape, filters, kernel, stride, padding, separable, units, sets):
    """Derivations step by step: `explain conv --input 6x6x3 --filters 5 --kernel 3 --separable`
    (calculator), or `explain resnet50 layer3.block2.conv2` (a layer of a network)."""
    from cnncost.analyses import explain
    if layer is not None:
        lines = explain.layer(target, layer, overrides=list(sets), limits=limits())
    else:
        if input_shape is None:
            raise CnnCostError("calculator mode needs --input HxWxC (or name a network and a layer)")
        lines = explain.calculator(target, input_shape, filters=filters, kernel=kernel, stride=stride,
                                   padding=padding, separable=separable, units=units)
    click.echo("\n".join(lines))


@cli.command(name="list")
def list_cmd():
    """List the bundled architectures."""
    from cnncost.spec import bundled_names, load_spec
    for name in bundled_names():
        spec = load_spec(name)
        click.echo(f"{name:32s} {spec.source}")


@cli.command()
def kinds():
    """List the layer kinds, their arguments and their FLOP conventions."""
    from cnncost.layers import ALIASES, KINDS
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
    from cnncost.analyses import check as checks
    from cnncost.spec import bundled_names

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
        write_output(junit, checks.junit_xml(results))
    if fmt == "json":
        import json
        click.echo(json.dumps(checks.results_dict(results), indent=2, default=str))
    else:
        render.print_checks(results)
    if any(r.error for r in results):
        sys.exit(2)
    sys.exit(0 if all(r.ok for r in results) else 1)


ENGINES = ("numpy", "onnxruntime")


def engine_option(help_text):
    return click.option("--engine", type=click.Choice(ENGINES), default="numpy", show_default=True,
                        help=help_text)


def _bytes_option(value, what):
    from cnncost.analyses.check import parse_quantity
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
@engine_option("Also run onnxruntime (needs the onnx extra) and compare every layer's output.")
@format_option(("table", "json"))
def verify_cmd(spec, batch, sets, seed, repeat, weights, max_memory, engine, fmt):
    """Run SPEC in the NumPy executor; compare every layer's shape and multiplications
    with the analysis (and, with --engine onnxruntime, every layer's values with
    onnxruntime's). Exit 1 on any difference or non-finite output."""
    from cnncost.runtime.verify import verify
    limit = _bytes_option(max_memory, "--max-memory")
    progress, tick = _progress(None)   # layers x repeats are known only after the analysis
    if progress is not None:
        progress.start()
    try:
        result = verify(spec, batch=batch, overrides=list(sets), seed=seed, repeat=repeat,
                        max_memory=limit, weights_path=weights, limits=limits(),
                        on_layer=tick if progress is not None else None,
                        engine=None if engine == "numpy" else engine)
    finally:
        if progress is not None:
            progress.stop()
    if fmt == "json":
        import json
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        render.print_verification(result)
    for line in result.failures():
        click.echo(f"FAIL: {escape_controls(line)}", err=True)
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
    from cnncost.runtime.executor import run_network
    from cnncost.files import save_array
    result = run_network(spec, input_path, weights_path=weights, seed=seed, overrides=list(sets),
                         max_memory=_bytes_option(max_memory, "--max-memory"), limits=limits())
    if not weights:
        click.echo(f"note: the weights are random (seed {seed}); pass --weights FILE.npz for trained ones",
                   err=True)
    if output_path:
        save_array(output_path, result.output)
    out = result.output
    click.echo(f"output {'x'.join(map(str, out.shape))} in {result.seconds * 1000:.1f} ms; "
               f"min {out.min():.6g}, max {out.max():.6g}, mean {out.mean():.6g}")
    if out.ndim == 2 and out.shape[1] > 1:
        top = out[0].argsort()[::-1][:5]
        click.echo("top-5 of example 0: " + ", ".join(f"{i} ({out[0, i]:.4g})" for i in top))
    for row in result.layers:
        if not row.ok:
            click.echo(f"FAIL: layer '{escape_controls(row.name)}': shape {row.executed_shape} vs {row.output_shape}, "
                       f"mults {row.executed_mults:,} vs {row.mults:,}", err=True)
    sys.exit(0 if result.ok else 1)


@cli.command(name="calibrate")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the profile YAML to FILE (default: print it).")
@engine_option("Measure through NumPy or through onnxruntime (MatMul and an element-wise op).")
def calibrate_cmd(output, engine):
    """Measure this machine (float32 matmul FLOP/s, copy bandwidth) as a device profile."""
    from cnncost.analyses import roofline
    if engine == "onnxruntime":
        from cnncost.runtime import onnxruntime_engine
        profile = onnxruntime_engine.calibrate()
    else:
        profile = roofline.calibrate()
    emit(roofline.profile_yaml(profile), output)


@cli.command(name="latency")
@click.argument("spec")
@click.option("--profile", "profile_path", type=click.Path(dir_okay=False), required=True,
              help="A device profile (cnncost calibrate).")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@engine_option("Who measures: our NumPy executor or onnxruntime's profiler (needs the onnx extra).")
@format_option(("table", "json"))
@click.option("--plot", type=click.Path(dir_okay=False), default=None,
              help="Roofline chart, one point per layer (needs cnncost[plot]).")
def latency_cmd(spec, profile_path, repeat, batch, sets, engine, fmt, plot):
    """Roofline-predicted vs measured time per layer, and their rank correlation."""
    from cnncost.render import roofline as render_roofline
    from cnncost.analyses import roofline
    result = roofline.latency(spec, roofline.load_profile(profile_path), repeat=repeat, batch=batch,
                              overrides=list(sets), limits=limits(), engine=engine)
    if plot:
        render_roofline.plot(plot, result.report, result.profile)
    if fmt == "json":
        import json
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        render_roofline.print_latency(result)


@cli.command(name="export")
@click.argument("spec")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="The .onnx file to write.")
@click.option("--weights", type=click.Path(dir_okay=False), default=None,
              help="An .npz of '<layer path>/<weight name>' arrays (default: the seeded weights of `run`).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)
@click.option("--batch", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--max-memory", default=None, metavar="BYTES")
def export_cmd(spec, output, weights, seed, sets, batch, max_memory):
    """Write SPEC as an ONNX model (opset 17, NCHW; needs the onnx extra)."""
    from cnncost.interop.onnx_export import export_spec
    facts = export_spec(spec, output, weights_path=weights, seed=seed, overrides=list(sets), batch=batch,
                        max_memory=_bytes_option(max_memory, "--max-memory"), limits=limits())
    click.echo(f"wrote {facts['path']}: {facts['nodes']} nodes, {facts['initializers']} weight tensors, "
               f"{facts['bytes'] / 1e6:.1f} MB, opset {facts['opset']}, input {facts['input']} (NCHW), "
               f"output {facts['output']}; onnx.checker passed (full check) in {facts['seconds']:.2f} s")


def main(argv=None):
    cli.main(args=argv, prog_name="cnncost")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
