"""Numbers and names as people read them: an integer echoed as written, SI prefixes past T
and never a mantissa of 1000, the name a user probably meant (an enumerated value, a
bundled architecture) and the sweep API's own words."""
import pytest
from click.testing import CliRunner

import cnncost
from cnncost.cli import cli
from cnncost.errors import SpecError, closest
from cnncost.render.report import si


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def spec(tmp_path, layer, name="s"):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\ninput: [8, 8, 3]\nlayers:\n  - {layer}\n")
    return path


@pytest.mark.parametrize("n, text", [
    (0, "0"), (999, "999"), (1000, "1k"), (100_000, "100k"), (120_000, "120k"), (999_499, "999k"),
    (999_500, "1M"), (999_999_999, "1G"), (4_089_184_256, "4.09G"), (1.1e15, "1.1P"),
    (1_226_755_276_800_000, "1.23P"), (2.47e18, "2.47E"), (10**21, "1Z"), (10**24, "1Y"), (-1.5e15, "-1.5P"),
])
def test_si_prefixes_go_past_tera_and_never_print_a_mantissa_of_1000(n, text):
    assert si(n) == text


def test_a_peta_total_reads_as_peta():
    out = run("report", "resnet50", "--batch", 300_000).output
    assert "mults (MACs) 1,226,755,276,800,000 (1.23P)" in out and "flops 2,465,229,458,400,000 (2.47P)" in out
    assert "e+03" not in out


def test_an_integer_argument_is_echoed_as_written(tmp_path):
    r = run("report", spec(tmp_path, "{name: c, kind: conv, filters: 100000000000000000000, kernel: 1}"))
    assert r.exit_code == 2 and "Received filters=100000000000000000000." in r.output, r.output
    assert "1e+20" not in r.output
    # a float stays the float it was; an integer too long for a message says how long it is
    r = run("report", spec(tmp_path, "{name: c, kind: conv, filters: 1.0e+20, kernel: 1}"))
    assert "Received filters=1e+20." in r.output, r.output
    r = run("report", spec(tmp_path, "{name: c, kind: conv, filters: " + "9" * 60 + ", kernel: 1}"))
    assert "Received filters=an integer of 60 digits." in r.output, r.output
    r = run("report", spec(tmp_path, "{name: c, kind: conv, filters: -" + "9" * 60 + ", kernel: 1}"))
    assert "Expected an integer >= 1. Received filters=a negative integer of 60 digits." in r.output


@pytest.mark.parametrize("layer, hint", [
    ("{name: c, kind: conv, filters: 4, kernel: 3, padding: smae}", "Received padding='smae'. Did you mean same?"),
    ("{name: p, kind: max_pool, kernel: 2, padding: vaild}", "Received padding='vaild'. Did you mean valid?"),
    ("{name: p, kind: max_pool, kernel: 2, padding: SAME}", "Received padding='SAME'. Did you mean same?"),
    ("{name: a, kind: activation, fn: rleu}", "Received fn='rleu'. Did you mean relu?"),
    ("{name: u, kind: upsample, scale: 2, mode: bilnear}", "Received mode='bilnear'. Did you mean bilinear?"),
])
def test_an_enumerated_value_says_what_was_probably_meant(tmp_path, layer, hint):
    r = run("report", spec(tmp_path, layer))
    assert r.exit_code == 2 and hint in r.output, r.output


def test_a_word_like_none_of_them_gets_no_guess(tmp_path):
    r = run("report", spec(tmp_path, "{name: c, kind: conv, filters: 4, kernel: 3, padding: zzzzzz}"))
    assert r.exit_code == 2 and "Received padding='zzzzzz'." in r.output and "Did you mean" not in r.output


def test_the_calculator_s_padding_says_it_too():
    r = run("explain", "conv", "--input", "8x8x3", "--filters", 4, "--padding", "smae")
    assert r.exit_code == 2 and "Did you mean same?" in r.output, r.output


@pytest.mark.parametrize("name, meant", [("Resnet18", "resnet18"), ("RESNET50", "resnet50"),
                                         ("mobilenetv2", "mobilenet_v2"), ("resnt18", "resnet18")])
def test_a_bundled_name_mistyped_says_which_one(name, meant):
    r = run("report", name)
    assert r.exit_code == 2 and f"(did you mean '{meant}'?)" in r.output, r.output
    assert "bundled: alexnet" in r.output          # the list stays


def test_one_helper_prefers_a_name_in_another_case():
    assert closest("Resnet18", ["resnet18", "resnet180"]) == "resnet18"
    assert closest("smae", ("valid", "same")) == "same"
    assert closest("zzzz", ("valid", "same")) is None


def test_the_sweep_api_takes_a_mapping_and_speaks_of_it():
    by_map = cnncost.sweep("mobilenet_v1", {"resolution": [128, 160], "alpha": 0.5}).grid
    by_text = cnncost.sweep("mobilenet_v1", ["resolution=128,160", "alpha=0.5"]).grid
    assert by_map.cells == by_text.cells and by_map.names == ["resolution", "alpha"]
    for bad, needle in (({"resolution": []}, "sweep axis 'resolution': no values"),
                        ({"2x": [1]}, "sweep axis '2x': a variable name"),
                        ({}, "sweep needs at least one axis")):
        with pytest.raises(SpecError) as err:
            cnncost.sweep("mobilenet_v1", bad)
        assert needle in str(err.value) and "--set" not in str(err.value), str(err.value)


def test_the_sweep_command_still_speaks_of_set():
    r = run("sweep", "mobilenet_v1", "--set", "resolution")
    assert r.exit_code == 2 and "bad --set 'resolution': expected NAME=V1,V2,..." in r.output


def test_a_mistyped_key_says_which_one(tmp_path):
    path = tmp_path / "k.yaml"
    path.write_text("name: k\ninptu: [8, 8, 3]\nlayers: [{kind: relu}]\n")
    r = run("report", path)
    assert r.exit_code == 2 and "unknown top-level key 'inptu' (did you mean 'input'?)" in r.output, r.output
    path.write_text("name: k\ninput: [8, 8, 3]\nblocks:\n  b: {layer: [{kind: relu}]}\nlayers: [{use: b}]\n")
    r = run("report", path)
    assert r.exit_code == 2 and "unknown key 'layer' in block 'b' (did you mean 'layers'?)" in r.output, r.output


def test_a_module_s_sweep_refuses_a_mapping_in_its_words():
    from cnncost.analyses.sweep import sweep_shapes

    def never(shape):
        raise AssertionError("refused before any cell")

    with pytest.raises(SpecError, match=r"sweep axis 'resolution': positive integers, received \[0\]"):
        sweep_shapes("m", never, (1, 3, 32, 32), {"resolution": [0]})
    with pytest.raises(SpecError, match=r"--set resolution: positive integers"):
        sweep_shapes("m", never, (1, 3, 32, 32), ["resolution=0"])
