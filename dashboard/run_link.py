"""Which stored run a page shows: the link's ``?run=``, else the run of the training page's settings, else the newest.

Both stored-run pages (inside the model, calibration) read the run this way and say the same sentences
when the link's run cannot be shown. The run shown is always written back to the address, so a copied
link reopens it whatever is newest by then.
"""

from __future__ import annotations

import streamlit as st

from dashboard import user_text
from dashboard.training_controls import settings_in_session
from dashboard.url_state import name_link_value, show_pending
from softmax_core.figures.training_figures import config_label
from softmax_core.run_store import RunStore, run_key
from softmax_core.train_or_load import usable_run

RUN = "run"  # the link parameter: a run key
OLD_RUN = "cal_run"  # older calibration links named the run here (a key or the menu's label)
KEY_CHARS = 100  # a link's run key is shown cut to this many characters
NOT_STORED = (
    "The run named in this link is not in the run store (it may have been trained on another server, "
    "by older code, or removed)."
)


def label(run) -> str:
    """A run as menus and captions name it: its settings, and its status when it did not finish."""
    return config_label(run.config, run.status)


def settings_run_key(fingerprint: str, link_too: bool = False) -> str | None:
    """The run key of the training page's current settings, if this session (or the link) holds them."""
    config = settings_in_session(link_too=link_too)
    return run_key(config, fingerprint) if config is not None else None


def newest_finished(runs):
    """The newest run that finished (the store lists newest first), or None."""
    return next((run for run in runs if run.status == "finished"), None)


def say_not_stored(key: str, instead: str = "") -> None:
    """Name a link's unknown run key (as plain text, cut short); the sentence outlives the link's cleaning."""
    name_link_value(RUN, f"{NOT_STORED}{instead} The link carried this key:", key[:KEY_CHARS],
                    icon=":material/link_off:")  # fmt: skip


def pick_run(store: RunStore, fingerprint: str):
    """The one run a page shows: the link's, else the training page's settings' run, else the newest finished.

    Returns None, after a sentence saying why and what to do, when there is nothing to show.
    """
    key = st.query_params.get(RUN)
    if key is not None:
        run, broken = usable_run(store, key)
        if broken:
            user_text.error(f"The run named in this link cannot be shown. {broken}")
        elif run is None:
            say_not_stored(key)
        return run
    config = settings_in_session()
    if config is not None:
        run, broken = usable_run(store, run_key(config, fingerprint))
        if broken:
            user_text.error(f"The stored run of the training page's settings cannot be shown. {broken}")
        elif run is None:
            st.info(
                "There is no stored run for the training page's settings "
                f"({config_label(config)}) yet. Train it first, then come back here.",
                icon=":material/model_training:",
            )
    else:
        run = newest_finished(store.list_runs())
        if run is None:
            st.info(
                "There is no trained model yet. Train one on the training page (one epoch takes seconds), "
                "then come back here.",
                icon=":material/model_training:",
            )
    if run is not None:
        st.query_params[RUN] = run.key  # the link now names this run
    return run


def default_key(by_key: dict, fingerprint: str) -> str:
    """A run menu's default: the training page's settings' run if stored (link too), else the newest that can be
    shown, else the newest."""
    wanted = settings_run_key(fingerprint, link_too=True)
    if wanted in by_key:
        return wanted
    finished = newest_finished(by_key.values())
    return finished.key if finished is not None else next(iter(by_key))


def linked_run(by_key: dict, menu_key: str) -> str | None:
    """The run a link asks for, once: ``run=KEY``, or an older link's ``cal_run`` (a key or the menu's label).

    Read unless it is what this page last wrote in the address while the menu (``menu_key``) still holds a
    choice: a rerun after a choice in the menu (the address not yet updated) keeps the choice. An unknown
    run is named, as text; the page shows another.
    """
    asked = st.query_params.get(RUN)
    if OLD_RUN in st.query_params:
        asked = asked if asked is not None else st.query_params[OLD_RUN]
        del st.query_params[OLD_RUN]
    written = f"_{menu_key}_in_link"
    if asked is None or (asked == st.session_state.get(written) and menu_key in st.session_state):
        show_pending([RUN])  # a sentence about the link's run, if a rerun that cleaned the link came between
        return None
    st.session_state[written] = asked
    by_label = {label(run): k for k, run in by_key.items()}
    if asked in by_key or asked in by_label:
        return asked if asked in by_key else by_label[asked]
    say_not_stored(asked, " Showing another run instead.")
    return None


def keep_run_in_address(key: str, menu_key: str) -> None:
    """The address names the run shown (a copied address reopens it, whatever is newest by then)."""
    if st.query_params.get(RUN) != key:
        st.query_params[RUN] = key
    st.session_state[f"_{menu_key}_in_link"] = key
