"""The command line: options -> cnncost.api -> cnncost.render -> exit code. Nothing is
computed here; everything printed is available from the Python API."""
from __future__ import annotations

import gc
import os
import sys

# What the command line imports lives to the end of the process: no collector pass while it
# is being allocated (main() then freezes it out of every later pass).
_COLLECTING = gc.isenabled()
gc.disable()

import click  # noqa: E402

from cnncost import __version__  # noqa: E402
from cnncost.analyses.sweep_metrics import METRICS as SWEEP_METRICS  # noqa: E402
from cnncost.errors import CnnCostError, escape_controls  # noqa: E402
from cnncost.cli_terminal import Group, terminal_width, warnings_on_stderr, with_progress  # noqa: E402
from cnncost.lazy import OnUse  # noqa: E402

api = OnUse("cnncost.api")
plots = OnUse("cnncost.render.plot")


def render(*args, **kw):
    from cnncost.render import render as draw
    return draw(*args, **kw)


def write_output(path, data):
    from cnncost.files import write_output as write
    write(path, data)

# one path type for every file option: each click.Path asks gettext for its name, a search
# of the locale folders on disk (22 of them were 1 ms of every start-up)
FILE = click.Path(dir_okay=False)
SET_HELP = "Override a spec variable: NAME=VALUE (repeatable)."
BATCH_HELP = "Examples per forward pass [default: 1, or the N an ONNX model or --input-shape fixes]."


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show a traceback on errors.")
@click.option("--allow-code", is_flag=True,
              help="Read a SPEC written module:factory (torchvision.models:resnet50, timm:NAME) by importing "
                   "that module and calling the factory: this runs its code. Off unless given.")
@click.option("--limit", "limit_pairs", multiple=True, metavar="NAME=VALUE",
              help="Raise a safety limit, e.g. --limit max_layers=1000000 (see docs/spec.md).")
@click.option("--input-shape", default=None, metavar="NxCxHxW",
              help="A model file's input shape, in its own layout (ONNX N x C x H x W, Keras N x H x W x C): "
                   "N is the batch; fixes dynamic dimensions (a static size it changes is said on stderr). "
                   "Several inputs: NAME=NxCxHxW,NAME2=...")
@click.version_option(version=__version__, prog_name="cnncost")
@click.pass_context
def cli(ctx, debug, allow_code, limit_pairs, input_shape):
    """cnncost: what a convolutional network costs (params, MACs, FLOPs, activations).

    A SPEC is a YAML spec or a bundled name (`cnncost list`), or a model: ONNX (.onnx),
    Keras (.keras, legacy .h5 or .hdf5, a model.to_json() .json), TFLite (.tflite: float32, float16,
    int8), NCNN (.param, its .bin beside; --input-shape NxCxHxW), OpenVINO IR (.xml with its .bin), Core ML (.mlpackage, .mlmodel), torch.export (.pt2), Caffe (.prototxt, its .caffemodel beside), or, with --allow-code, a PyTorch factory `module:factory` (torchvision.models:resnet50,
    timm:NAME; needs torch, imports and runs that code; give --input-shape)."""
    ctx.obj = {"debug": debug, "limit_pairs": limit_pairs, "allow_code": allow_code, "input_shape": input_shape}
    ctx.with_resource(warnings_on_stderr())


def allow_code() -> bool:
    """Whether this invocation was asked to run a module:factory SPEC's code (--allow-code)."""
    return bool(click.get_current_context().find_root().obj["allow_code"])


def model_shape() -> str | None:
    """--input-shape of this invocation: handed to every command that reads a SPEC."""
    return click.get_current_context().find_root().obj["input_shape"]


def limits():
    """The --limit settings of this invocation (parsed inside the command so that a bad
    value is reported like any other user error)."""
    from cnncost.spec.limits import parse_limits
    return parse_limits(click.get_current_context().find_root().obj["limit_pairs"])


def show(result, fmt: str = "table", output: str | None = None) -> None:
    """Render to FILE or stdout; a table on a terminal keeps its styles and width."""
    if output:
        write_output(output, render(result, fmt))
        return
    from cnncost.render import encodable

    terminal = fmt == "table" and sys.stdout.isatty()
    width = terminal_width() if terminal else None
    click.echo(encodable(render(result, fmt, terminal=terminal, width=width)), nl=False)


