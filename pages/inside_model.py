r"""Inside the model: the ten weight templates across epochs, why one image got its label, and your own picture.

Shows one stored run: the ``run`` query parameter (a run key) if the link has one,
else the run of the training page's current settings (while the session holds them),
else the newest stored run. Controls bind to the URL
(``bind="query-params"``, keys prefixed ``in_``), so a link restores the view.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from dashboard import server_caches as cached
from dashboard import user_text
from dashboard.deep_links import run_through_navigation
from dashboard.fashion_data import data_dir as shared_data_dir
from dashboard.fashion_data import fashion_mnist
from dashboard.presenter import caption, chart, share_row
from dashboard.url_state import Param, bool_param, check_link, int_param, share_and_reset
from dashboard.user_text import literal
from softmax_core import export, inspection
from softmax_core.classes import indefinite_article
from softmax_core.figures.inside_figures import (
    contribution_maps,
    contribution_sums,
    score_bars,
    upload_steps,
)
from softmax_core.figures.training_figures import config_label, probability_bars
from softmax_core.garment_upload import MAX_BYTES, UPLOAD_TYPES, UploadError, prepare
from softmax_core.run_store import RunStore, StoredRun, default_runs_dir, run_key
from softmax_core.train_or_load import usable_run
from softmax_core.training import LBFGS, TrainConfig

run_through_navigation()  # first: a deep link on a fresh server must go through streamlit_app.py

TRAINING_PAGE = "pages/training.py"
SOFTMAX_PAGE = "pages/softmax_temperature.py"
TRAIN_KEYS = {
    "impl": "train_impl",
    "lr": "train_lr",
    "batch_size": "train_batch_size",
    "epochs": "train_epochs",
    "seed": "train_seed",
    "init_std": "train_init_std",
}
OTHER_IMPL = {"scratch": "concise", "concise": "scratch", "byhand": "concise"}  # byhand: the same update
# The bound controls, so a link value they cannot take gets a sentence (the binding drops it silently).
# Each is checked where it is drawn, against the bounds it is drawn with (the epochs are the run's).
RESCALE = bool_param("in_rescale", False)
DRAWN: list[Param] = []  # the controls as this run drew them: what "Share this view" reads


def name_unused_epoch(why: str) -> None:
    """The link's epoch (and scale) when this view has no epoch slider: named, not silently dropped."""

    def parse(text: str):
        raise ValueError(why)

    check_link([Param("in_epoch", None, parse), Param("in_rescale", None, parse)])


def training_page_config() -> TrainConfig | None:
    """The training page's settings if this session still holds them (Streamlit drops them after some reruns)."""
    if not any(key in st.session_state for key in TRAIN_KEYS.values()):
        return None
    defaults = TrainConfig()
    values = {name: st.session_state.get(key, getattr(defaults, name)) for name, key in TRAIN_KEYS.items()}
    try:
        return TrainConfig(**values).validated()
    except ValueError:
        return None


def pick_run(store: RunStore, fingerprint: str):
    """The link's ``run``, else the run of the training page's settings, else the newest stored run.

    Returns None (after a sentence) when there is nothing to show.
    """
    key = st.query_params.get("run")
    if key is not None:
        run, broken = usable_run(store, key)
        if broken:
            user_text.error(f"The run named in this link cannot be shown. {broken}")
        elif run is None:
            st.warning(
                "The run named in this link is not in the run store (it may have been trained on another "
                "server, or by older code). The link carried this key:",
                icon=":material/link_off:",
            )
            st.text(key[:100])
        return run
    config = training_page_config()
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
        run = next((r for r in store.list_runs() if r.status == "finished"), None)
        if run is None:
            st.info(
                "There is no trained model yet. Train one on the training page (one epoch takes seconds), "
                "then come back here.",
                icon=":material/model_training:",
            )
    if run is not None:
        st.query_params["run"] = run.key  # the link now names this run
    return run


def choose_other_run(store: RunStore, current) -> None:
    runs = store.list_runs()
    keys = [r.key for r in runs if r.status == "finished"]
    if current is not None and current.key not in keys:
        keys.insert(0, current.key)
    if len(keys) < 2:
        return
    labels = {r.key: config_label(r.config, r.status) for r in runs}

    def switch() -> None:
        st.query_params["run"] = st.session_state.in_run_pick

    st.selectbox(
        "Stored run",
        keys,
        index=keys.index(current.key) if current is not None else 0,
        format_func=lambda k: labels.get(k, k),
        key="in_run_pick",
        on_change=switch,
    )


