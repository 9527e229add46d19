"""softmax_core: the numerics, data, training and figures behind the dashboard.

Plain Python on torch; it never imports streamlit, so it can be tested,
benchmarked and used from the command line without a server.
"""

from softmax_core.cross_entropy import (
    CrossEntropyTrace,
    LogitsTrace,
    cross_entropy,
    cross_entropy_from_logits,
    cross_entropy_trace,
    logits_trace,
    one_hot,
    pick_true_class,
)
from softmax_core.softmax import (
    confidence,
    entropy,
    hardmax,
    log_softmax,
    margin,
    max_entropy,
    naive_softmax,
    softmax,
)

__all__ = [
    "CrossEntropyTrace",
    "LogitsTrace",
    "confidence",
    "cross_entropy",
    "cross_entropy_from_logits",
    "cross_entropy_trace",
    "entropy",
    "hardmax",
    "log_softmax",
    "logits_trace",
    "margin",
    "max_entropy",
    "naive_softmax",
    "one_hot",
    "pick_true_class",
    "softmax",
]