def format_option(choices):
    return click.option("--format", "fmt", type=click.Choice(choices), default=choices[0],
                        show_default=True, help="Output format.")


def output_option(f):
    return click.option("--output", "-o", type=FILE, default=None,
                        help="Write to FILE instead of stdout (atomically for a regular file).")(f)


def plot_option(what):
    return click.option("--plot", type=FILE, default=None,
                        help=f"Chart {what} to FILE.svg|png (needs the plot extra).")


def set_option(f):
    return click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help=SET_HELP)(f)


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


ENGINES = ("numpy", "onnxruntime")


def engine_option(help_text):
    return click.option("--engine", type=click.Choice(ENGINES), default="numpy", show_default=True,
                        help=help_text)


def run_options(seeded: str):
    """What running a network takes: weights, their seed (`seeded`: what it seeds), the
    memory guard's limit."""
    def add(f):
        f = click.option("--max-memory", default=None, metavar="BYTES",
                         help="Refuse to run above this estimate (e.g. 4G); default half of what can be "
                              "allocated.")(f)
        f = click.option("--seed", type=int, default=0, show_default=True, help=f"Seed of {seeded}.")(f)
        return click.option("--weights", type=FILE, default=None,
                            help="An .npz of '<layer path>/<weight name>' arrays. Default: a model file (ONNX, Keras, TFLite) "
                                 "file's own weights; a YAML spec's seeded random ones.")(f)
    return add


@cli.command()
@click.argument("spec")
@click.option("--depth", type=click.IntRange(min=1), default=None,
              help="Group rows by the first N parts of their dotted names.")
@click.option("--batch", type=click.IntRange(min=1), default=None, help=BATCH_HELP)
@set_option
@format_option(("table", "json", "csv", "markdown", "dot", "mermaid", "html"))
@output_option
@plot_option("mults and params per layer")
@click.option("--profile", default=None, type=FILE,
              help="A device profile (cnncost calibrate): adds roofline time estimates.")
@click.option("--totals", is_flag=True, help="CSV: append a TOTAL row after the layer rows.")
@click.option("--by-kind", is_flag=True,
              help="Sum the rows by kind of layer and of multiplication (depthwise vs pointwise vs dense).")
@analysis_options
def report(spec, depth, batch, sets, fmt, output, plot, profile, totals, by_kind, dtype, trainable_from,
           freeze_until, training, rewrite):
    """Per-layer cost report of SPEC (a YAML file or a bundled name)."""
    result = api.report(spec, allow_code=allow_code(), input_shape=model_shape(), batch=batch, overrides=list(sets), depth=depth, dtype=dtype,
                        trainable_from=trainable_from, freeze_until=freeze_until, training=training,
                        rewrite=rewrite, profile=profile, totals_row=totals, by_kind=by_kind, limits=limits())
    if plot:
        plots.chart(plot, result)
    show(result, fmt, output)


@cli.command(name="compare")
@click.argument("specs", nargs=-1, required=True)
@format_option(("table", "json", "csv", "markdown", "html"))
@output_option
@plot_option("mults and params per architecture")
@click.option("--profile", default=None, type=FILE,
              help="A device profile: adds roofline-estimated and executor-measured time.")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True,
              help="Forward passes per column when measuring time (with --profile).")
@analysis_options
def compare_cmd(specs, fmt, output, plot, profile, repeat, dtype, trainable_from, freeze_until,
                training, rewrite):
    """Architectures side by side, with ratios to the first. Variants: NAME@VAR=VALUE,...
    (also batch, dtype, trainable_from, freeze_until, rewrite per column)."""
    if freeze_until:
        raise CnnCostError("compare takes per-column freeze_until in variants: NAME@freeze_until=LAYER")
    result = api.compare(specs, allow_code=allow_code(), input_shape=model_shape(), training=training, dtype=dtype, rewrite=rewrite,
                         trainable_from=trainable_from, profile=profile, repeat=repeat, limits=limits())
    if plot:
        plots.chart(plot, result)
    show(result, fmt, output)


