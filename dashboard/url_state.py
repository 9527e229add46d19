"""URL state: what Streamlit's ``bind="query-params"`` does not do for us.

Widgets bind to the URL themselves (``key=param.key, bind="query-params"``, ``value=param.default``):
Streamlit seeds them from the link, writes changes back and leaves defaults out. What it cannot do,
and this module does:

- check a link value against the widget it will fill, with the bounds the page draws it with (which
  may depend on the run), and say why one was dropped: the binding drops a bad value silently, or
  hands the widget one it refuses, so :func:`check_link` reads the raw value before the widget is
  drawn, shows "Link parameter ... was ignored: ..." and cleans the address;
- read the old short values of choices (``loss_view=compare``; the binding only knows the labels
  on screen, ``loss_view=Compare the three``), ``all=1`` and temperatures between slider stops, and
  write them back in the widget's own form, so the address shows what the page shows;
- the editable tables, which have no binding: :func:`restore` seeds them, :func:`publish` writes them;
- "Share this view" (a link built from the session state, so it is right even before the browser's
  URL has caught up, with what the page always keeps in its address, such as the run) and "Reset".
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

from dashboard import streamlit_internals, user_text
from dashboard.temperature_stops import nearest_stop


class ReadAs(ValueError):
    """The binding will read this link value as ``value`` (e.g. it truncates 1.5 to 1): say so."""

    def __init__(self, value: Any, reason: str) -> None:
        super().__init__(reason)
        self.value = value


# How a control draws itself: (where, the param, the page's extra keywords) -> the widget's value.
Draw = Callable[[Any, "Param", dict], Any]


@dataclass(frozen=True)
class Param:
    """One control, declared once: its key (= URL name), default, how it reads and writes as text, and its widget.

    ``param.draw(where)`` draws the widget bound to the address with the same default and bounds the link is
    checked against, so the two cannot drift apart.
    """

    key: str
    default: Any
    parse: Callable[[str], Any]  # link text -> value, or ValueError saying why it is ignored
    dump: Callable[[Any], str] = str  # value -> link text, exactly as the bound widget writes it
    bound: bool = True  # False: no widget binding (editable tables): restore() / publish() do it
    labels: dict | None = None  # choices: option -> the label on screen (and in the link)
    widget: Draw | None = field(default=None, compare=False, repr=False)

    @property
    def options(self) -> list:
        return list(self.labels or ())

    @property
    def index(self) -> int:
        """The default's position among the options, for ``st.radio`` / ``st.selectbox``'s ``index=``."""
        return self.options.index(self.default)

    def label(self, option) -> str:
        return self.labels[option]

    def draw(self, where: Any = None, **extra) -> Any:
        """Draw this control, bound to the address, in ``where`` (``st``, a column, a form); returns its value.

        ``extra`` are the widget's other keywords for this run (``disabled=``, ``on_change=``, ``help=``).
        """
        if self.widget is None:
            raise TypeError(f"{self.key} has no widget: it is drawn by its page (an editable table)")
        return self.widget(st if where is None else where, self, extra)


def _drawer(kind: str, label: str, **fixed) -> Draw:
    """The widget ``kind`` (a Streamlit element name) with its label and fixed keywords; values come from the param."""

    def draw(where, param: Param, extra: dict):
        bound = {"key": param.key, "bind": "query-params"} | fixed | extra
        element = getattr(where, kind)
        if kind in ("slider", "number_input"):
            lo, hi = fixed["_range"]
            bound.pop("_range")
            return element(label, lo, hi, type(lo)(param.default), **bound)
        if kind in ("radio", "selectbox"):
            return element(label, param.options, param.index, format_func=param.label, **bound)
        if kind == "select_slider":
            return element(label, options=fixed["options"], value=param.default, format_func=param.dump,
                           **{k: v for k, v in bound.items() if k != "options"})  # fmt: skip
        if kind == "tabs":
            return element(param.options, **bound)
        if kind in ("toggle", "checkbox", "text_input", "text_area"):
            return element(label, param.default, **bound)
        raise ValueError(f"no drawer for {kind}")

    return draw


def _number_text(value: float) -> str:
    return f"{value:.6g}"


def float_param(
    key: str, default: float, lo: float, hi: float, label: str = "", widget: str = "slider", **fixed
) -> Param:
    """A number between ``lo`` and ``hi``; drawn as a ``slider`` or a ``number_input`` with those bounds."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("it is not a number") from None
        if not (math.isfinite(value) and lo <= value <= hi):
            raise ValueError(f"must be between {lo:g} and {hi:g}")
        return value

    return Param(key, default, parse, _number_text, widget=_drawer(widget, label, _range=(lo, hi), **fixed))


