"""Calibration page: the best linear model (L-BFGS to convergence), shown when stored, else fitted from here.

The button queues the fit in the server's one training queue (the training page's); the finished fit is
one more stored run.
"""

from __future__ import annotations

import streamlit as st

from dashboard.presenter import caption
from dashboard.sign_in import may_act
from dashboard.training_jobs import poll_job, start_job
from softmax_core.linear_ceiling import (
    best_linear_label,
    best_linear_run,
    ceiling_config,
    choice_sentence,
    fit_sentence,
)
from softmax_core.training_queue import JobSnapshot

WANTED = "cal_ceiling_wanted"  # the fit this session asked for: shown once it is stored


def last_iteration(snap: JobSnapshot) -> None:
    if snap.history:
        last = snap.history[-1]
        st.caption(f"After {last.epoch} iterations: train loss {last.train_loss:.4f}, "
                   f"test accuracy {last.test_acc:.4f}.")  # fmt: skip


def stored_fit(best, snap, n_train: int) -> None:
    if snap is not None and snap.state == "done" and not snap.cached:
        st.success("Fitted just now and stored.", icon=":material/check_circle:")
    st.info(f"**{best_linear_label(best)}**. {fit_sentence(best, n_train)} "
            f"{choice_sentence(best.config.l2)} It is one more run in the menu above.",
            icon=":material/trophy:")  # fmt: skip
    caption("`python -m softmax_core.linear_ceiling` fits and stores this same run; with `--search` it "
            "repeats the search for the penalty.")  # fmt: skip


def fit_button(jobs, config, ceiling_key: str, snap) -> bool:
    """How the last fit ended, and the button; True once a fit is queued (the progress then takes their place)."""
    if snap is not None and snap.state in ("cancelled", "failed"):
        st.session_state.pop(WANTED, None)  # stopped or failed: nothing to show when it is stored
    slot = st.empty()
    with slot.container():
        if snap is not None and snap.state == "cancelled":
            stopped = snap.result.message if snap.result is not None else "Stopped before the fit began."
            st.info(f"{stopped} Nothing was stored.", icon=":material/stop_circle:")
        elif snap is not None and snap.state == "failed":
            st.error(snap.error)
        pressed = st.button(f"Fit the best linear model (L2 {config.l2:g}, {config.epochs} L-BFGS iterations)",
                            key="cal_fit_ceiling", icon=":material/rocket_launch:",
                            help="Queued with the server's other trainings: one at a time per student.")  # fmt: skip
    if not pressed:
        return False
    started = start_job(jobs, config, cancel_key="cal_cancel_other", button="the fit button")
    if started is None:
        return False
    st.session_state[WANTED] = ceiling_key
    if started.snapshot().finished:  # stored meanwhile (the CLI, another server): show it
        st.rerun()
    slot.empty()
    return True


def ceiling_section(jobs, ceiling_key: str, runs, by_key: dict, data) -> None:
    st.subheader("The best linear model")
    st.markdown("The chapter's 10 epochs of SGD stop before the loss is minimised. Full-batch **L-BFGS** with an L2 "
                "penalty on W trains the same model to convergence.")  # fmt: skip
    config = ceiling_config()
    job = jobs.get(ceiling_key)
    snap = job.snapshot() if job is not None else None
    best = best_linear_run(runs, data.fingerprint)  # the stored run of ceiling_config(), or None
    if best is not None:
        stored_fit(best, snap, len(data.train_images))
        return
    if ceiling_key in by_key:  # stored, but it did not finish: nothing to fit again from here
        st.warning("The stored fit of the best linear model did not finish. What it said:", icon=":material/warning:")
        st.text(by_key[ceiling_key].message)
        return
    st.markdown(f"Not stored yet. The button fits L2 penalty {config.l2:g} for {config.epochs} L-BFGS iterations on "
                f"all {len(data.train_images):,} training images, the same run as `python -m "
                f"softmax_core.linear_ceiling`. {choice_sentence(config.l2)}")  # fmt: skip
    running = snap is not None and snap.state == "running"
    if not running and not may_act():  # with sign-in on: only a signed-in user on the access list fits it
        st.info("Sign in with an account on the access list to fit it from here.", icon=":material/lock:")
        return
    if running or fit_button(jobs, config, ceiling_key, snap):
        poll_job(jobs, ceiling_key, stop_key="cal_ceiling_stop", details=last_iteration)