@cli.command(name="formula")
@click.argument("spec")
@set_option
@click.option("--at", "at", default=None, metavar="NAME=V,...",
              help="Evaluate at these sizes (e.g. resolution=512,N=4); the others at their defaults.")
@format_option(("table", "json"))
@output_option
def formula_cmd(spec, sets, at, fmt, output):
    """Every count as an exact expression of the input's free sizes and N, the batch: a
    spec's input variables ($resolution) or a model file's H, W (T; D, H, W) at
    --input-shape. Checked equal to reports counted at other sizes; where it holds is said."""
    result = api.formula(spec, allow_code=allow_code(), input_shape=model_shape(), overrides=list(sets),
                         limits=limits())
    if at:
        result = result.evaluated_at(result.parse_at(at))
    show(result, fmt, output)


@cli.command(name="sweep")
@click.argument("spec")
@click.option("--set", "sets", multiple=True, required=True, metavar="NAME=V1,V2,...",
              help="A variable and its values (repeat for a grid).")
@click.option("--metric", type=click.Choice(SWEEP_METRICS), default="mults", show_default=True)
@format_option(("table", "json", "csv"))
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes for large grids (at most cells - 1 and the CPUs).")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="Count the cells on a Dask distributed scheduler (tcp://host:8786; extra `dask`).")
@output_option
@plot_option("the metric per cell")
def sweep_cmd(spec, sets, metric, fmt, jobs, scheduler, output, plot):
    """The metric over a grid of variable values, e.g. MobileNet's width x resolution."""
    lim = limits()
    cells, workers = api.sweep_cells(sets, jobs, lim)
    click.echo(f"sweeping {cells:,} cell(s) with {workers} worker(s)", err=True)
    result = with_progress(cells, lambda tick: api.sweep(spec, sets, allow_code=allow_code(), input_shape=model_shape(), metric=metric, jobs=jobs,
                                                         on_cell=tick, limits=lim, scheduler=scheduler))
    if plot:
        plots.chart(plot, result)
    show(result, "table" if fmt == "table" else fmt, output)


@cli.command(name="explain")
@click.argument("target")
@click.argument("layer", required=False)
@click.option("--input", "input_shape", default=None, metavar="HxWxC", help="Calculator mode: input shape.")
@click.option("--filters", type=click.IntRange(min=1), default=None)
@click.option("--kernel", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--stride", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--padding", default="valid", show_default=True, help="valid, same or an integer.")
@click.option("--separable", is_flag=True, help="Also derive the depthwise separable version.")
@click.option("--bottleneck", type=click.IntRange(min=1), default=None, metavar="R",
              help="Also derive the version with a 1x1 convolution to C_in/R channels first.")
@click.option("--units", type=click.IntRange(min=1), default=None, help="For `explain dense`.")
@click.option("--bias/--no-bias", default=True, show_default=True,
              help="Calculator mode: a bias per output, as a spec's layers have by default.")
@set_option
def explain_cmd(target, layer, input_shape, filters, kernel, stride, padding, separable, bottleneck, units, bias,
                sets):
    """Derivations step by step: `explain conv --input 6x6x3 --filters 5 --kernel 3 --separable`
    (calculator), `explain resnet50 layer3.block2.conv2` (a layer of a network) or
    `explain mobilenet_v2 stage2.block1` (a block, summed)."""
    show(api.explain(target, layer, allow_code=allow_code(), model_shape=model_shape(), input_shape=input_shape, filters=filters,
                     kernel=kernel, stride=stride, padding=padding, separable=separable, units=units,
                     bottleneck=bottleneck, bias=bias, overrides=list(sets), limits=limits()))


@cli.command(name="list")
@format_option(("table", "json", "markdown"))
def list_cmd(fmt):
    """List the bundled architectures."""
    show(api.bundled(), fmt)


@cli.command()
@click.argument("kind", required=False)
@format_option(("table", "json", "markdown"))
def kinds(kind, fmt):
    """List the layer kinds (or one KIND): arguments with defaults, multiplication and FLOP rules."""
    show(api.kinds(kind), fmt)


@cli.command()
@click.argument("specs", nargs=-1)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help=SET_HELP + " Expectations are skipped for overridden specs.")
@click.option("--max-params", default=None, metavar="N", help="Budget, e.g. 5M.")
@click.option("--max-mults", default=None, metavar="N", help="Budget, e.g. 600M.")
@click.option("--max-flops", default=None, metavar="N", help="Budget, e.g. 4.1G.")
@click.option("--max-activations", default=None, metavar="N", help="Budget on activation elements.")
@click.option("--max-weight-bytes", default=None, metavar="BYTES",
              help="Budget on the weights' bytes (as stored, for a model file's own dtypes), e.g. 1MB.")
