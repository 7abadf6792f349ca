"""Every error class: one line with file:line:col, the layer, expected vs received; exit 2."""
import pytest
from click.testing import CliRunner

from cnncost.cli import cli

CASES = [
    ("bad_yaml", "input: [4, 4\nlayers: []\n", "bad.yaml:2:7: invalid YAML"),
    ("duplicate_key", "input: [4, 4, 1]\ninput: [2, 2, 1]\nlayers: [{kind: relu}]\n",
     "bad.yaml:2:1: duplicate key 'input' (first defined at line 1)"),
    ("python_tag", "input: !!python/object/apply:os.system ['true']\nlayers: [{kind: relu}]\n",
     "YAML tags are not allowed"),
    ("unknown_kind", "input: [4, 4, 1]\nlayers:\n  - {name: c, kind: convolution2d}\n",
     "bad.yaml:3:15: layer 'c': unknown layer kind 'convolution2d'"),
    ("unknown_arg", "input: [4, 4, 1]\nlayers:\n  - {name: c, kind: conv, filters: 2, kernel: 1, stirde: 2}\n",
     "bad.yaml:3:50: layer 'c' (conv): unknown argument `stirde` for kind 'conv'"),
    ("missing_input", "input: [4, 4, 1]\nlayers:\n  - {name: a, kind: add, inputs: [input, nowhere]}\n",
     "bad.yaml:3:26: layer 'a': unknown input 'nowhere'"),
    ("cycle_self", "input: [4, 4, 1]\nlayers:\n  - {name: a, kind: add, inputs: [input, a]}\n",
     "input 'a' is the layer itself or one defined after it: a cycle"),
    ("cycle_forward", "input: [4, 4, 1]\nlayers:\n  - {name: a, kind: add, inputs: [input, b]}\n  - {name: b, kind: relu}\n",
     "input 'b' is the layer itself or one defined after it"),
    ("add_mismatch", "input: [8, 8, 4]\nlayers:\n  - {name: p, kind: max_pool, kernel: 2}\n  - {name: s, kind: add, inputs: [p, input]}\n",
     "bad.yaml:4:5: layer 's' (add): input shapes differ: 4x4x4 vs 8x8x4"),
    ("concat_mismatch", "input: [8, 8, 4]\nlayers:\n  - {name: p, kind: max_pool, kernel: 2}\n  - {name: s, kind: concat, inputs: [p, input]}\n",
     "layer 's' (concat): input shapes differ outside axis -1: 4x4x4 vs 8x8x4"),
    ("multiply_mismatch", "input: [8, 8, 4]\nlayers:\n  - {name: g, kind: global_avg_pool}\n  - {name: d, kind: dense, units: 3}\n  - {name: m, kind: multiply, inputs: [input, d]}\n",
     "layer 'm' (multiply): input shapes cannot be broadcast together: 8x8x4 vs 3"),
    ("kernel_too_large", "input: [4, 4, 1]\nlayers:\n  - {name: c, kind: conv, filters: 1, kernel: 5}\n",
     "layer 'c' (conv): kernel 5 (dilated span 5) is larger than the padded input height 4"),
    ("kernel_3d_too_deep", "input: [4, 8, 8, 3]\nlayers:\n  - {name: c, kind: conv3d, filters: 4, kernel: [5, 3, 3]}\n",
     "bad.yaml:3:5: layer 'c' (conv3d): kernel 5 (dilated span 5) is larger than the padded input depth 4"),
    ("kernel_1d_too_long", "input: [6, 2]\nlayers:\n  - {name: c, kind: conv, filters: 1, kernel: 4, dilation: 2}\n",
     "layer 'c' (conv): kernel 4 (dilated span 7) is larger than the padded input length 6"),
    ("groups", "input: [4, 4, 3]\nlayers:\n  - {name: c, kind: conv, filters: 4, kernel: 1, groups: 2}\n",
     "groups=2 must divide both input channels (3) and filters (4)"),
    ("non_positive", "input: [4, 4, 3]\nlayers:\n  - {name: c, kind: conv, filters: -3, kernel: 1}\n",
     "bad.yaml:3:27: layer 'c' (conv): Invalid value for argument `filters`. Expected an integer >= 1. Received filters=-3."),
    ("bad_input_shape", "input: [0, 4, 3]\nlayers: [{kind: relu}]\n", "`input` sizes must be positive integers"),
    ("unknown_block", "input: [4, 4, 3]\nlayers:\n  - {name: b, use: resblock}\n", "unknown block 'resblock'"),
    ("block_param", "input: [4, 4, 3]\nlayers:\n  - {name: b, use: se_block, ration: 4}\n",
     "bad.yaml:3:30: block 'se_block' has no parameter 'ration'"),
    ("self_using_block", "input: [4, 4, 3]\nblocks:\n  loop: {layers: [{name: again, use: loop}]}\nlayers:\n  - {use: loop}\n",
     "block 'loop' uses itself"),
    ("bad_expression", "input: [4, 4, 3]\nlayers:\n  - {name: c, kind: conv, filters: \"__import__('os')\", kernel: 1}\n",
     "unknown function '__import__'"),
    ("attribute_expression", "input: [4, 4, 3]\nlayers:\n  - {name: c, kind: conv, filters: \"(1).real\", kernel: 1}\n",
     "is not allowed in expressions"),
    ("huge_repeat", "input: [4, 4, 3]\nlayers:\n  - {kind: relu, repeat: 1000000000}\n",
     "repeat 1,000,000,000 exceeds the limit of 10,000"),
    ("duplicate_name", "input: [4, 4, 3]\nlayers:\n  - {name: a, kind: relu}\n  - {name: a, kind: relu}\n",
     "bad.yaml:4:6: duplicate layer name 'a'"),
    ("not_mapping", "- 1\n- 2\n", "a spec must be a YAML mapping"),
    ("unknown_top_key", "input: [4, 4, 3]\nlayer: []\nlayers: [{kind: relu}]\n", "unknown top-level key 'layer'"),
    ("binary", b"\xff\xfe\x00garbage", "not UTF-8"),
    # found by the fuzzer: a multi-line PyYAML reader message, and an infinite expectation
    ("control_char", "input: [4, 4, 1]\nlayers: [{kind: relu}] \x07\n",
     "bad.yaml:2:24: invalid YAML: control characters are not allowed (character #x0007)"),
    ("alias_bomb", "a: &a [1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
     "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\ninput: [4, 4, 1]\nvars: {v: *c}\nlayers: [{kind: relu}]\n",
     "unknown top-level key 'a'"),
    ("bomb_in_vars", "vars: {v: [[1, 2], [3, 4]]}\ninput: [4, 4, 1]\nlayers: [{kind: relu}]\n",
     "lists here hold at most 64 plain values"),
    ("huge_dim", "input: [4, 4, 1]\nlayers:\n  - {name: p, kind: adaptive_avg_pool, output_size: 100000000000}\n",
     "Expected an integer of at most 2,147,483,647. Received output_size=100000000000."),
    ("slash_name", "input: [4, 4, 1]\nlayers:\n  - {name: a/b, kind: relu}\n", "invalid layer name 'a/b'"),
]


