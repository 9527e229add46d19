"""The numbers behind a chart, one click away: a screen reader's (and a curious student's) way to its data."""

from __future__ import annotations

import streamlit as st

from dashboard.caches import shared as cached


def the_numbers(rows: list[dict], where=None, **dataframe) -> None:
    """A collapsed "The numbers" expander holding ``rows`` as a table (``dataframe``: st.dataframe's options)."""
    if not rows:
        return
    with (where or st).expander("The numbers", icon=":material/table:"):
        st.dataframe(cached.table(rows), hide_index=True, width="stretch", **dataframe)
