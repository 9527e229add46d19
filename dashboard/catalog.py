"""The dashboard's pages, in menu order: one entry registers a page everywhere.

``streamlit_app.py`` builds the navigation from this list and the home page
describes each entry, so a page that is not listed here does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    path: str  # relative to the repository root
    title: str
    icon: str
    teaches: str  # one sentence for the home page
    formula: str  # LaTeX, shown next to it


PAGES: list[PageInfo] = [
    PageInfo(
        "pages/softmax_temperature.py",
        "Softmax & temperature",
        ":material/thermostat:",
        "Turn logits into probabilities and slide the temperature: watch confidence, margin and entropy "
        "change, see the T → 0 (hardmax) and T → ∞ (uniform) limits, and why softmax subtracts the max.",
        r"\hat{y}_j = \frac{\exp(o_j/T)}{\sum_k \exp(o_k/T)}",
    ),
    PageInfo(
        "pages/loss_curves.py",
        "L1, L2 & Huber losses",
        ":material/show_chart:",
        "Drag a prediction along the L2, L1 and Huber curves: see each loss, its gradient and its "
        "noise density exp(−loss)/Z, and take one gradient step under each: L2's step grows with the residual d, "
        "L1's stays the same size, so L2 leaps past L1 far from the target (|d| > 1) and creeps near it.",
        r"\ell_{\text{Huber}}(d) = \begin{cases} \tfrac12 d^2 & |d| \le \delta \\ \delta(|d| - \tfrac12\delta) & \text{else} \end{cases}",
    ),
    PageInfo(
        "pages/cross_entropy_steps.py",
        "Cross-entropy, step by step",
        ":material/stairs:",
        "Run the chapter's loss one line of torch at a time on a table you can edit: pick each example's "
        "probability of its true class, take −log, average, and get the same number from logits.",
        r"l = -\frac{1}{n}\sum_{i} \log \hat{y}_{i,\,y_i}",
    ),
    PageInfo(
        "pages/training.py",
        "Train on Fashion-MNIST",
        ":material/model_training:",
        "Train the chapter's model with your own learning rate, batch size and epochs; watch the curves, "
        "see which clothes it confuses, and compare runs.",
        r"\mathbf{W} \leftarrow \mathbf{W} - \frac{\eta}{|\mathcal{B}|} \sum_{i \in \mathcal{B}} \partial_{\mathbf{W}} l^{(i)}",
    ),
    PageInfo(
        "pages/inside_model.py",
        "Inside the model",
        ":material/visibility:",
        "Look at what a trained model learned: each class's 784 weights as a picture forming epoch by epoch, "
        "which pixels made an image a Coat rather than a Pullover, and what it says about your own photo.",
        r"o_j = \mathbf{x} \cdot \mathbf{w}_j + b_j = \sum_{p} x_p W_{pj} + b_j",
    ),
    PageInfo(
        "pages/calibration.py",
        "Confidence and calibration",
        ":material/tune:",
        "See how confident a trained model really is (reliability diagram, ECE), fix it with one temperature "
        "fitted on held-out test images, and compare runs with the best linear model (L-BFGS).",
        r"T^\star = \arg\min_T \mathrm{NLL}(\mathbf{o}/T)",
    ),
]
