"""axe-core, the standard accessibility engine, run inside a Playwright page (issue 23, part 1).

The engine is the npm package ``axe-core`` pinned in ``package.json`` / ``package-lock.json``
(``npm ci`` puts it in ``node_modules/``; ``.ci/run`` does that on a clean clone). Its one
file, ``axe.min.js``, is injected into the page under test; node itself is not needed to run it.
Rules are those tagged WCAG 2.0 and 2.1, levels A and AA: what WCAG 2.1 AA asks that a machine
can check. The failure message lists every violation so it can be fixed without rerunning.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AXE_JS = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_21_AA = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
SNIPPET_CHARS = 200


def axe_version() -> str:
    """The installed axe-core's version, from its package.json."""
    return json.loads((AXE_JS.parent / "package.json").read_text())["version"]


def inject_axe(page) -> None:
    """Load axe-core into the page once (a new document needs it again)."""
    if not AXE_JS.exists():
        raise FileNotFoundError(f"{AXE_JS} is missing: run `npm ci` in the repository (package.json pins axe-core)")
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE_JS))


def axe_violations(page, tags=WCAG_21_AA) -> list[dict]:
    """Run axe on the whole document with the rules of these tags; its list of violations.

    The window is first made as tall as the page: Streamlit scrolls inside its own container, and axe
    cannot tell the colours behind text scrolled out of that container's view (it reports them as
    "incomplete", not as violations), so only the first screen's contrast would be checked.
    """
    inject_axe(page)
    size = page.viewport_size
    height = page.evaluate(_PAGE_HEIGHT)
    if size and height > size["height"]:
        page.set_viewport_size({"width": size["width"], "height": min(height, MAX_HEIGHT)})
        page.wait_for_timeout(500)  # plotly redraws on resize
    try:
        results = page.evaluate(
            """(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})""",
            list(tags),
        )
    finally:
        if size:
            page.set_viewport_size(size)
    return results["violations"]


_PAGE_HEIGHT = """() => { const main = document.querySelector('[data-testid="stMain"]');
                         return main ? Math.ceil(main.scrollHeight) : 0; }"""
MAX_HEIGHT = 16_000


def describe_violations(violations: list[dict], where: str = "") -> str:
    """One paragraph per violation: rule id, impact, how many nodes, then each node's target and html."""
    lines = [f"{sum(len(v['nodes']) for v in violations)} axe violation(s){' on ' + where if where else ''}:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} [{len(violation['nodes'])}]")
        for node in violation["nodes"]:
            target = " ".join(json.dumps(t) if not isinstance(t, str) else t for t in node["target"])
            lines.append(f"    at {target}")
            lines.append(f"       {node['html'][:SNIPPET_CHARS]}")
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            if summary:
                lines.append(f"       {summary[:SNIPPET_CHARS]}")
    return "\n".join(lines)


def assert_no_violations(page, where: str = "") -> None:
    """Fail with every WCAG 2.1 A/AA violation axe finds on the page, described."""
    violations = axe_violations(page)
    assert not violations, describe_violations(violations, where or page.url)


def store_chapter_runs(runs_dir: Path, data) -> None:
    """The chapter's run (``TrainConfig()``, trained for real) and a diverged one: every page has something to show."""
    import torch

    from softmax_core.run_store import RunStore, run_key
    from softmax_core.training import TrainConfig, TrainResult, confusion_matrix, train

    store = RunStore(runs_dir)
    chapter = train(TrainConfig().validated(), data)
    confusion = confusion_matrix(chapter.weight, chapter.bias, data.test_images, data.test_labels)
    store.save(run_key(chapter.config, data.fingerprint), chapter, confusion, data.fingerprint)
    config = TrainConfig(lr=100.0, epochs=1).validated()
    blown = TrainResult(config, (), "diverged", "Loss became inf in epoch 1 (batch 2): lower the learning rate.",
                        torch.zeros(784, 10), torch.zeros(10), 0.1, batch_losses=(2.34,), diverged_at=(1, 2))  # fmt: skip
    store.save(run_key(config, data.fingerprint), blown, torch.zeros(10, 10, dtype=torch.int64), data.fingerprint)
