"""Inside the model: the ten weight templates epoch by epoch, and the same run by the other implementation beside it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import streamlit as st

from dashboard import user_text
from dashboard.caches import inside_model as cached
from dashboard.presenter import caption, chart, presenting
from dashboard.url_state import Param, bool_param, check_link, int_param
from softmax_core import inspection
from softmax_core.figures.inside_figures import weight_templates_alt
from softmax_core.run_store import StoredRun, run_key
from softmax_core.train_or_load import usable_run
from softmax_core.training import LBFGS

OTHER_IMPL = {"scratch": "concise", "concise": "scratch", "byhand": "concise"}  # byhand: the same update
RESCALE = bool_param(
    "in_rescale",
    False,
    "Scale each epoch on its own",
    help="Off: one scale for all epochs, so the templates visibly grow from the tiny N(0, 0.01²) noise. "
    "On: each epoch uses its own largest |w|, to see the noise's pattern.",
)


def epoch_param(epochs: int) -> Param:
    """The epoch slider, bounded by this run's epochs (so a link's epoch is checked against them)."""
    return int_param("in_epoch", epochs, 0, epochs, "Epoch (0 = the random initial weights)")


def name_unused_epoch(why: str) -> None:
    """The link's epoch (and scale) when this view has no epoch slider: named, not silently dropped."""

    def parse(text: str):
        raise ValueError(why)

    check_link([Param("in_epoch", None, parse), Param("in_rescale", None, parse)])


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


def chosen_epoch(run, weights, has_snapshots) -> tuple[int, float | None, str, list[Param]]:
    """The position in ``weights`` to show, its colour limit (None: its own), its title, and the controls drawn."""
    if not has_snapshots:
        name_unused_epoch("this run kept only its final weights, so there is no epoch to choose")
        st.info(no_snapshots_note(run), icon=":material/history:")
        return 0, None, f"W {final_weights(run)}", []
    epochs = epoch_param(len(weights) - 1)
    check_link([epochs, RESCALE])
    epoch, rescale = epochs.draw(), RESCALE.draw()
    limit = None if rescale else inspection.symmetric_limit(weights)
    return epoch, limit, f"W after {epoch} epoch(s)" if epoch else "W at initialisation (epoch 0)", [epochs, RESCALE]


def templates_section(run, runs_dir: str, weights, biases, has_snapshots, names) -> tuple[int, list[Param]]:
    """The ten templates at the chosen epoch; returns the position in ``weights`` shown and the controls drawn."""
    index, limit, title, drawn = chosen_epoch(run, weights, has_snapshots)
    st.markdown(f"**{title}**")
    chart(
        cached.templates_figure(runs_dir, run.key, index, tuple(names), limit),
        "in_templates",
        alt=weight_templates_alt(weights[index], biases[index], names, title),
        toolbar=True,  # the weight pictures are worth taking home as PNG
    )
    caption(
        "Each picture is one column w_j of W (784 weights as 28 x 28), on one shared scale: blue pixels raise "
        "class j's score when bright, red ones lower it, white is 0. b is the class's bias."
    )
    with st.expander("The numbers behind the pictures", icon=":material/table:"):
        st.dataframe(cached.table(template_numbers(weights, biases, index, names)), hide_index=True, width="stretch")
    return index, drawn


def weights_shown(run, index: int, has_snapshots: bool) -> str:
    """Which weights the explanation uses, in words."""
    if has_snapshots:
        return f"after {index} epoch(s)"
    return final_weights(run) if is_lbfgs(run) else "after the last epoch"


def counterpart(store, run, fingerprint: str) -> tuple[StoredRun | None, str]:
    """The same settings trained by the other SGD implementation: (run, "") if stored and sound, (None, why)
    if it is stored but broken, (None, "") if there is none (always for the L-BFGS fit, which has no twin)."""
    if run.config.impl not in OTHER_IMPL:
        return None, ""
    return usable_run(store, run_key(replace(run.config, impl=OTHER_IMPL[run.config.impl]), fingerprint))


def counterpart_parameters(store, run, fingerprint: str):
    """(the twin run, its weights, biases, has snapshots), or (None, why) after which there is nothing to draw."""
    other, broken = counterpart(store, run, fingerprint)
    if other is None:
        return None, broken
    try:
        return (other, *cached.run_parameters(str(store.root), other.key)), ""
    except ValueError as exc:  # damaged since it was checked
        return None, str(exc)


def _explained_absence(title: str, sentence: str) -> None:
    """A section with nothing to draw: its heading and why, or nothing at all in presenter mode (which has no
    captions, so the heading would stand alone over empty space on the projector)."""
    if presenting():
        return
    st.subheader(title)
    caption(sentence)


def compare_section(store, run, fingerprint, index, has_snapshots, weights, biases, names) -> None:
    """This run's templates beside its scratch / concise twin's, on one scale, with the largest difference."""
    title = "By hand against concise" if run.config.impl == "byhand" else "Scratch against concise"
    if is_lbfgs(run):
        _explained_absence(
            title,
            "The best linear model is fitted by L-BFGS, not by the chapter's minibatch SGD, so it has no scratch "
            "or concise twin. Pick a scratch or concise run in the menu above to compare the two.",
        )
        return
    twin, broken = counterpart_parameters(store, run, fingerprint)
    if twin is None and not broken:
        _explained_absence(
            title,
            f"Train the {OTHER_IMPL[run.config.impl]} implementation with the same settings on the training "
            "page to see both side by side here.",
        )
        return
    st.subheader(title)
    if broken:
        user_text.warning(
            f"The {OTHER_IMPL[run.config.impl]} run of these settings cannot be shown beside this one. {broken}"
        )
        return
    other, other_weights, other_biases, other_snapshots = twin
    if has_snapshots and other_snapshots and len(other_weights) == len(weights):
        at, where = index, f"after {index} epoch(s)"
    else:
        at, where, index = -1, "after the last epoch", -1
    mine, theirs = (weights[index], biases[index]), (other_weights[at], other_biases[at])
    limit = inspection.symmetric_limit(mine[0], theirs[0])
    for column, shown, (w, b), position, key in zip(
        st.columns(2), (run, other), (mine, theirs), (index % len(weights), at % len(other_weights)),
        ("in_compare_this", "in_compare_other"),
    ):  # fmt: skip
        with column:
            st.markdown(f"**{shown.config.impl}**")
            figure = cached.templates_figure(str(store.root), shown.key, position, tuple(names), limit, True)
            chart(figure, key, alt=weight_templates_alt(w, b, names, f"{shown.config.impl}, W {where}"))
    st.markdown(difference_sentence(inspection.largest_difference(*mine, *theirs), where, names))


def difference_sentence(diff, where: str, names) -> str:
    place = (
        f"weight of pixel (row {diff.pixel // 28}, col {diff.pixel % 28}) for {names[diff.class_index]}"
        if diff.what == "weight"
        else f"bias of {names[diff.class_index]}"
    )
    return (
        f"The same pictures {where}: the largest difference over all 7,850 parameters is "
        f"**{diff.largest:.2e}** (the {place}), against weights up to {diff.weight_scale:.3f}. "
        "Same seed, same initial weights and batches, one colour scale; only float rounding differs."
    )


def template_numbers(weights, biases, index: int, names) -> list[dict]:
    """The numbers behind the pictures, one row per class: its bias and its weights' range."""
    w, b = np.asarray(weights[index]), np.asarray(biases[index])
    return [
        {"class": name, "bias b": float(b[j]), "smallest w": float(w[:, j].min()), "largest w": float(w[:, j].max())}
        for j, name in enumerate(names)
    ]