def counterpart(store: RunStore, run, fingerprint: str) -> tuple[StoredRun | None, str]:
    """The same settings trained by the other SGD implementation: (run, "") if stored and sound, (None, why)
    if it is stored but broken, (None, "") if there is none (always for the L-BFGS fit, which has no twin)."""
    if run.config.impl not in OTHER_IMPL:
        return None, ""
    return usable_run(store, run_key(replace(run.config, impl=OTHER_IMPL[run.config.impl]), fingerprint))


def is_lbfgs(run) -> bool:
    return run.config.impl == LBFGS


def final_weights(run) -> str:
    """What the one stored W of a run without snapshots is: after how many epochs, or L-BFGS iterations."""
    if is_lbfgs(run):
        return f"after {run.history[-1].epoch} L-BFGS iterations"
    return f"after the last epoch ({len(run.history)})"


def no_snapshots_note(run) -> str:
    """Why there is no epoch slider: L-BFGS keeps only its final weights; older training code kept no others."""
    if is_lbfgs(run):
        done, limit = run.history[-1].epoch, run.config.epochs
        stopped = (
            f" The fit converged after {done} of its {limit} iterations (the gradient or the step became tiny)."
            if done < limit
            else ""
        )
        return (
            "The best linear model is fitted by full-batch L-BFGS, which keeps only its final weights, "
            f"so there is no epoch slider.{stopped}"
        )
    return (
        "This run was stored by an older version of the training code, which kept only the final weights, "
        "so there is no epoch slider. Train the same settings again to see the templates form epoch by epoch."
    )


# ---------------------------------------------------------------- sections


def templates_section(run, weights, biases, has_snapshots, names) -> int:
    """The ten templates at the chosen epoch; returns the position in ``weights`` shown."""
    epochs = len(weights) - 1
    if has_snapshots:
        epoch_param = int_param("in_epoch", epochs, 0, epochs)  # the slider's bounds, this run's epochs
        check_link([epoch_param, RESCALE])
        DRAWN.extend([epoch_param, RESCALE])
        epoch = st.slider(
            "Epoch (0 = the random initial weights)", 0, epochs, epochs, key="in_epoch", bind="query-params"
        )
        rescale = st.toggle(
            "Scale each epoch on its own",
            key="in_rescale",
            bind="query-params",
            help="Off: one scale for all epochs, so the templates visibly grow from the tiny "
            "N(0, 0.01²) "
            "noise. On: each epoch uses its own largest |w|, to see the noise's pattern.",
        )
        limit = None if rescale else inspection.symmetric_limit(weights)
        index = epoch
        title = f"W after {epoch} epoch(s)" if epoch else "W at initialisation (epoch 0)"
    else:
        name_unused_epoch("this run kept only its final weights, so there is no epoch to choose")
        index, limit = 0, None
        title = f"W {final_weights(run)}"
        st.info(no_snapshots_note(run), icon=":material/history:")
    st.markdown(f"**{title}**")
    chart(
        cached.templates_figure(str(default_runs_dir()), run.key, index, tuple(names), limit),
        "in_templates",
        toolbar=True,  # the weight pictures are worth taking home as PNG
    )
    caption(
        "Each picture is one column w_j of W (784 weights as 28 x 28), on one shared scale: blue pixels raise "
        "class j's score when bright, red ones lower it, white is 0. b is the class's bias."
    )
    return index


