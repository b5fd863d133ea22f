"""The web app in headless Chromium (Playwright) against a real ``imret serve``.

Set ``IMRET_SCREENSHOTS=docs/img`` to save the page's screenshots (PNG) there.
"""
from __future__ import annotations

import base64
import os
import re
import shutil
from io import BytesIO
from pathlib import Path

import pytest

from server_helpers import HELD_OUT, object_of

pytestmark = pytest.mark.shared_data

CHROMIUM = os.environ.get("IMRET_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def browser():
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (install Debian's chromium package or set IMRET_CHROMIUM)")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _screenshot(page, name: str) -> None:
    folder = os.environ.get("IMRET_SCREENSHOTS")
    if not folder:
        return
    from PIL import Image

    Path(folder).mkdir(parents=True, exist_ok=True)
    with Image.open(BytesIO(page.screenshot(full_page=False))) as image:
        image.convert("RGB").quantize(colors=128).save(Path(folder) / f"{name}.png", optimize=True)


def _open(browser, base: str, path: str = "/", **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(base + path)
    page.wait_for_selector("#index-info >> text=/15 images/")
    return context, page


def _result_ids(page) -> list[str]:
    alts = page.locator("#results img").evaluate_all("imgs => imgs.map(img => img.alt)")
    return [re.sub(r"^Result \d+: ", "", alt) for alt in alts]


def _wait_for_results(page, count: int) -> None:
    """Wait until a search finished with ``count`` results (the page's CSP forbids wait_for_function)."""
    page.locator('#results-panel[aria-busy="false"] #results li').nth(count - 1).wait_for()
    assert page.locator("#results li").count() == count


def _poll(page, script: str, expected, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while page.evaluate(script) != expected:
        assert time.monotonic() < deadline, f"{script} never became {expected!r}"
        page.wait_for_timeout(100)


def test_upload_shows_the_query_and_the_right_matches(served, browser, ukbench_dir):
    server = served[0]
    context, page = _open(browser, server.base, viewport={"width": 1000, "height": 700})
    try:
        query = ukbench_dir / f"ukbench{HELD_OUT[0]:05d}.jpg"
        page.select_option("#topk", "6")
        page.set_input_files("#file-input", str(query))
        _wait_for_results(page, 6)
        assert page.locator("#query-figure").is_visible()
        assert page.locator("#query-image").get_attribute("src").startswith("blob:")
        assert query.name in page.locator("#query-caption").inner_text()
        ids = _result_ids(page)
        assert [object_of(item) for item in ids[:3]] == [0, 0, 0]  # the other three views of the object
        first = page.locator("#results li").first
        assert first.locator(".rank").inner_text() == "#1"
        assert re.fullmatch(r"0\.\d{3}", first.locator(".score").inner_text())
        _poll(page, "() => document.querySelector('#results img').naturalWidth", 256)
        assert "Matches 1–6 of 15" in page.locator("#status").inner_text()
        _screenshot(page, "server-results")

        # paging: the next page continues the ranking
        page.click("#next")
        page.wait_for_selector("#status >> text=Matches 7–12 of 15")
        assert page.locator("#results li").first.locator(".rank").inner_text() == "#7"
        page.click("#prev")
        page.wait_for_selector("#status >> text=Matches 1–6 of 15")
    finally:
        context.close()


def test_click_a_result_then_search_with_it(served, browser, ukbench_dir):
    server = served[0]
    context, page = _open(browser, server.base, viewport={"width": 1000, "height": 700})
    try:
        page.set_input_files("#file-input", str(ukbench_dir / f"ukbench{HELD_OUT[1]:05d}.jpg"))
        _wait_for_results(page, 12)
        target = _result_ids(page)[0]
        assert object_of(target) == 1
        page.locator("#results .card").first.click()
        viewer = page.locator("#viewer")
        viewer.wait_for(state="visible")
        assert page.locator("#viewer-title").inner_text() == target
        assert page.locator("#viewer-image").get_attribute("src") == "/gallery/" + target
        _poll(page, "() => document.getElementById('viewer-image').naturalWidth", 640)
        _screenshot(page, "server-viewer")
        page.click("#viewer-search")
        page.wait_for_url(re.compile(r"/\?id="))
        _wait_for_results(page, 12)
        assert _result_ids(page)[0] == target  # the item itself, then its neighbours
        assert [object_of(item) for item in _result_ids(page)[:3]] == [1, 1, 1]  # 3 views of it are indexed
        assert page.locator("#query-image").get_attribute("src") == "/thumb/" + target
        # the URL is shareable: a fresh page on it shows the same results
        url = page.url
        other = context.new_page()
        other.goto(url)
        _wait_for_results(other, 12)
        assert _result_ids(other) == _result_ids(page)
        # back to the upload's results page, then forward again to the id search
        page.go_back()
        page.wait_for_url(re.compile(r"/$"))
        page.locator("#status >> text=Choose an image").wait_for()
        page.go_forward()
        _wait_for_results(page, 12)
        assert _result_ids(page)[0] == target
    finally:
        context.close()


def test_a_bad_upload_names_the_file(served, browser):
    server = served[0]
    context, page = _open(browser, server.base, viewport={"width": 1000, "height": 700})
    try:
        page.set_input_files("#file-input", files=[{"name": "holiday-notes.txt", "mimeType": "text/plain",
                                                    "buffer": b"this is not a photo"}])
        error = page.locator("#error")
        error.wait_for(state="visible")
        text = error.inner_text()
        assert "holiday-notes.txt" in text and "not a readable image" in text
        assert page.locator("#results li").count() == 0
        _screenshot(page, "server-error")
    finally:
        context.close()


def test_drop_and_paste_an_image(served, browser, ukbench_dir):
    server = served[0]
    context, page = _open(browser, server.base, viewport={"width": 1000, "height": 700})
    try:
        data = base64.b64encode((ukbench_dir / "ukbench00000.jpg").read_bytes()).decode()
        make_transfer = """([data, name]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
            return transfer; }"""
        transfer = page.evaluate_handle(make_transfer, [data, "dropped.jpg"])
        page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
        _wait_for_results(page, 12)
        assert "dropped.jpg" in page.locator("#query-caption").inner_text()
        assert object_of(_result_ids(page)[0]) == 0
        page.evaluate("""([data, name]) => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, {type: 'image/jpeg'}));
            document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: transfer}));
        }""", [data, "pasted.jpg"])
        page.wait_for_selector("#query-caption >> text=pasted.jpg")
        _wait_for_results(page, 12)
    finally:
        context.close()


def test_phone_sized_viewport(served, browser):
    server = served[0]
    context, page = _open(browser, server.base, "/?id=obj001/ukbench00005.jpg&k=6",
                          viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                          device_scale_factor=1)
    try:
        _wait_for_results(page, 6)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        boxes = [page.locator("#results li").nth(n).bounding_box() for n in range(3)]
        assert all(box["x"] + box["width"] <= 390 for box in boxes)
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["width"] >= 100  # a grid, several per row
        query_box = page.locator("#query-panel").bounding_box()
        results_box = page.locator("#results-panel").bounding_box()
        assert query_box["y"] + query_box["height"] <= results_box["y"] + 1  # stacked, not side by side
        assert page.locator("#file-input").evaluate("el => el.labels.length") == 1
        _screenshot(page, "server-phone")
    finally:
        context.close()
