"""The cache of parsed bundled specs: keyed on content, per version, JSON, never a changed answer."""
import hashlib
import os
import subprocess
import sys

import pytest

import cnncost
from cnncost.errors import CnnCostError
from cnncost.spec import cache, load_spec
from cnncost.spec.located import YList, YMap
from cnncost.spec.yamlload import load_yaml


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCOST_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("CNNCOST_NO_CACHE", raising=False)
    return tmp_path


def positions(value, path=""):
    """Every value of a document with where it stood: what errors are made of."""
    if isinstance(value, YMap):
        yield path, "map", value.loc
        for k, v in value.items():
            yield f"{path}.{k!r}", "key", value.loc_of(k)
            yield from positions(v, f"{path}.{k!r}")
    elif isinstance(value, YList):
        yield path, "list", value.loc
        for i, v in enumerate(value):
            yield from positions(v, f"{path}[{i}]")
    else:
        yield path, type(value).__name__, value


def entries(folder):
    return sorted(p.name for p in folder.rglob("*.json"))


def test_bundled_entry_is_named_by_the_yaml_digest_and_gives_the_same_document(folder):
    first = load_spec("resnet50")
    names = entries(folder)
    assert f"{first.digest}.json" in names
    from cnncost.spec.loader import _architectures
    with open(os.path.join(_architectures(), "resnet50.yaml"), "rb") as fh:
        text = fh.read()
    assert first.digest == hashlib.sha256(text).hexdigest()
    fresh = load_yaml(text, "resnet50.yaml")
    cached = cache.load(text, "resnet50.yaml", first.digest, 1 << 20)
    assert list(positions(cached)) == list(positions(fresh))
    assert cached == fresh


def test_reports_are_the_same_with_and_without_the_cache(folder, monkeypatch):
    for name in ("resnet152", "mobilenet_v2", "googlenet", "unet", "swin_t"):
        hit = cnncost.report(name).to_dict()             # the first call stores, this one may hit
        again = cnncost.report(name).to_dict()
        monkeypatch.setenv("CNNCOST_NO_CACHE", "1")
        off = cnncost.report(name).to_dict()
        monkeypatch.delenv("CNNCOST_NO_CACHE")
        assert hit == again == off


def test_an_error_points_at_the_same_line_from_the_cache(folder, monkeypatch):
    def message():
        with pytest.raises(CnnCostError) as exc:
            cnncost.report("mobilenet_v1", overrides={"alpha": -1})
        return str(exc.value)
    cnncost.report("mobilenet_v1")
    from_cache = message()
    monkeypatch.setenv("CNNCOST_NO_CACHE", "1")
    assert message() == from_cache
    assert "cnncost/blocks.yaml:12:34" in from_cache and "mobilenet_v1.yaml:11:19" in from_cache


def test_a_damaged_entry_is_a_miss_and_is_replaced(folder):
    spec = load_spec("vgg16")
    (entry,) = [p for p in folder.rglob(f"{spec.digest}.json")]
    for junk in (b"", b"{not json", b'["m", 1]', b'["m", 1, 1, "k"]', b'["m", 1, 1, [1], 1, 1, 0]'):
        entry.write_bytes(junk)
        assert cnncost.report("vgg16").totals["mults"] == 15470264320
    assert entry.read_bytes().startswith(b'["m",')


def test_off_writes_nothing_and_an_unwritable_folder_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNCOST_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("CNNCOST_NO_CACHE", "1")
    cnncost.report("alexnet")
    assert entries(tmp_path) == []
    monkeypatch.delenv("CNNCOST_NO_CACHE")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CNNCOST_CACHE_DIR", str(blocker))
    assert cnncost.report("alexnet").totals["params"] == 61100840


def test_another_version_never_reads_this_versions_entries(folder, monkeypatch):
    here = cache.folder()
    monkeypatch.setattr(cnncost, "__version__", "9.9.9")
    assert cache.folder() != here and "9.9.9" in cache.folder()


def test_values_json_cannot_carry_are_parsed_every_time(folder):
    text = b"input: [8, 8, 3]\nlayers:\n  - {name: c, conv, filters: 2, kernel: 1}\nwhen: 2024-01-01\n"
    digest = hashlib.sha256(text).hexdigest()
    doc = cache.load(text, "dated.yaml", digest, 1 << 20)
    assert str(doc["when"]) == "2024-01-01"
    assert entries(folder) == []                          # a date is not JSON: nothing stored
    odd = b"a: {1.5: x, null: y, true: [1, -0.5, .inf, 'z']}\n"
    digest = hashlib.sha256(odd).hexdigest()
    first = cache.load(odd, "odd.yaml", digest, 1 << 20)
    second = cache.load(odd, "odd.yaml", digest, 1 << 20)
    assert entries(folder) == [f"{digest}.json"]
    assert list(positions(first)) == list(positions(second))


def test_a_bundled_report_needs_no_yaml_once_cached(folder):
    code = ("import sys, cnncost; cnncost.report('resnet50'); "
            "print('yaml' in sys.modules)")
    env = {**os.environ, "CNNCOST_CACHE_DIR": str(folder)}
    outs = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
            for _ in range(2)]
    assert outs == ["True\n", "False\n"]               # parsed once, then read from the cache