def compare_section(store, run, fingerprint, index, has_snapshots, weights, biases, names) -> None:
    st.subheader("By hand against concise" if run.config.impl == "byhand" else "Scratch against concise")
    if is_lbfgs(run):
        caption(
            "The best linear model is fitted by L-BFGS, not by the chapter's minibatch SGD, so it has no scratch "
            "or concise twin. Pick a scratch or concise run in the menu above to compare the two."
        )
        return
    other, broken = counterpart(store, run, fingerprint)
    if other is not None:
        try:
            other_weights, other_biases, other_snapshots = cached.run_parameters(str(store.root), other.key)
        except ValueError as exc:  # damaged since it was checked
            other, broken = None, str(exc)
    if broken:
        user_text.warning(
            f"The {OTHER_IMPL[run.config.impl]} run of these settings cannot be shown beside this one. {broken}"
        )
        return
    if other is None:
        caption(
            f"Train the {OTHER_IMPL[run.config.impl]} implementation with the same settings on the training "
            "page to see both side by side here."
        )
        return
    if has_snapshots and other_snapshots and len(other_weights) == len(weights):
        at, where = index, f"after {index} epoch(s)"
    else:
        at, where = -1, "after the last epoch"
        index = -1
    mine, theirs = (weights[index], biases[index]), (other_weights[at], other_biases[at])
    diff = inspection.largest_difference(*mine, *theirs)
    limit = inspection.symmetric_limit(mine[0], theirs[0])
    runs_dir = str(store.root)
    left, right = st.columns(2)
    with left:
        st.markdown(f"**{run.config.impl}**")
        chart(
            cached.templates_figure(runs_dir, run.key, index % len(weights), tuple(names), limit, True),
            "in_compare_this",
        )
    with right:
        st.markdown(f"**{other.config.impl}**")
        chart(
            cached.templates_figure(runs_dir, other.key, at % len(other_weights), tuple(names), limit, True),
            "in_compare_other",
        )
    place = (
        f"weight of pixel (row {diff.pixel // 28}, col {diff.pixel % 28}) for {names[diff.class_index]}"
        if diff.what == "weight"
        else f"bias of {names[diff.class_index]}"
    )
    st.markdown(
        f"The same pictures {where}: the largest difference over all 7,850 parameters is "
        f"**{diff.largest:.2e}** (the {place}), against weights up to {diff.weight_scale:.3f}. "
        "Same seed, same initial weights and batches, one colour scale; only float rounding differs."
    )


def pick_image(true, predicted) -> int:
    st.session_state.setdefault("in_image", 0.0)

    def random_mistake() -> None:
        chosen = inspection.random_mistake(true, predicted, np.random.default_rng())
        if chosen is not None:
            st.session_state.in_image = float(chosen)

    DRAWN.append(IMAGE)
    pick, jump = st.columns([1, 1], vertical_alignment="bottom")
    # A float input showing whole numbers: 1.67's int input raises on a link value such as 1e400 (OverflowError).
    i = pick.number_input(
        "Test image #", 0.0, float(IMAGE_MAX), step=1.0, format="%.0f", key="in_image", bind="query-params"
    )
    jump.button("A random mistake", icon=":material/casino:", key="in_random_mistake", on_click=random_mistake)
    return int(i)


def explanation_section(runs_dir: str, key: str, index: int, data, data_dir: str, predicted, names, where: str) -> None:
    st.subheader("Why this image got its label")
    true = data.test_labels.numpy()
    i = pick_image(true, predicted)
    label = int(true[i])
    why, figures = cached.explanation(runs_dir, key, index, i, data_dir, tuple(names))
    verdict = "right" if why.predicted == label else "a mistake"
    st.markdown(
        f"Test image #{i} is {indefinite_article(names[label])} **{names[label]}**; the model ({where}) "
        f"says **{names[why.predicted]}** "
        f"({why.probs[why.predicted]:.1%}): {verdict}."
    )
    image, scores, probs = st.columns([1, 1.3, 1.3], gap="small")
    with image:
        chart(figures.image, "in_image_fig")
    with scores:
        chart(figures.scores, "in_scores")
    with probs:
        chart(figures.probs, "in_probs")
    contribution_figure(why, figures.contributions, figures.classes, names, "in_contributions")
    st.page_link(
        SOFTMAX_PAGE,
        label="Open these scores on the softmax page",
        icon=":material/thermostat:",
        query_params=inspection.softmax_page_query(why.scores),
    )


def contribution_figure(why, fig, classes, names, key: str) -> None:
    chart(fig, key)
    caption(
        "Each map is x * w_j, pixel by pixel: blue pixels pushed towards that class, red ones away. "
        "Its 784 values add up, plus the bias b_j, to the class's score o_j (the bar above):"
    )
    st.text(contribution_sums(why, classes, names))


