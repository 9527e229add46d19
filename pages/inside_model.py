r"""Inside the model: the ten weight templates across epochs, why one image got its label, and your own picture.

Shows one stored run (``dashboard/run_link.py``): the ``run`` query parameter (a run key) if the link has
one, else the run of the training page's current settings (while the session holds them), else the newest
stored run. Controls bind to the URL (keys prefixed ``in_``), so a link restores the view.
"""

from __future__ import annotations

import streamlit as st

from dashboard.caches import inside_model as cached
from dashboard.deep_links import run_through_navigation
from dashboard.fashion_data import data_dir as shared_data_dir
from dashboard.fashion_data import fashion_mnist
from dashboard.image_explanation import explanation_section, image_param
from dashboard.own_picture import upload_section
from dashboard.presenter import caption, share_row
from dashboard.run_downloads import run_downloads
from dashboard.run_link import RUN, label, pick_run
from dashboard.url_state import check_link, share_and_reset
from dashboard.weight_templates import compare_section, name_unused_epoch, templates_section, weights_shown
from softmax_core.figures.training_figures import config_label
from softmax_core.run_store import RunStore, default_runs_dir

run_through_navigation()  # first: a deep link on a fresh server must go through streamlit_app.py

TRAINING_PAGE = "pages/training.py"


def choose_other_run(store: RunStore, current) -> None:
    """A menu of the stored runs (when there are two or more); a choice goes to the address."""
    runs = store.list_runs()
    keys = [r.key for r in runs if r.status == "finished"]
    if current is not None and current.key not in keys:
        keys.insert(0, current.key)
    if len(keys) < 2:
        return
    labels = {r.key: label(r) for r in runs}

    def switch() -> None:
        st.query_params[RUN] = st.session_state.in_run_pick

    st.selectbox(
        "Stored run",
        keys,
        index=keys.index(current.key) if current is not None else 0,
        format_func=lambda k: labels.get(k, k),
        key="in_run_pick",
        on_change=switch,
    )


def shown_run(store: RunStore, fingerprint: str):
    """The run to show and its weights per epoch; otherwise a sentence saying why not, and the page stops."""
    run = pick_run(store, fingerprint)
    choose_other_run(store, run)
    if run is None:
        name_unused_epoch("there is no stored run to show")
        st.page_link(TRAINING_PAGE, label="Go to the training page", icon=":material/model_training:")
        st.stop()
    if run.status != "finished":
        st.warning(
            "This run diverged, so its weights are not a trained model. Pick another run, or train with a lower "
            "learning rate.",
            icon=":material/warning:",
        )
        name_unused_epoch("this run diverged, so it has no epochs to show")
        st.stop()
    try:
        return run, *cached.run_parameters(str(store.root), run.key)
    except ValueError as exc:  # damaged weights: the store's message says what to do
        st.error(str(exc))
        name_unused_epoch("this run's stored weights cannot be read")
        st.stop()


def run_caption(run) -> None:
    last = run.history[-1] if run.history else None
    caption(f"Run: {config_label(run.config)}" + (f" · test accuracy {last.test_acc:.1%}" if last else ""))


def export_section(run) -> None:
    st.subheader("Take it home")
    run_downloads(
        run,
        str(default_runs_dir()),
        "in",
        note="The weight pictures download as PNG from the camera icon over them (shown on hover).",
    )


st.title("Inside the trained model")
st.markdown(
    "Softmax regression scores an image with one weight per pixel and class, "
    r"$o_j = \mathbf{x}\cdot\mathbf{w}_j + b_j$: each class's 784 weights form a picture of what it looks for."
)

data_dir = shared_data_dir()
data = fashion_mnist()  # or a message with the fixes, and the page stops
IMAGE = image_param(len(data.test_labels) - 1)
check_link([IMAGE])
runs_dir = str(default_runs_dir())
store = RunStore(runs_dir)
run, weights, biases, has_snapshots = shown_run(store, data.fingerprint)
names = list(data.class_names)
run_caption(run)

index, drawn = templates_section(run, runs_dir, weights, biases, has_snapshots, names)
compare_section(store, run, data.fingerprint, index, has_snapshots, weights, biases, names)
predicted = cached.test_predictions(runs_dir, run.key, index, data_dir)
where = weights_shown(run, index, has_snapshots)
explanation_section(runs_dir, run.key, index, data, data_dir, predicted, names, where, IMAGE)
upload_section(weights, biases, index, names)
export_section(run)
share_row(share_and_reset, [*drawn, IMAGE], {RUN: run.key}, (RUN,))