@pytest.mark.parametrize("label,text,message", CASES, ids=[c[0] for c in CASES])
def test_error_one_line_exit_2(tmp_path, monkeypatch, label, text, message):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = CliRunner().invoke(cli, ["report", "bad.yaml", "--format", "json"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1


def test_bad_set_and_bad_name_exit_2():
    runner = CliRunner()
    r = runner.invoke(cli, ["report", "resnet18", "--set", "nonsense"])
    assert r.exit_code == 2 and "bad --set 'nonsense': expected NAME=VALUE" in r.output
    r = runner.invoke(cli, ["report", "resnet18", "--set", "depth=3"])
    assert r.exit_code == 2 and "no variable 'depth'" in r.output
    r = runner.invoke(cli, ["report", "no_such_net"])
    assert r.exit_code == 2 and "neither a spec file nor a bundled architecture" in r.output
    r = runner.invoke(cli, ["report", "missing.yaml"])
    assert r.exit_code == 2 and "spec missing.yaml: no such file" in r.output


def test_debug_shows_the_traceback(tmp_path):
    (tmp_path / "bad.yaml").write_text("input: [4, 4, 1]\nlayers: [{kind: nope}]\n")
    r = CliRunner().invoke(cli, ["--debug", "report", str(tmp_path / "bad.yaml")])
    assert r.exit_code != 0 and r.exception is not None


def test_messages_stay_on_one_line_with_newlines_in_expressions(tmp_path):
    """Found by the long fuzz run: an expression spanning lines made a two-line message."""
    (tmp_path / "bad.yaml").write_text('input: [4, 4, 1]\nlayers:\n  - {kind: conv, filters: "1 +\n\n (", kernel: 1}\n')
    r = CliRunner().invoke(cli, ["report", str(tmp_path / "bad.yaml")])
    assert r.exit_code == 2 and r.output.count("\n") == 1 and "invalid expression" in r.output


def test_tensor_dimension_limit():
    r = CliRunner().invoke(cli, ["--limit", "max_dim=100", "report", "resnet18"])
    assert r.exit_code == 2 and "`input` size 224 is above the limit of 100" in r.output
    r = CliRunner().invoke(cli, ["--limit", "max_dim=4000", "report", "fnn_example"])
    assert r.exit_code == 2 and "layer 'flatten' (flatten): output shape 10000 has a dimension above" in r.output
