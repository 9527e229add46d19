"""How large the sign-in cookies grow with a provider's group claims, and where that breaks sign-in.

Starts oidc-provider-mock on loopback, one ``streamlit run`` and ``deploy/serve.sh 2`` behind HAProxy, all
with sign-in on; for each number of groups, signs a user with that many group ids (36-character GUIDs, as
Microsoft Entra sends them) in through Chromium, directly and through the balancer, and prints the size of
the ``Cookie`` header the browser then sends and whether the page showed the user signed in.

    python scripts/sign_in_cookie_size.py [--groups 0 50 100 200]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    import werkzeug.serving
    from oidc_provider_mock import User, app
    from playwright.sync_api import sync_playwright

    from scripts.chromium import launch_chromium
    from scripts.local_server import running_streamlit, wait_healthy
    from tests.test_browser_sign_in import write_secrets
    from tests.test_replicas import HAPROXY, free_port_pair

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[0, 50, 100, 200])
    args = parser.parse_args()
    data = os.environ.get("SOFTMAX_TEST_DATA_DIR", str(ROOT.parent / "shared" / "data" / "fashion-mnist"))

    users = [
        User(
            sub=f"g{n}",
            claims={
                "email": "ana@uni.edu",
                "email_verified": True,
                "name": "Ana",
                "groups": [str(uuid.uuid4()) for _ in range(n)],
            },
        )
        for n in args.groups
    ]
    provider = werkzeug.serving.make_server("127.0.0.1", 0, app(user_claims=users), threaded=True)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    provider_url = f"http://127.0.0.1:{provider.server_port}"
    folder = Path(tempfile.mkdtemp())
    port = free_port_pair()
    balancer = f"http://127.0.0.1:{port}"
    (folder / "one").mkdir()
    (folder / "two").mkdir()
    one = write_secrets(folder / "one", provider_url, "http://127.0.0.1:{port}/oauth2callback")
    two = write_secrets(folder / "two", provider_url, f"{balancer}/oauth2callback")
    env = {**os.environ, "SOFTMAX_DATA_DIR": data, "SOFTMAX_RUNS_DIR": str(folder / "runs"), "STREAMLIT_SECRETS_FILES": str(two),
           "BIND": "127.0.0.1", "PYTHON": sys.executable, "HAPROXY": HAPROXY}  # fmt: skip
    serve = subprocess.Popen(
        ["deploy/serve.sh", "2", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        with running_streamlit(
            {"SOFTMAX_DATA_DIR": data, "SOFTMAX_RUNS_DIR": str(folder / "runs")}, ["--secrets.files", str(one)]
        ) as direct:
            wait_healthy(balancer, timeout=120)
            with sync_playwright() as pw:
                browser = launch_chromium(pw)
                print("groups  where     cookie_header_bytes  http_status  signed_in")
                for n in args.groups:
                    for where, url in (("direct", direct), ("balancer", balancer)):
                        print(f"{n:6d}  {where:8s}  " + measure(browser, url, f"g{n}"), flush=True)
                browser.close()
    finally:
        serve.send_signal(signal.SIGINT)
        serve.wait(30)
        provider.shutdown()


def measure(browser, url: str, sub: str) -> str:
    context = browser.new_context()
    page = context.new_page()
    sizes: list[int] = []
    statuses: list[int] = []
    page.on(
        "request", lambda r: sizes.append(len(r.header_value("cookie") or "")) if r.url.rstrip("/") == url else None
    )
    page.on("response", lambda r: statuses.append(r.status) if r.url.rstrip("/") == url else None)
    try:
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("button", name="Sign in").click(timeout=60_000)
        page.wait_for_url(lambda u: "/oauth2/authorize" in u, timeout=30_000)
        page.get_by_role("button", name=sub, exact=True).click()
        try:
            page.wait_for_url(lambda u: u.rstrip("/") == url, timeout=30_000)
        except Exception:
            return f"{'-':>19s}  {'no':9s}  stuck at {page.url[:60]}: {page.inner_text('body')[:80]!r}"
        try:
            page.get_by_text("Signed in as").wait_for(timeout=30_000)
            signed = "yes"
        except Exception:
            signed = "no: " + " ".join(page.inner_text("body").split())[:70]
        return f"{max(sizes) if sizes else 0:19d}  {statuses[-1] if statuses else '-'}  {signed}"
    finally:
        context.close()


if __name__ == "__main__":
    main()
