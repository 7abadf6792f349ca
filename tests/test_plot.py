"""`--plot` pictures: what is drawn does not overlap (the figure's title over a panel's, on
the tall figure of a network of many layers)."""
import pytest

import cnncost

matplotlib = pytest.importorskip("matplotlib")


def drawn(monkeypatch, path, result):
    """Where the texts and panels of the figure `--plot` saves landed, measured as saved:
    (figure title, panel titles, panel frames), and the figure."""
    from matplotlib.figure import Figure
    from cnncost.render.plot import chart

    saved = []
    original = Figure.savefig

    def keep(fig, *args, **kw):
        original(fig, *args, **kw)
        saved.append((boxes(fig), fig))
    monkeypatch.setattr(Figure, "savefig", keep)
    chart(str(path), result)
    return saved[0]


def boxes(fig):
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)
    panels = [ax.title.get_window_extent(renderer) for ax in fig.axes if ax.get_title()]
    frames = [ax.get_window_extent(renderer) for ax in fig.axes]
    return title, panels, frames


@pytest.mark.parametrize("spec,depth", [("resnet50", None), ("resnet18", 1)])
def test_the_title_stands_above_every_panel(monkeypatch, tmp_path, spec, depth):
    (title, panels, frames), _ = drawn(monkeypatch, tmp_path / "p.png", cnncost.report(spec, depth=depth))
    assert panels, "each series' panel is named"
    for box in panels + frames:
        assert not title.overlaps(box), (title, box)
        assert title.y0 >= box.y1 - 0.5            # above it, not beside it


def test_one_series_is_named_once(monkeypatch, tmp_path):
    result = cnncost.sweep("resnet18", {"resolution": [128, 160]})
    _, fig = drawn(monkeypatch, tmp_path / "s.png", result)
    assert [ax.get_title() for ax in fig.axes] == [""] and "mults" in fig._suptitle.get_text()
