"""Benchmark: page loads in headless Chromium against a floor app, reruns, exports, lint, scale.

``python -m bench [--runs 5] [--scale 1000] [--out bench/out/results.json]`` prints a table of medians
and writes it as JSON. Every page time is measured in the same run as the floor (a one-line
Streamlit app served and loaded the same way), and reported as a ratio to it. Not part of the tests:
targets are reported, not asserted (see the README's "Performance" section).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

from .browser import ARGS, HINT, chromium, wait_drawn
from .server import serve

ROOT = Path(__file__).resolve().parents[1]
COMPARE = ["llama-3.1-8b-instruct", "qwen3-8b", "gemma-2-9b", "gpt-oss-20b"]
TARGETS = {"page_cold_ratio": 1.3, "page_warm_ratio": 2.0, "page_cold_ratio_scale": 1.5, "rerun_server_ms_scale": 100,
           "export_warm_svg_ms": 50, "export_warm_png_ms": 200, "export_warm_pdf_ms": 200, "lint_scale_s": 2.0,
           "figure_cold_ms": 500, "figure_warm_ms": 150}
FIGURE = ["llama-3.1-8b-instruct", "qwen3-8b", "gemma-3-27b-it", "deepseek-v3"]  # the comparison figure measured


@contextmanager
def server(script: str, specs: Path | None = None, cwd: Path = ROOT):
    """A ``streamlit run`` server of the tree at ``cwd``, offline, on ``specs`` if given; yields (url, pid)."""
    with serve(script, cwd, {"HF_HUB_OFFLINE": "1", **({"GALLERY_SPECS": str(specs)} if specs else {})}) as (url, proc):
        yield url, proc.pid


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_rounds(browser, targets: dict[str, tuple[str, bool]], runs: int) -> dict[str, list[tuple[float, float]]]:
    """Per target ``name → (url, has diagram)``: ms from navigation to a fully rendered page, (cold, warm) per run.

    Cold: a fresh browser context (empty HTTP cache: the JS chunks a page needs are fetched and compiled).
    Warm: the same page loaded again in that context, as a returning visitor. Each run loads every target in
    turn, the floor first, so a page and the floor it is divided by are measured seconds apart (the load of a
    shared machine drifts over minutes).
    """
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
    for _ in range(runs):
        for name, (url, svg) in targets.items():
            context = browser.new_context()
            page = context.new_page()
            pair = []
            for _ in ("cold", "warm"):
                start = time.perf_counter()
                page.goto(url)
                wait_drawn(page, svg)
                pair.append((time.perf_counter() - start) * 1000)
                page.goto("about:blank")
            context.close()
            times[name].append((pair[0], pair[1]))
    return times


def rerun_ms(browser, url: str, widget: str, choices: list[tuple[str, str]], runs: int) -> float:
    """Median ms from choosing a slug in ``widget`` (selectbox or multiselect) to its name in the title."""
    times = []
    for i in range(runs):
        slug, name = choices[i % len(choices)]
        context = browser.new_context()
        page = context.new_page()
        page.goto(url)
        wait_drawn(page)
        if not page.get_by_test_id(widget).count():  # in the page's popover of controls (views.common.controls)
            page.get_by_test_id("stPopover").first.get_by_role("button").click()
            wait_drawn(page)
        page.get_by_test_id(widget).first.locator("input").fill(slug)
        start = time.perf_counter()
        page.keyboard.press("Enter")
        page.wait_for_function("name => (document.querySelector('h1') || {}).textContent?.includes(name)",
                               arg=name, timeout=60_000)
        wait_drawn(page)
        times.append((time.perf_counter() - start) * 1000)
        context.close()
    return statistics.median(times)


@contextmanager
def _one_script_cache():
    """AppTest compiles the app's scripts afresh at every run (a new ``ScriptCache`` each time, Streamlit's
    magic included: ~15 ms a rerun); a server compiles them once. One cache for all runs, as a server has."""
    from unittest import mock

    from streamlit.runtime.scriptrunner.script_cache import ScriptCache

    shared = ScriptCache()
    with mock.patch("streamlit.testing.v1.app_test.ScriptCache", lambda: shared), \
            mock.patch("streamlit.testing.v1.local_script_runner.ScriptCache", lambda: shared):
        yield


def server_rerun_ms(specs: Path, runs: int) -> dict[str, float]:
    """Server-side script time of a rerun after an interaction (AppTest: no browser, no network; the
    scripts compiled once, as by a server)."""
    with _one_script_cache():
        return _server_rerun_ms(specs, runs)


def _server_rerun_ms(specs: Path, runs: int) -> dict[str, float]:
    from streamlit.testing.v1 import AppTest

    os.environ["GALLERY_SPECS"] = str(specs)
    scaled = specs != ROOT / "arch_specs"
    pick = [_copy_of(s, scaled) for s in ("qwen3-8b", "mistral-7b-v0.1", "gpt2")]  # none of them in COMPARE[:3]
    compare = [_copy_of(s, scaled) for s in COMPARE]
    out = {}
    at = AppTest.from_file(str(ROOT / "gallery_app.py"), default_timeout=120)
    at.switch_page("views/model.py")
    at.query_params["model"] = _copy_of("llama-3.1-8b-instruct", scaled)
    at.run()
    times = []
    for i in range(runs):
        start = time.perf_counter()
        at.selectbox(key="model").set_value(pick[i % 3]).run()
        times.append((time.perf_counter() - start) * 1000)
    out["select another model"] = statistics.median(times)
    at = AppTest.from_file(str(ROOT / "gallery_app.py"), default_timeout=120)
    at.switch_page("views/compare.py")
    at.query_params["models"] = compare[:3]
    at.run()
    times = []
    for i in range(runs):
        chosen = compare[:3] + [pick[i % 3]]
        start = time.perf_counter()
        at.multiselect(key="models").set_value(chosen).run()
        times.append((time.perf_counter() - start) * 1000)
    out["add a model to Compare"] = statistics.median(times)
    os.environ.pop("GALLERY_SPECS", None)
    return out


def export_ms(runs: int) -> dict[str, dict[str, float]]:
    """Cold (nothing cached) and warm (render cache hit) export latency per format."""
    from gallery.diagram import to_dot
    from gallery.loader import load_spec
    from gallery.render import _render, render

    spec = load_spec(ROOT / "arch_specs" / "gemma-3-1b-it.yaml").spec
    dot = to_dot(spec)
    out = {}
    for fmt in ("svg", "png", "pdf"):
        cold, warm = [], []
        for _ in range(runs):
            _render.cache_clear()
            start = time.perf_counter()
            render(dot, fmt)
            cold.append((time.perf_counter() - start) * 1000)
            start = time.perf_counter()
            render(dot, fmt)
            warm.append((time.perf_counter() - start) * 1000)
        out[fmt] = {"cold_ms": statistics.median(cold), "warm_ms": statistics.median(warm)}
    return out


def figure_ms(runs: int) -> dict[str, float]:
    """The 4-model comparison figure as the Compare page makes it: its DOT (the changes included) and the page SVG,
    cold (``dot`` lays it out) and warm (the page-SVG cache hit)."""
    from gallery.comparefig import compare_dot
    from gallery.loader import load_spec
    from gallery.render import page_svg

    specs = [load_spec(ROOT / "arch_specs" / f"{slug}.yaml").spec for slug in FIGURE]
    cold, warm = [], []
    for _ in range(runs):
        page_svg.cache_clear()
        for times in (cold, warm):
            start = time.perf_counter()
            page_svg(compare_dot(specs))
            times.append((time.perf_counter() - start) * 1000)
    return {"cold_ms": statistics.median(cold), "warm_ms": statistics.median(warm)}


def lint_s(folder: Path, runs: int) -> tuple[float, int]:
    """Seconds to lint every spec of ``folder``, each run as cold as a fresh ``python -m gallery lint`` (nothing
    derived or resolved by an earlier run), and the number of specs."""
    from gallery import lint, yamlio

    times = []
    for _ in range(runs):
        lint._derive_once.cache_clear()
        yamlio.Loader._tags.clear()
        start = time.perf_counter()
        problems = lint.lint_paths([folder])
        times.append(time.perf_counter() - start)
    assert not problems, problems[:3]
    return statistics.median(times), len(list(folder.glob("*.yaml")))


def make_scaled(n: int, into: Path) -> Path:
    """``n`` valid specs: the bundled ones copied under new slugs (and names), configs vendored."""
    from gallery.yamlio import MODELINE  # noqa: F401 - the copies keep the bundled modeline

    src = ROOT / "arch_specs"
    folder = into / "specs"
    (folder / "configs").mkdir(parents=True)
    shutil.copytree(ROOT / "schema", into / "schema")
    bundled = sorted(src.glob("*.yaml"))
    for i in range(n):
        base = bundled[i % len(bundled)]
        slug = f"{base.stem}-x{i:04d}"
        text = base.read_text().replace(f"slug: {base.stem}\n", f"slug: {slug}\n", 1)
        text = re.sub(rf"^(\s+config: )configs/{re.escape(base.stem)}\.json$", rf"\g<1>configs/{slug}.json", text,
                      count=1, flags=re.M)  # source.config only: a note may name the file too
        text = re.sub(r"^name: (.*)$", lambda m: f"name: {m[1].strip(chr(34))} copy {i:04d}", text, count=1,
                      flags=re.M)
        (folder / f"{slug}.yaml").write_text(text)
        shutil.copy(src / "configs" / f"{base.stem}.json", folder / "configs" / f"{slug}.json")
    return folder


def _names(folder: Path, slugs: list[str]) -> list[tuple[str, str]]:
    from gallery.loader import load_spec

    return [(s, load_spec(folder / f"{s}.yaml").spec.name) for s in slugs]


def _copy_of(slug: str, scaled: bool) -> str:
    """A bundled slug, or the slug of its first copy in the generated folder (see make_scaled)."""
    if not scaled:
        return slug
    i = [p.stem for p in sorted((ROOT / "arch_specs").glob("*.yaml"))].index(slug)
    return f"{slug}-x{i:04d}"


def _pages(url: str, slug: str, compare: list[str]) -> dict[str, tuple[str, bool]]:
    """Every page of the app at ``url``: name → (URL, has a diagram)."""
    return {
        "Gallery": (url + "/", False),
        "Model": (f"{url}/model?model={slug}", True),
        "Compare (4 models: the figure)": (f"{url}/compare?" + "&".join(f"models={s}" for s in compare), True),
        "Compare (4 models: their diagrams)": (f"{url}/compare?" + "&".join(f"models={s}" for s in compare)
                                               + "&part=Diagrams", True),
        "Trace (one layer, T = 16)": (f"{url}/trace?slug={slug}&seq=16", False),
        "Try (a bundled model)": (f"{url}/try?base={slug}", True),
        "Family tree (every model)": (f"{url}/tree", True),
    }


def _entry(tree: Path) -> str:
    """What ``make app`` runs in ``tree``: the server file, or in revisions before it the frame itself."""
    return "gallery_server.py" if (tree / "gallery_server.py").exists() else "gallery_app.py"


def measure_pages(browser, specs: Path | None, runs: int, baseline: tuple[str, Path] | None = None) -> dict:
    """The floor and every page, loaded in turn in each run, against the same kind of server; with ``baseline``
    (a revision and its tree) that revision's pages too, in the same runs."""
    folder, scaled = specs or ROOT / "arch_specs", specs is not None
    slug = _copy_of("llama-3.1-8b-instruct", scaled)
    compare = [_copy_of(s, scaled) for s in COMPARE]
    others = _names(folder, [_copy_of(s, scaled) for s in ("qwen3-8b", "gemma-2-9b", "gpt2")])
    with ExitStack() as stack:
        floor_url, _ = stack.enter_context(server("bench/floor_app.py"))
        url, pid = stack.enter_context(server(_entry(ROOT), specs))
        targets = {"floor": (floor_url, False), **_pages(url, slug, compare)}
        if baseline:
            rev, tree = baseline
            old_url, _ = stack.enter_context(server(_entry(tree), specs, cwd=tree))
            targets |= {f"{name} at {rev}": v for name, v in _pages(old_url, slug, compare).items()}
        idle_rss = rss_mb(pid)
        times = load_rounds(browser, targets, runs)
        reruns = {
            "select another model": rerun_ms(browser, f"{url}/model?model={slug}", "stSelectbox", others, runs),
            "add a model to Compare": rerun_ms(browser, f"{url}/compare?models={compare[0]}&models={compare[1]}",
                                               "stMultiSelect", others, runs),
        }
        rss = rss_mb(pid)
    floor = times.pop("floor")

    def medians(pairs):
        return tuple(statistics.median(p[i] for p in pairs) for i in (0, 1))

    ratios = {k: [(p[0] / f[0], p[1] / f[1]) for p, f in zip(v, floor)] for k, v in times.items()}
    return {"floor_ms": medians(floor), "pages_ms": {k: medians(v) for k, v in times.items()},
            "ratios": {k: medians(v) for k, v in ratios.items()},
            "ratio_ranges": {k: tuple((min(r[i] for r in v), max(r[i] for r in v)) for i in (0, 1))
                             for k, v in ratios.items()},  # the runs' lowest and highest ratios: the noise
            "baseline": baseline[0] if baseline else None,
            "rerun_browser_ms": reruns, "server_rss_mb": {"after_start": idle_rss, "after_run": rss}}


