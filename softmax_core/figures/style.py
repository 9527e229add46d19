"""Layout shared by every figure: projector-sized text, no colours of our own."""

from __future__ import annotations

import math
import textwrap

import numpy as np
import plotly.graph_objects as go

FONT_SIZE = 16  # readable from the back of a lecture hall
LINE_HEIGHT = 1.3  # a line of text takes this many times its font size
TITLE_PAD = 8  # px between the top of the figure and its title
TITLE_CHARS = 34  # a title line that fits a phone's chart (about 350 px) at the title's size
# A legend at the figure's bottom edge, where it can neither cover a title nor be covered by one. Placed
# in the figure's (container) coordinates, plotly shrinks the plot until the x axis' tick labels and
# title fit above the legend, however many rows it wraps into on a phone.
LEGEND_BELOW = dict(orientation="h", yref="container", yanchor="bottom", y=0, xanchor="left", x=0)
PALETTE_SIZE = 10  # chartCategoricalColors in .streamlit/config.toml: the theme colours trace k with colour k % 10


def projector_fonts(fig: go.Figure) -> go.Figure:
    """Tick labels, axis titles, legend and notes at projector size, on every subplot.

    Streamlit's plotly theme sets its own (smaller) sizes on axes and legend, so the
    layout-wide font alone is not enough: sizes are set where the theme sets them.
    Sizes only: colours stay the theme's.
    """
    fig.update_xaxes(tickfont_size=FONT_SIZE - 1, title_font_size=FONT_SIZE)
    fig.update_yaxes(tickfont_size=FONT_SIZE - 1, title_font_size=FONT_SIZE)
    fig.update_layout(legend_font_size=FONT_SIZE - 1)
    for note in fig.layout.annotations:
        if note.font.size is None:
            note.font.size = FONT_SIZE - 1
    return fig


def projector_font_layout(layout: dict) -> dict:
    """:func:`projector_fonts` on a layout that is still a plain dict, before its figure is built.

    The same sizes on the same axes (``xaxis`` and ``yaxis`` always, and every other axis the layout
    names), the legend and the notes without a size; plotly's property updates cost 14 ms a figure,
    half of building one (docs/performance.md), and setting plain dicts costs nothing.
    """
    axes = {"xaxis", "yaxis", *(k for k in layout if k.startswith(("xaxis", "yaxis")))}
    for name in axes:
        axis = layout[name] = dict(layout.get(name) or {})
        axis["tickfont"] = {**(axis.get("tickfont") or {}), "size": FONT_SIZE - 1}
        title = axis.get("title") or {}
        title = {"text": title} if isinstance(title, str) else dict(title)
        title["font"] = {**(title.get("font") or {}), "size": FONT_SIZE}
        axis["title"] = title
    legend = layout["legend"] = dict(layout.get("legend") or {})
    legend["font"] = {**(legend.get("font") or {}), "size": FONT_SIZE - 1}
    notes = []
    for note in layout.get("annotations") or []:
        note = dict(note)
        if (note.get("font") or {}).get("size") is None:
            note["font"] = {**(note.get("font") or {}), "size": FONT_SIZE - 1}
        notes.append(note)
    if "annotations" in layout:
        layout["annotations"] = notes
    return layout


def wrap_title(text: str, width: int = TITLE_CHARS) -> str:
    """A long title broken into lines of at most ``width`` characters (plotly never wraps a title).

    A run label breaks between its " · " parts (never inside "10 ep"), other titles at spaces.
    Titles that already hold markup are left alone.
    """
    if len(text) <= width or "<" in text:
        return text
    if " · " not in text:
        return "<br>".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False))
    lines: list[str] = []
    for part in text.split(" · "):
        if lines and len(lines[-1]) + 3 + len(part) <= width:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "<br>".join(lines)


def apply_layout(fig: go.Figure, title: str | None = None, height: int = 380, **layout) -> go.Figure:
    """Set size, font and margins; leave colours to the Streamlit theme.

    A figure with a title (or subplot titles) gets its legend under the plot: a legend above it
    grows upwards as it wraps on a phone and runs into the title.
    """
    titled = bool(title) or bool(_notes_above(fig))
    fig.update_layout(
        title=dict(
            text=wrap_title(title),
            font=dict(size=FONT_SIZE + 2),
            yref="container",
            y=1,
            yanchor="top",
            pad=dict(t=TITLE_PAD),
        )
        if title
        else None,  # fmt: skip
        height=height,
        font=dict(size=FONT_SIZE),
        margin=dict(l=10, r=10, t=20, b=10),
        legend=LEGEND_BELOW if titled else dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
        hoverlabel=dict(font_size=FONT_SIZE),
        **layout,
    )
    return fit_top_margin(projector_fonts(fig))


def _lines(text: str | None) -> int:
    return 1 + (text or "").count("<br>")


def _size(font, fig: go.Figure) -> float:
    """A font's size, or the figure's (the theme's default) when it sets none."""
    if font is not None and font.size is not None:
        return float(font.size)
    return float(fig.layout.font.size or FONT_SIZE)