def int_param(key: str, default: int, lo: int, hi: int, label: str = "", widget: str = "slider", **fixed) -> Param:
    """A whole number between ``lo`` and ``hi``.

    ``widget="number_input"`` draws a float input with whole steps: Streamlit 1.67's int input raises on a
    link value such as 1e400 (OverflowError), and "%.0f", not "%d": a float input with an integer format
    logs a warning with a stack trace on every run.
    """

    def parse(text: str) -> int:
        try:
            number = float(text)
        except ValueError:
            raise ValueError("it is not a number") from None
        if not (math.isfinite(number) and lo <= number <= hi):
            raise ValueError(f"must be a whole number between {lo} and {hi}")
        if number != int(number):  # the binding truncates it: say so instead of hiding it
            raise ReadAs(int(number), "must be a whole number")
        return int(number)

    if widget == "number_input":
        draw = _drawer(widget, label, _range=(float(lo), float(hi)), step=1.0, format="%.0f", **fixed)
    else:
        draw = _drawer(widget, label, _range=(lo, hi), **fixed)
    return Param(key, default, parse, lambda v: str(int(v)), widget=draw)


def choice_param(key: str, default, labels: dict, label: str = "", widget: str = "radio", **fixed) -> Param:
    """A ``radio`` / ``selectbox`` / tabs: the link holds the label on screen; the option's name is read too."""
    by_text = {str(option): option for option in labels} | {text: option for option, text in labels.items()}

    def parse(text: str):
        if text in by_text:
            return by_text[text]
        raise ValueError(f"must be one of {', '.join(labels.values())}")

    return Param(key, default, parse, labels.__getitem__, labels=dict(labels), widget=_drawer(widget, label, **fixed))


def bool_param(key: str, default: bool, label: str = "", widget: str = "toggle", **fixed) -> Param:
    """On or off; drawn as a ``toggle`` or a ``checkbox``."""

    def parse(text: str) -> bool:
        lower = text.lower()
        if lower not in ("true", "false", "1", "0"):
            raise ValueError("must be true or false")
        return lower in ("true", "1")

    return Param(key, default, parse, lambda v: "true" if v else "false", widget=_drawer(widget, label, **fixed))


def text_param(key: str, default: str, label: str = "", widget: str = "text_input", **fixed) -> Param:
    """Free text (the page explains what is wrong with it, in words)."""
    return Param(key, default, str, widget=_drawer(widget, label, **fixed))


def stop_param(
    key: str,
    default: float,
    stops: tuple[float, ...],
    label: str = "",
    dump: Callable[[Any], str] | None = None,
    **fixed,
) -> Param:
    """A value on a ``select_slider``'s stops (a log-scale temperature): a link value between stops is read
    as the nearest stop, and says so; one outside the first and last stop is ignored."""
    text_of = dump or (lambda v: f"{v:g}")

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("it is not a number") from None
        if not (math.isfinite(value) and stops[0] <= value <= stops[-1]):
            raise ValueError(f"must be between {stops[0]:g} and {stops[-1]:g}")
        nearest = nearest_stop(stops, value)  # value >= stops[0] > 0 here
        if nearest != value:
            raise ReadAs(nearest, "the slider moves in steps; the nearest step is shown")
        return nearest

    return Param(key, default, parse, text_of, widget=_drawer("select_slider", label, options=stops, **fixed))


def tab_param(key: str, tabs: list[str] | tuple[str, ...]) -> Param:
    """``st.tabs(..., key=, bind=)``: the open tab's label, the first by default."""
    return choice_param(key, tabs[0], {tab: tab for tab in tabs}, widget="tabs")


# ----------------------------------------------------------------------------- reading the link