@contextmanager
def checkout(rev: str):
    """The tree of git revision ``rev`` in a temporary folder (``git archive``; the working tree is untouched)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median reported); default 5")
    parser.add_argument("--scale", type=int, default=1000, help="generated specs for the scale run (0: skip)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "out" / "results.json"), help="JSON output path")
    parser.add_argument("--baseline", metavar="REV", help="also load the pages of git revision REV (e.g. main) in the "
                        "same runs, for a before/after on one machine state")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    executable = chromium()
    if executable is None:
        parser.error(f"no Chromium found: {HINT}")

    results: dict = {"runs": args.runs, "targets": TARGETS}
    results["export"] = export_ms(args.runs)
    results["figure"] = figure_ms(args.runs)
    results["lint_bundled"] = dict(zip(("seconds", "specs"), lint_s(ROOT / "arch_specs", args.runs)))
    results["rerun_server_ms"] = server_rerun_ms(ROOT / "arch_specs", args.runs)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=ARGS)
        with ExitStack() as stack:
            baseline = (args.baseline, stack.enter_context(checkout(args.baseline))) if args.baseline else None
            results["bundled"] = measure_pages(browser, None, args.runs, baseline)
        if args.scale:
            with tempfile.TemporaryDirectory() as tmp:
                folder = make_scaled(args.scale, Path(tmp))
                results["lint_scale"] = dict(zip(("seconds", "specs"), lint_s(folder, max(1, args.runs // 2))))
                results["scale"] = measure_pages(browser, folder, args.runs)
                results["rerun_server_ms_scale"] = server_rerun_ms(folder, args.runs)
        browser.close()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(report(results))
    print(f"\nwrote {out}")
    return 0


def _met(ok: bool | None) -> str:
    return "—" if ok is None else "yes" if ok else "**no**"


def report(r: dict) -> str:
    """The results as a Markdown table (what the README shows), each target said met or not."""
    t, b, s = TARGETS, r["bundled"], r.get("scale")
    lines = ["| figure | bundled specs | 1,000 specs | target | met |", "|---|---|---|---|---|"]

    def pages(x, name):
        (cold, warm), (rc, rw) = x["pages_ms"][name], x["ratios"][name]
        (c0, c1), (w0, w1) = x["ratio_ranges"][name]
        return f"{cold:,.0f} / {warm:,.0f} ms ({rc:.2f}× / {rw:.2f}×; runs {c0:.2f}–{c1:.2f} / {w0:.2f}–{w1:.2f})"

    f = [f"{x['floor_ms'][0]:,.0f} / {x['floor_ms'][1]:,.0f} ms" if x else "—" for x in (b, s)]
    lines.append(f"| floor page (one st.write), cold / warm browser | {f[0]} | {f[1]} |  |  |")
    before = {n for n in b["pages_ms"] if b.get("baseline") and n.endswith(f" at {b['baseline']}")}
    for name in [n for n in b["pages_ms"] if n not in before]:
        old = f"{name} at {b.get('baseline')}"
        if old in before:  # the same page at the baseline revision, in the same runs
            lines.append(f"| {old}, cold / warm (× floor) | {pages(b, old)} | — | (before) | — |")
        ok = b["ratios"][name][0] <= t["page_cold_ratio"] and b["ratios"][name][1] <= t["page_warm_ratio"]
        if s:
            ok = ok and s["ratios"][name][0] <= t["page_cold_ratio_scale"]
        lines.append(f"| {name}, cold / warm (× floor) | {pages(b, name)} | {pages(s, name) if s else '—'} | "
                     f"≤ {t['page_cold_ratio']}× / ≤ {t['page_warm_ratio']}×; 1,000: "
                     f"≤ {t['page_cold_ratio_scale']}× cold | {_met(ok)} |")
    for name in b["rerun_browser_ms"]:
        cells = [f"{r['rerun_server_ms'][name]:,.0f} / {b['rerun_browser_ms'][name]:,.0f} ms", "—"]
        ok = None
        if s:
            cells[1] = f"{r['rerun_server_ms_scale'][name]:,.0f} / {s['rerun_browser_ms'][name]:,.0f} ms"
            ok = r["rerun_server_ms_scale"][name] <= t["rerun_server_ms_scale"]
        lines.append(f"| rerun: {name} (server / in browser) | {cells[0]} | {cells[1]} | 1,000: ≤ "
                     f"{t['rerun_server_ms_scale']} ms server | {_met(ok)} |")
    for fmt, v in r["export"].items():
        limit = t[f"export_warm_{fmt}_ms"]
        lines.append(f"| export {fmt.upper()} cold / warm | {v['cold_ms']:,.0f} / {v['warm_ms']:,.2f} ms | — | "
                     f"≤ {limit} ms warm | {_met(v['warm_ms'] <= limit)} |")
    v = r["figure"]
    lines.append(f"| comparison figure, 4 models (DOT + page SVG) cold / warm | {v['cold_ms']:,.0f} / "
                 f"{v['warm_ms']:,.0f} ms | — | ≤ {t['figure_cold_ms']} / ≤ {t['figure_warm_ms']} ms | "
                 f"{_met(v['cold_ms'] <= t['figure_cold_ms'] and v['warm_ms'] <= t['figure_warm_ms'])} |")
    lint = [f"{x['seconds'] * 1000:,.0f} ms ({x['seconds'] / x['specs'] * 1000:.2f} ms)" if x else "—"
            for x in (r["lint_bundled"], r.get("lint_scale"))]
    ok = r["lint_scale"]["seconds"] <= t["lint_scale_s"] if r.get("lint_scale") else None
    lines.append(f"| lint all specs (per spec) | {lint[0]} | {lint[1]} | 1,000: ≤ {t['lint_scale_s']:g} s "
                 f"| {_met(ok)} |")
    rss = [f"{x['server_rss_mb']['after_run']:,.0f} MB" if x else "—" for x in (b, s)]
    lines.append(f"| server RSS after the run | {rss[0]} | {rss[1]} |  |  |")
    return "\n".join(lines)
