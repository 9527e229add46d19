"""The training page's settings, declared once: their keys (also the link's names), bounds, defaults and widgets.

The training page draws them; the inside-the-model and calibration pages read them (this session's
values, else the link's) to find the run the student just trained.
"""

from __future__ import annotations

import streamlit as st

from dashboard.url_state import ReadAs, choice_param, float_param, int_param
from softmax_core.training import (
    IMPL_NAMES,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_INIT_STD,
    MAX_LR,
    MAX_SEED,
    MIN_LR,
    TrainConfig,
)

# Where the from-scratch model is not the chapter's code, said wherever it shows.
SCRATCH_SOFTMAX_NOTE = (
    "One difference from the chapter's code: this from-scratch `softmax` subtracts each row's largest score "
    "before `exp` (the same probabilities wherever the chapter's are finite); d2l 3.6's is plain "
    "`exp(X) / exp(X).sum(1)`. When a run blows up, the chapter's `exp` overflows to inf and inf / inf is nan, "
    "so its loss reads **nan**; here `exp` never overflows, the true class's probability rounds to 0 instead, and "
    "the loss reads **inf**. Same blow-up, another symptom."
)

_CHAPTER = TrainConfig()  # the chapter's setting (batch 256, lr 0.1, 10 epochs) is the default

IMPL = choice_param("train_impl", _CHAPTER.impl, IMPL_NAMES, "Implementation", help=SCRATCH_SOFTMAX_NOTE)
LR = float_param("train_lr", _CHAPTER.lr, MIN_LR, MAX_LR, "Learning rate η", "number_input", step=0.01, format="%g")
BATCH = int_param("train_batch_size", _CHAPTER.batch_size, 1, MAX_BATCH_SIZE, "Batch size", "number_input")
EPOCHS = int_param("train_epochs", _CHAPTER.epochs, 1, MAX_EPOCHS, "Epochs", "number_input")
SEED = int_param("train_seed", _CHAPTER.seed, 0, MAX_SEED, "Seed", "number_input")
INIT_STD = float_param(
    "train_init_std",
    _CHAPTER.init_std,
    0.0,
    MAX_INIT_STD,
    "Init std σ",
    "number_input",
    step=0.005,
    format="%g",
    help="The initial weights are drawn from N(0, σ²); the bias starts at 0.",
)
TRAINING_CONTROLS = [IMPL, LR, BATCH, EPOCHS, SEED, INIT_STD]
FIELD_OF = dict(zip((p.key for p in TRAINING_CONTROLS), ("impl", "lr", "batch_size", "epochs", "seed", "init_std")))
WHOLE_NUMBERS = ("batch_size", "epochs", "seed")  # drawn in float inputs (see int_param): read back as int


def config_from(values: dict) -> TrainConfig:
    """The TrainConfig of these settings (by TrainConfig field), whole numbers made int; ValueError if invalid."""
    values = values | {name: int(float(values[name])) for name in WHOLE_NUMBERS if name in values}
    return TrainConfig(**values).validated()


def _link_value(param, text: str):
    """A link's text as its control reads it (the implementation's label too); the text itself if it cannot."""
    try:
        return param.parse(text)
    except ReadAs as read:
        return read.value
    except ValueError:
        return text


def settings_in_session(link_too: bool = False) -> TrainConfig | None:
    """The training page's settings as this session holds them (or, with ``link_too``, as the link carries them).

    None when the session holds none of them (Streamlit drops a page's widget values some reruns after the
    student leaves it) or they cannot be trained.
    """
    values = {}
    for param in TRAINING_CONTROLS:
        if param.key in st.session_state:
            values[FIELD_OF[param.key]] = st.session_state[param.key]
        elif link_too and param.key in st.query_params:
            values[FIELD_OF[param.key]] = _link_value(param, st.query_params[param.key])
    if not values:
        return None
    try:
        return config_from(values)
    except (TypeError, ValueError):
        return None