def _at_top_edge(fig: go.Figure, note) -> bool:
    """Whether a note's y is the top edge of the plot area: paper 1, or the top of a subplot that reaches it."""
    if note.y is None or note.y < 0.999:
        return False
    if note.yref == "paper":
        return True
    if note.yref and note.yref.endswith(" domain"):
        axis = fig.layout[note.yref.removesuffix(" domain").replace("y", "yaxis", 1)]
        return axis.domain is None or axis.domain[1] >= 0.999
    return False


def _notes_above(fig: go.Figure) -> list:
    """Annotations that stand on a plot area's upper edge (subplot titles, labels above a chart)."""
    return [note for note in fig.layout.annotations if note.yanchor == "bottom" and _at_top_edge(fig, note)]


def top_room(fig: go.Figure) -> float:
    """The top margin (px) that the title and the notes above the plot need at their font sizes.

    The title hangs from the top edge (``TITLE_PAD`` below it); subplot titles and other notes
    stand on the plot's upper edge. Both fit without overlap when the margin holds them stacked.
    """
    title = fig.layout.title
    title_room = TITLE_PAD + _lines(title.text) * _size(title.font, fig) * LINE_HEIGHT if title.text else 0.0
    notes = [_lines(n.text) * _size(n.font, fig) * LINE_HEIGHT + (n.yshift or 0) for n in _notes_above(fig)]
    return title_room + max(notes, default=0.0) + 6


def fit_top_margin(fig: go.Figure) -> go.Figure:
    """Grow the top margin to :func:`top_room`, so no title is cut at the figure's top edge.

    Plotly raises a title of several lines by about one line when it is anchored at its top (in Chromium
    the first line then starts above the figure, docs/layout.md), so such a title's pad gives that line back.
    """
    title = fig.layout.title
    if title.text and title.yanchor == "top":
        extra = _size(title.font, fig) if _lines(title.text) > 1 else 0.0
        fig.update_layout(title_pad_t=round(TITLE_PAD + extra, 1))
    needed = math.ceil(top_room(fig))
    if (fig.layout.margin.t or 0) < needed:
        fig.update_layout(margin_t=needed)
    return fig


def as_heatmap_values(values) -> np.ndarray:
    """A picture's values as a float32 array: the model's own precision, sent as binary (plotly's typed array).

    A nested list of floats is walked value by value each time the figure is serialised, and a
    ten-template figure was then the costliest thing a class's page load did (docs/performance.md); as binary
    it is also about half the bytes of the same numbers written out in decimals.
    """
    return np.ascontiguousarray(np.asarray(values, dtype=np.float32))


def padding_trace() -> dict:
    """An empty trace: it draws nothing, shows in no legend, and only uses up one colour of the theme."""
    return dict(type="scatter", x=[], y=[], showlegend=False, hoverinfo="skip", name="")


def in_colour_slot(traces: list[dict], slot: int) -> list[dict]:
    """Traces that all take the theme's colour number ``slot``, still without a colour of our own.

    The theme colours trace k with its colour ``k % PALETTE_SIZE``, so each trace is put
    at an index congruent to ``slot`` and empty traces fill the gaps. A page where colour
    means one thing (e.g. the loss) keeps that meaning in a figure of one loss's quantities.
    """
    out: list[dict] = []
    for trace in traces:
        while len(out) % PALETTE_SIZE != slot % PALETTE_SIZE:
            out.append(padding_trace())
        out.append(trace)
    return out


def drawn_traces(fig: go.Figure) -> list:
    """The figure's traces without the empty colour-slot padding."""
    return [t for t in fig.data if not (t.x is not None and len(t.x) == 0 and t.hoverinfo == "skip")]


def scaled_text(fig: go.Figure, factor: float) -> go.Figure:
    """A copy of ``fig`` with every text size set by this project multiplied by ``factor`` (e.g. for a projector).

    Sizes left unset stay unset (the theme's); only the copy changes, so a cached figure is safe.
    """
    out = go.Figure(fig)

    def grow(font) -> None:
        if font is not None and font.size is not None:
            font.size = round(font.size * factor, 1)

    layout = out.layout
    for font in (layout.font, layout.title.font, layout.legend.font, layout.hoverlabel.font):
        grow(font)
    for name in list(layout):
        if name.startswith(("xaxis", "yaxis")):
            grow(layout[name].tickfont)
            grow(layout[name].title.font)
    for note in layout.annotations:
        grow(note.font)
    for trace in out.data:
        if "textfont" in trace:
            grow(trace.textfont)
    return fit_top_margin(out)


# ---------------------------------------------------------------- colour is never the only code
# WCAG 2.1 1.4.1: series a chart shows together differ by more than their colour. Series k takes the
# theme's colour k, marker symbol k and (where lines are few enough to read dashes) dash k; the legend
# names it. docs/accessibility-charts.md has the colour-vision check that says where this matters.
SERIES_SYMBOLS = (
    "circle", "square", "diamond", "triangle-up", "x", "triangle-down", "cross", "star", "hexagon", "pentagon",
)  # fmt: skip
SERIES_DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
