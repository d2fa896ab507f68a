"""The web console in real headless Chromium (Debian's, driven by Playwright): submit and watch a job live,
review with the candidate image, play a video. A screenshot of each page goes to var/test-artifacts/console;
the first load's bytes and time to interactive are printed (a figure, not a pass mark)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.gateway import ALICE, Gateway, gateway_stack, wait_state

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "var" / "test-artifacts" / "console"
LOADED = "[...document.querySelectorAll('{}')].some(i => i.complete && i.naturalWidth > 0)"  # an image shows
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is missing: `make test` installs it")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_stack(tmp_path_factory.mktemp("console")) as gateway:
        yield gateway


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from playwright.sync_api import sync_playwright

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    with sync_playwright() as playwright:
        # As root Chromium's sandbox cannot start; the pages are our own console on loopback.
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, chromium_sandbox=False)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser, gw: Gateway) -> Iterator:
    """One logged-in page for the module: the first load is measured on the way in."""
    # bypass_csp: the test's own wait_for_function expressions are evaluated as strings, which the CSP forbids.
    context = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    started = time.perf_counter()
    tab.goto(gw.url + "/")
    tab.wait_for_selector("#apikey")  # the module has run: the console is interactive
    interactive = time.perf_counter() - started
    loaded = tab.evaluate("""() => performance.getEntriesByType('navigation').concat(
        performance.getEntriesByType('resource')).reduce((sum, e) => sum + (e.transferSize || e.encodedBodySize), 0)""")
    print(f"\nconsole first load: {loaded / 1024:.1f} KB transferred, interactive after {interactive * 1000:.0f} ms "
          "(budget: 200 KB, 1 s)")
    tab.screenshot(path=str(ARTIFACTS / "login.png"))
    tab.fill("#apikey", ALICE)
    tab.press("#apikey", "Enter")
    tab.wait_for_selector("table.jobs")
    yield tab
    context.close()


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_submitted_job_appears_and_completes_live(page) -> None:
    page.keyboard.press("n")  # the keyboard shortcut to the submit form
    page.wait_for_selector("#prompt:focus")
    shot(page, "submit")
    page.fill("#prompt", "a paper boat on a pond")
    page.fill("#width", "256")
    page.fill("#height", "256")
    page.click("button[type=submit]")
    page.wait_for_function("document.getElementById('toast').textContent.startsWith('submitted ')")
    job_id = page.text_content("#toast").removeprefix("submitted ").strip()
    page.evaluate("window.__noReload = true")  # gone if the page reloads
    row = f'tr[data-id="{job_id}"]'
    page.wait_for_selector(row, timeout=30_000)
    page.wait_for_selector(f'{row} [data-field="state"]:text("COMPLETED")', timeout=60_000)
    assert page.evaluate("window.__noReload") is True
    shot(page, "jobs")
    page.click(f"{row} a")
    page.wait_for_selector("#job-state:text('COMPLETED')")
    page.wait_for_function(LOADED.format("img.preview"))
    assert page.locator("ol.timeline li").count() >= 3
    shot(page, "job")


def test_review_shows_candidate_rejects_then_approves(page, gw: Gateway) -> None:
    with gw.client() as client:
        spec = {"spec": {"kind": "JOB_KIND_IMAGE", "image": {"prompt": "a lighthouse", "width": 256, "height": 256}},
                "review": True}
        job_id = client.post("/v1/jobs", json=spec).json()["id"]
        wait_state(client, job_id, {"AWAITING_REVIEW"})
    page.goto(f"{gw.url}/#/jobs/{job_id}")
    page.wait_for_selector("#review-title:text('round 1')")
    page.wait_for_function(LOADED.format("img.candidate"))
    shot(page, "review")
    page.fill("#prompt", "a lighthouse at night")
    page.fill("#feedback", "make it night")
    page.click("text=Reject with corrections")
    page.wait_for_selector("#review-title:text('round 2')", timeout=60_000)
    page.wait_for_function(LOADED.format("img.candidate"))
    assert "make it night" in page.text_content("ol[aria-label='previous rounds']")
    page.click("#approve")
    page.wait_for_selector("#job-state:text('COMPLETED')", timeout=60_000)
    shot(page, "reviewed")


def test_video_plays(page, gw: Gateway) -> None:
    with gw.client() as client:
        spec = {"spec": {"kind": "JOB_KIND_VIDEO", "video": {"prompt": "waves", "width": 320, "height": 180,
                                                             "durationSeconds": 1, "fps": 12}}}
        job_id = client.post("/v1/jobs", json=spec).json()["id"]
    page.goto(f"{gw.url}/#/jobs/{job_id}")
    page.wait_for_selector("#job-state:text('COMPLETED')", timeout=90_000)
    video = page.wait_for_selector("video")
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=video, timeout=30_000)
    duration = video.evaluate("v => v.duration")
    assert 0.5 < duration < 2
    shot(page, "video")


def test_batches_stats_and_phone_width(page, gw: Gateway) -> None:
    with gw.client() as client:
        jobs = [{"spec": {"kind": "JOB_KIND_NULL", "null": {"duration": "0.2s", "failWith": "NO_DISK"}}}]
        batch_id = client.post("/v1/batches", json={"jobs": jobs}).json()["id"]
        wait_state(client, batch_id, {"FAILED"})
    page.goto(f"{gw.url}/#/batches")
    page.wait_for_selector(f"a:text('{batch_id}')")
    page.click("text=Retry failed")
    page.wait_for_function("document.getElementById('toast').textContent.includes('Retry failed')")
    shot(page, "batches")
    page.keyboard.press("s")
    page.wait_for_selector("text=Success rate")
    shot(page, "stats")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{gw.url}/#/jobs")
    page.wait_for_selector("table.jobs")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")  # no sideways scroll
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focused element shows it
    shot(page, "jobs-phone")