# Session state, per page: the keys whose link value was checked; the sentences (markdown, a value to
# show as plain text or None, an icon or None) waiting for the run that shows them; those shown, shown
# again if a later check in the same run reruns the page.
_CHECKED, _NOTES, _SHOWN = "_link_checked", "_link_notes", "_link_shown"


def _ignored(param: Param, text: str, reason: str, read_as: str | None = None) -> str:
    """The sentence for a link value the page did not take as it stands (markdown; the value as a code span)."""
    what = f"was read as {user_text.code(read_as)}" if read_as is not None else "was ignored"
    return f"Link parameter {user_text.code(f'{param.key}={text}')} {what}: {user_text.literal(reason)}."


def _page_state(name: str, empty):
    """This page's entry of a session-state table (two pages may read the same key, e.g. train_lr)."""
    page = streamlit_internals.current_page_hash()
    return st.session_state.setdefault(name, {}).setdefault(page, empty)


def _checked_and_notes() -> tuple[set, dict]:
    return _page_state(_CHECKED, set()), _page_state(_NOTES, {})


def _rerun_with_notes() -> None:
    """Rerun the page; the sentences already shown in this run are shown again in the next."""
    _page_state(_NOTES, {}).update(_page_state(_SHOWN, {}))
    st.rerun()


def show_pending(keys) -> None:
    """Show the sentences waiting for these keys (after a rerun that cleaned the link, they wait here)."""
    notes, shown = _page_state(_NOTES, {}), _page_state(_SHOWN, {})
    for key in keys:
        if key in notes:
            shown[key] = notes.pop(key)
            sentence, verbatim, icon = shown[key]
            st.warning(sentence, icon=icon or ":material/link:")
            if verbatim is not None:
                st.text(verbatim)


def name_link_value(key: str, sentence: str, verbatim: str | None = None, icon: str | None = None) -> None:
    """Show a page's own sentence about a link value (markdown, then the value as plain text if given).

    For values the page checks itself (an unknown run key): the sentence stays on the page through
    the reruns that clean the rest of the link.
    """
    _page_state(_NOTES, {})[key] = (sentence, verbatim, icon)
    show_pending([key])


def check_link(params: list[Param]) -> None:
    """Before the widgets: name the link values the page cannot take, and put the page's own form in the address.

    Call it before the widgets it checks, with their bounds as the page draws them (a bound that depends
    on the run, like the last epoch, is known only then: build that Param there and check it there).
    Each key is checked once per page and session, on the first run that draws its widget; later
    reruns carry the browser's own URL, which the widgets wrote.

    The binding reads the link as the page opened it, and on that first load it would take an
    out-of-bounds number the widget then refuses (an error box), and drop a value between a slider's
    stops silently. So a value the page cannot take is deleted from the address and named; one it
    reads in another form (an alias, a value between stops, 1.5 for a whole number) is written back in
    the form the widget writes; then the page reruns once, and the binding reads the cleaned address.
    """
    checked, notes = _checked_and_notes()
    rewrite: dict[str, str | None] = {}  # key -> the text the address should hold, None: drop it
    for param in params:
        if not param.bound or param.key in checked:
            continue
        checked.add(param.key)
        if param.key not in st.query_params:
            continue
        text = st.query_params[param.key]  # a repeated key: the last one, as the binding reads it
        try:
            value = param.parse(text)
        except ReadAs as exc:
            value = exc.value
            notes[param.key] = (_ignored(param, text, str(exc), read_as=param.dump(value)), None, None)
        except (TypeError, ValueError) as exc:
            notes[param.key] = (_ignored(param, text, str(exc)), None, None)
            rewrite[param.key] = None
            continue
        if param.dump(value) != text or len(st.query_params.get_all(param.key)) > 1:
            rewrite[param.key] = param.dump(value)
    if rewrite:
        if _rewrite_address(rewrite):
            _rerun_with_notes()  # the binding reads the cleaned address; the notes wait in the session
        _set_in_session(params, rewrite)
    show_pending([param.key for param in params])


def _rewrite_address(rewrite: dict[str, str | None]) -> bool:
    """Put these values in the address (None: delete it); False if a widget already holds one of the keys."""
    try:
        for key, text in rewrite.items():
            if text is None:
                del st.query_params[key]
            else:
                st.query_params[key] = text
    except StreamlitAPIException:  # bound already (its widget was drawn earlier in this session)
        return False
    return True