@click.option("--max-peak-bytes", default=None, metavar="BYTES",
              help="Budget on the peak live activation memory in bytes, e.g. 256KB.")
@click.option("--baseline", default=None, metavar="FILE",
              help="A `report --format json` file to compare against (made at the --batch and --dtype given here).")
@click.option("--max-increase", multiple=True, metavar="[METRIC=]TOL",
              help="Allowed growth over the baseline: 5% or 1M for every metric, mults=5% for one "
                   "(repeatable; params, mults, flops, activations). Only named ones: only those metrics are "
                   "gated. None: no metric may grow.")
@click.option("--batch", type=click.IntRange(min=1), default=None,
              help=BATCH_HELP[:-1] + " Budgets and the baseline are compared at it; expect: blocks at their own.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "int8"]), default="float32", show_default=True,
              help="Element type of the byte budgets and of the baseline's setting.")
@click.option("--allow-different", is_flag=True,
              help="Compare with a baseline of another network, input, batch, dtype, vars or version "
                   "(the differences are printed).")
@click.option("--strict", is_flag=True, help="Fail expectations that --set made inapplicable.")
@click.option("--no-dead-layers", is_flag=True, help="Fail layers whose output nothing reads.")
@format_option(("table", "json"))
@click.option("--junit", default=None, metavar="FILE",
              help="Also write JUnit XML (one test case per architecture).")
def check(specs, sets, max_params, max_mults, max_flops, max_activations, max_weight_bytes, max_peak_bytes,
          baseline, max_increase, batch, dtype, allow_different, strict, no_dead_layers, fmt, junit):
    """Check `expect:` blocks, budgets and baselines. No SPECS: every bundled spec.

    Exit 0 when everything holds, 1 when a check fails, 2 when a spec is wrong or
    nothing was checked.
    """
    if junit and os.path.isdir(junit):              # said before the checks run, not after
        raise CnnCostError(f"cannot write {junit}: it is a folder")
    budgets = {"params": max_params, "mults": max_mults, "flops": max_flops, "activations": max_activations,
               "weight_bytes": max_weight_bytes, "peak_bytes": max_peak_bytes}
    result = api.check(specs, allow_code=allow_code(), input_shape=model_shape(), overrides=list(sets), budgets=budgets,
                       baseline=baseline, max_increase=list(max_increase), strict=strict, batch=batch, dtype=dtype,
                       no_dead_layers=no_dead_layers, allow_different=allow_different, limits=limits())
    if junit:
        write_output(junit, result.junit_xml())
    show(result, fmt)
    sys.exit(result.exit_code)


@cli.command(name="verify")
@click.argument("spec")
@click.option("--batch", type=click.IntRange(min=1), default=None, help=BATCH_HELP)
@set_option
@click.option("--repeat", type=click.IntRange(min=1), default=1, show_default=True,
              help="Forward passes; timings are medians.")
@run_options("the random input, and of random weights where the spec has none")
@engine_option("Also run onnxruntime (needs the onnx extra) and compare every layer's output.")
@format_option(("table", "json"))
def verify_cmd(spec, batch, sets, seed, repeat, weights, max_memory, engine, fmt):
    """Run SPEC in the NumPy executor; compare every layer's shape and multiplications
    with the analysis (and, with --engine onnxruntime, every layer's values with
    onnxruntime's). Exit 1 on any difference or non-finite output."""
    result = with_progress(None, lambda tick: api.verify(
        spec, batch=batch, overrides=list(sets), seed=seed, repeat=repeat, weights=weights,
        max_memory=max_memory, engine=engine, on_layer=tick, limits=limits(), allow_code=allow_code(), input_shape=model_shape()))
    show(result, fmt)
    for line in result.failures():
        click.echo(f"FAIL: {escape_controls(line)}", err=True)
    sys.exit(0 if result.ok else 1)