def upload_section(weights, biases, index, names) -> None:
    st.subheader("Your own picture")
    caption(
        "A photo or drawing of one garment, PNG, JPEG or WebP, best on a plain light background and filling most "
        "of the frame. It is made into 28 x 28 pixels the way Zalando made Fashion-MNIST from product photos, "
        "shown step by step and classified; nothing you upload is stored on the server."
    )
    upload = st.file_uploader(
        "Upload a picture of a garment", type=list(UPLOAD_TYPES), key="in_upload", max_upload_size=MAX_BYTES // 2**20
    )
    if upload is None:
        return
    try:
        prepared = prepare(upload.getvalue())
    except UploadError as exc:
        st.error(literal(str(exc)), icon=":material/broken_image:")
        return
    chart(upload_steps(prepared.steps, columns=4), "in_upload_steps")
    st.markdown(upload_step_list(prepared.steps))
    why = inspection.explain(weights[index], biases[index], prepared.pixels)
    st.markdown(f"The model says **{names[why.predicted]}** ({why.probs[why.predicted]:.1%}).")
    left, right = st.columns(2)
    with left:
        chart(score_bars(why.scores, names, height=330), "in_upload_scores")
    with right:
        chart(probability_bars(why.probs, names, height=330), "in_upload_probs")
    classes = inspection.explained_classes(why)
    contribution_figure(why, contribution_maps(why, classes, names), classes, names, "in_upload_contributions")


def upload_step_list(steps) -> str:
    """The steps as a numbered Markdown list whose items are plain text (their notes hold no markup)."""
    return "\n".join(f"{n}. {literal(f'{step.title}: {step.note}')}" for n, step in enumerate(steps, start=1))


def export_section(run, runs_dir: str) -> None:
    st.subheader("Take it home")
    csv_name = export.file_name(run.config, "metrics", "csv")
    weights_name = export.file_name(run.config, "weights", "pt")
    left, right = st.columns(2)
    left.download_button(
        "Metrics (CSV)",
        export.metrics_csv(run.history),
        file_name=csv_name,
        mime="text/csv",
        icon=":material/table:",
        key="in_download_metrics",
        on_click="ignore",
    )
    right.download_button(
        "Final weights (PyTorch state dict)",
        cached.weights_file(runs_dir, run.key),
        file_name=weights_name,
        mime="application/octet-stream",
        icon=":material/download:",
        key="in_download_weights",
        on_click="ignore",
    )
    caption(
        "Load the weights into the chapter's concise `net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))` "
        "(`weights_only=True` executes nothing from the file):"
    )
    st.code(export.load_snippet(weights_name), language="python", wrap_lines=True)
    caption(
        export.SCRATCH_NOTE + " The weight pictures download as PNG from the camera icon over them (shown on hover)."
    )


# ---------------------------------------------------------------- the page

st.title("Inside the trained model")
st.markdown(
    "Softmax regression scores an image with one weight per pixel and class, "
    r"$o_j = \mathbf{x}\cdot\mathbf{w}_j + b_j$: each class's 784 weights form a picture of what it looks for."
)

data_dir = shared_data_dir()
data = fashion_mnist()  # or a message with the fixes, and the page stops
IMAGE_MAX = len(data.test_labels) - 1
IMAGE = int_param("in_image", 0, 0, IMAGE_MAX)  # the test image input's bounds
check_link([IMAGE])

runs_dir = str(default_runs_dir())
store = RunStore(runs_dir)
run = pick_run(store, data.fingerprint)
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
    weights, biases, has_snapshots = cached.run_parameters(runs_dir, run.key)
except ValueError as exc:  # damaged weights: the store's message says what to do
    st.error(str(exc))
    name_unused_epoch("this run's stored weights cannot be read")
    st.stop()

names = list(data.class_names)
last = run.history[-1] if run.history else None
caption(f"Run: {config_label(run.config)}" + (f" · test accuracy {last.test_acc:.1%}" if last else ""))

index = templates_section(run, weights, biases, has_snapshots, names)
if has_snapshots:
    where = f"after {index} epoch(s)"
else:
    where = final_weights(run) if is_lbfgs(run) else "after the last epoch"
compare_section(store, run, data.fingerprint, index, has_snapshots, weights, biases, names)
predicted = cached.test_predictions(runs_dir, run.key, index, data_dir)
explanation_section(runs_dir, run.key, index, data, data_dir, predicted, names, where)
upload_section(weights, biases, index, names)
export_section(run, runs_dir)
share_row(share_and_reset, DRAWN, {"run": run.key}, ("run",))