def _set_in_session(params: list[Param], rewrite: dict[str, str | None]) -> None:
    """When the address cannot be rewritten: show the value read (the binding would drop its form)."""
    for param in params:
        text = rewrite.get(param.key)
        if text is not None:
            try:
                st.session_state[param.key] = param.parse(text)
            except ValueError as exc:  # a ReadAs: the value it was read as
                st.session_state[param.key] = exc.value if isinstance(exc, ReadAs) else param.default


def _show(messages: list[str]) -> None:
    for message in messages:
        st.warning(message, icon=":material/link:")


def restore(params: list[Param]) -> None:
    """Seed the unbound controls (the editable tables) from the link, once per session."""
    for param in params:
        if param.bound or param.key in st.session_state:
            continue
        value = param.default
        if param.key in st.query_params:
            text = st.query_params[param.key]
            try:
                value = param.parse(text)
            except (TypeError, ValueError) as exc:
                _show([_ignored(param, text, str(exc))])
        st.session_state[param.key] = value


def current_query(params: list[Param], pinned: dict[str, str | list[str]] | None = None) -> dict[str, str | list[str]]:
    """What "Share this view" puts in the link: ``pinned`` (always, e.g. the run), then every non-default value."""
    query = dict(pinned or {})
    for param in params:
        value = st.session_state.get(param.key, param.default)
        if value != param.default:
            query[param.key] = param.dump(value)
    return query


def publish(params: list[Param]) -> None:
    """Mirror the unbound controls into the URL (only what changed, to avoid needless writes)."""
    unbound = [param for param in params if not param.bound]
    wanted = current_query(unbound)
    for param in unbound:
        if param.key in st.query_params and param.key not in wanted:
            del st.query_params[param.key]
    for key, text in wanted.items():
        if st.query_params.get(key) != text:
            st.query_params[key] = text


def _reset(params: list[Param]) -> None:
    for param in params:
        st.session_state[param.key] = param.default
        if not param.bound and param.key in st.query_params:
            del st.query_params[param.key]


def share_and_reset(
    params: list[Param], pinned: dict[str, str | list[str]] | None = None, reset_keeps: tuple[str, ...] = ()
) -> None:
    """A 'share this view' link (with a copy button) and a 'reset to defaults' control. Call it last.

    ``params`` are the controls as this run drew them (a bound or default that depends on the run
    included); ``pinned`` is what the page always keeps in its address, whatever the defaults: the
    stored run it shows (the newest run, the default, changes as runs are trained), a list of runs
    (a repeated key). Reset keeps the pinned keys named in ``reset_keeps`` (the run looked at).

    Reset in the browser is a link to the page with only those in the query (a fresh load):
    setting the widgets to their defaults from Python resets them, but Streamlit 1.67 then clears a
    bound URL entry only if the server saw it in the URL, which it does not for values changed since
    the page loaded, so the address bar would keep (and a reload bring back) the old values. Outside
    the app's navigation (AppTest of one page) it is a button that sets the defaults.
    """
    share, reset = st.columns([4, 1], vertical_alignment="bottom")
    with share.popover(":material/link: Share this view", width="stretch"):
        base = (st.context.url or "").split("?")[0]
        query = urlencode(current_query(params, pinned), doseq=True)
        st.caption("Copy this link: it opens the page with every control as it is now.")
        st.code(f"{base}?{query}" if query else base, language=None, wrap_lines=True)
    kept = {key: value for key, value in (pinned or {}).items() if key in reset_keeps}
    if _in_navigation():  # a real browser: reload the page with only what reset keeps (see the docstring)
        reset.markdown(
            f'<a href="?{html.escape(urlencode(kept, doseq=True))}" target="_self" title="Back to the default '
            'settings">Reset to defaults</a>',
            unsafe_allow_html=True,
        )
    else:
        reset.button(
            ":material/restart_alt: Reset",
            on_click=_reset,
            args=(params,),
            help="Back to the default settings",
            width="stretch",
        )


def _in_navigation() -> bool:
    """True when the page runs inside streamlit_app.py's navigation (a server), not alone in AppTest."""
    return len(streamlit_internals.registered_pages()) > 1
