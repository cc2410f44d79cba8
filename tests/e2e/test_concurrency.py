"""Load: 20 browser sessions using the app at once, and concurrent server-side exports.

Figures are printed (run with -s to see them); assertions are about correctness (no exception, no
lost session, every render right) and memory returning near its baseline.
"""

from __future__ import annotations

import asyncio
import random
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import ARGS, CHROMIUM

pytestmark = pytest.mark.e2e
SESSIONS = 20
READY = "[data-testid='stApp'][data-test-script-state='notRunning']"


def rss_mb(pid: int) -> float:
    line = next(ln for ln in Path(f"/proc/{pid}/status").read_text().splitlines() if ln.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


async def _session(context, url: str, slugs: list[str], rng: random.Random, until: float) -> dict:
    """One visitor, a tab of its own (its own websocket, so its own server session): gallery, a model, a
    comparison, again and again until ``until``."""
    page = await context.new_page()
    views = errors = 0
    while views == 0 or time.monotonic() < until:
        a, b = rng.sample(slugs, 2)
        for path in ("/", f"/model?model={a}", f"/compare?models={a}&models={b}"):
            # 20 browsers on 2 cores: the page's "load" event can take longer than goto's 30 s default; readiness
            # is Streamlit's own signal below, with the same generous limit
            await page.goto(url + path, wait_until="commit", timeout=120_000)
            await page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']",
                                         timeout=120_000)
            await page.wait_for_selector(READY, timeout=120_000)
            errors += await page.get_by_test_id("stException").count()
            views += 1
    await page.close()
    return {"views": views, "errors": errors}


def _run_async(coro):
    """Run ``coro`` on a fresh event loop in its own thread (pytest-playwright's sync API holds one here)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_twenty_sessions_at_once(app_server, bundled, browser_type_launch_args):
    from playwright.async_api import async_playwright

    url, proc = app_server
    slugs = sorted(bundled)

    async def run() -> tuple[float, float, list[dict]]:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            # the sessions are tabs of one browser profile: each tab has its own websocket, so its own server
            # session, while the app's JavaScript is fetched once for all of them, not once per session (the load
            # under test is the server's; 20 cold browser profiles spent the test's time in the browser)
            context = await browser.new_context()
            # a first visit loads every page once: the baseline then includes the server's imports and caches
            await _session(context, url, slugs, random.Random(99), time.monotonic())
            baseline, start = rss_mb(proc.pid), time.monotonic()
            results = await asyncio.gather(*[_session(context, url, slugs, random.Random(i), start + 30)
                                             for i in range(SESSIONS)])
            elapsed = time.monotonic() - start
            await browser.close()
            return baseline, elapsed, results

    baseline, elapsed, results = _run_async(run())
    peak = rss_mb(proc.pid)
    time.sleep(5)  # sessions are closed; let the server drop their state
    after = rss_mb(proc.pid)
    views = sum(r["views"] for r in results)
    print(f"\n{SESSIONS} sessions, {views} page views in {elapsed:.0f} s; server RSS {baseline:.0f} MB warm, "
          f"{peak:.0f} MB at the end, {after:.0f} MB 5 s later")
    assert all(r["views"] >= 3 for r in results), results  # every session got through at least one round
    assert sum(r["errors"] for r in results) == 0
    assert proc.poll() is None  # the server is still up
    assert after <= 1.5 * baseline, (baseline, after)  # per-session state is not kept after they close


def test_concurrent_exports_render_each_their_own_model(bundled):
    from gallery import render as render_module
    from gallery.diagram import to_dot

    render_module._render.cache_clear()
    jobs = [(slug, fmt) for slug in sorted(bundled)[:8] for fmt in ("svg", "png")]
    jobs += [(slug, "pdf") for slug in sorted(bundled)[8:16]]
    dots = {slug: to_dot(bundled[slug][0]) for slug, _ in jobs}

    def one(job):
        slug, fmt = job
        return slug, fmt, render_module.render(dots[slug], fmt)

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, jobs))
    for slug, fmt, data in results:
        if fmt == "svg":
            assert ET.fromstring(data).tag.endswith("svg")
            # the same bytes as this model rendered alone, outside the cache: nothing leaked between threads
            assert data == render_module._render.__wrapped__(dots[slug], "svg", 1.0, False)
        elif fmt == "png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
        else:
            assert data[:5] == b"%PDF-"
    assert len(results) == len(jobs)
