"""A real browser (Debian's chromium, driven by Playwright) uses the app like a person would."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

from edge.classifier import EcgClassifier
from tests.conftest import SAMPLES, SHIPPED_MODEL

pytest.importorskip("gradio")
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

# Flags for a sandboxed, offline machine: no background network, no GPU, root-friendly.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="module")
def app_url():
    import app_gradio

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo = app_gradio.launch(port=port, block=False)
    yield f"http://127.0.0.1:{port}/"
    demo.close()
    demo.scratch.remove()


def test_upload_see_the_class_download_the_report(app_url, tmp_path):
    scan = SAMPLES / "mi" / "MI(29).jpg"
    expected = EcgClassifier.create_from_model_path(SHIPPED_MODEL).classify(scan).label.display_name
    artifacts = Path(os.environ.get("ECG_EDGE_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1100}, accept_downloads=True)
            page.goto(app_url, wait_until="networkidle")
            page.locator("input[type=file]").first.set_input_files(str(scan))
            page.get_by_role("button", name="Analyse").click()
            page.get_by_role("heading", name=f"{expected} (").wait_for(timeout=60_000)
            with page.expect_download(timeout=30_000) as download:
                page.locator("a[download$='.pdf']").first.click()
            pdf = tmp_path / "report.pdf"
            download.value.save_as(pdf)
            suggested = download.value.suggested_filename
            screenshot = artifacts / "app.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert pdf.read_bytes().startswith(b"%PDF")
    assert suggested == "ecg-report-MI_29_.pdf"  # the upload name, reduced to safe characters
    assert screenshot.stat().st_size > 10_000