@cli.command(name="run")
@click.argument("spec")
@click.option("--input", "input_path", type=FILE, required=True,
              help="A .npy array, H x W x C or N x H x W x C (NHWC); for an ONNX model also its own "
                   "C x H x W or N x C x H x W.")
@run_options("random weights, where the spec has none (the input is --input)")
@set_option
@click.option("--output", "output_path", type=FILE, default=None,
              help="Save the network's output as .npy, or every output as .npz (by layer name).")
@format_option(("table", "json"))
def run_cmd(spec, input_path, weights, seed, sets, output_path, max_memory, fmt):
    """Run a real input through SPEC and print (or save) the output."""
    result = api.run(spec, input_path, allow_code=allow_code(), input_shape=model_shape(), weights=weights, seed=seed, overrides=list(sets),
                     max_memory=max_memory, limits=limits())
    if result.weights_random:
        click.echo(f"note: the weights are random (seed {seed}); pass --weights FILE.npz for trained ones",
                   err=True)
    if result.input_layout == "NCHW":
        click.echo("note: the input was read as NCHW, the model's own layout", err=True)
    if output_path:
        api.save_output(result, output_path)
    show(result, fmt)
    for line in result.failures:
        click.echo(f"FAIL: {escape_controls(line)}", err=True)
    sys.exit(0 if result.ok else 1)


@cli.command(name="calibrate")
@output_option
@engine_option("Measure through NumPy or through onnxruntime (MatMul and an element-wise op).")
def calibrate_cmd(output, engine):
    """Measure this machine (float32 matmul FLOP/s, copy bandwidth) as a device profile."""
    show(api.calibrate(engine), "yaml", output)


@cli.command(name="latency")
@click.argument("spec")
@click.option("--profile", type=FILE, required=True,
              help="A device profile (cnncost calibrate).")
@click.option("--repeat", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--batch", type=click.IntRange(min=1), default=None, help=BATCH_HELP)
@set_option
@engine_option("Who measures: our NumPy executor or onnxruntime's profiler (needs the onnx extra).")
@format_option(("table", "json"))
@plot_option("a roofline, one point per layer,")
def latency_cmd(spec, profile, repeat, batch, sets, engine, fmt, plot):
    """Roofline-predicted vs measured time per layer, and their rank correlation."""
    result = api.latency(spec, profile, allow_code=allow_code(), input_shape=model_shape(), repeat=repeat, batch=batch, overrides=list(sets),
                         engine=engine, limits=limits())
    if plot:
        plots.chart(plot, result)
    show(result, fmt)


@cli.command(name="export")
@click.argument("spec")
@click.option("--output", "-o", type=FILE, required=True,
              help="The .onnx file to write.")
@run_options("random weights, where the spec has none")
@set_option
@click.option("--batch", type=click.IntRange(min=1), default=None, help=BATCH_HELP)
def export_cmd(spec, output, weights, seed, sets, batch, max_memory):
    """Write SPEC as an ONNX model (opset 17, NCHW; needs the onnx extra)."""
    show(api.export(spec, output, allow_code=allow_code(), input_shape=model_shape(), weights=weights, seed=seed, overrides=list(sets),
                    batch=batch, max_memory=max_memory, limits=limits()))


@cli.command(name="import")
@click.argument("model", type=FILE)
@click.option("--output", "-o", type=FILE, required=True, help="The spec (.yaml) to write.")
@click.option("--weights-out", type=FILE, default=None,
              help="Also write the weights as the .npz that `run --weights` reads.")
def import_cmd(model, output, weights_out):
    """Read a model file (ONNX, Keras, TFLite) or module as an editable spec, and its weights as the .npz
    `run --weights` reads (--input-shape fixes dynamic dimensions). Any command also takes
    the model file itself where it takes a SPEC."""
    show(api.import_model(model, output, allow_code=allow_code(), input_shape=model_shape(), weights_out=weights_out))


def main(argv=None):
    # One command is one short process: the modules and click's commands, allocated by now,
    # are never garbage; frozen, no collection walks them again (about 6 ms of a report)
    gc.freeze()
    cli.main(args=argv, prog_name="cnncost")


if _COLLECTING:
    gc.enable()


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
