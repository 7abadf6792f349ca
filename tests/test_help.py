"""What a new user reads first: `cnncost --help` names every kind of SPEC the commands take,
and the README's set-up says where its commands run and what the test suite costs."""
import re
from pathlib import Path

from click.testing import CliRunner

from cnncost.cli import cli
from cnncost.interop.formats import BY_SUFFIX as FORMATS

README = Path(__file__).resolve().parent.parent / "README.md"


def test_help_names_every_model_file_and_a_factory():
    text = " ".join(CliRunner().invoke(cli, ["--help"]).output.split())
    for suffix in FORMATS:                       # every file suffix a SPEC may have
        assert suffix in text, suffix
    assert "ONNX" in text and "Keras" in text and "TFLite" in text
    assert "module:factory" in text and "--input-shape" in text    # a factory needs its input shape
    assert "bundled name" in text


def test_readme_set_up_says_where_to_run_and_how_long_the_suite_takes():
    setup = README.read_text().split("## Set up", 1)[1].split("\n## ", 1)[0]
    first_command = setup.index("pip install .")
    assert re.search(r"`cd \w+", setup[:first_command])              # how to get into the checkout
    assert "pyproject.toml" in setup[:first_command]
    assert re.search(r"about \d+ minutes on two cores", setup)
