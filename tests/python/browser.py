"""Drives Debian's Chromium through Playwright for the Rust tests of botforge's pages.

Reads a plan as JSON on stdin and prints what it saw as JSON on stdout:

    {"url": "file:///…/report.html", "chromium": "/usr/bin/chromium",
     "viewport": [1400, 1000], "steps": [
        {"wait_for": "window.botforgeReport"},     # a JS expression, until truthy
        {"eval": "window.botforgeReport.state()"}, # its value is recorded
        {"clip_hash": "<JS giving [x, y, w, h]>"}, # SHA-256 of a screenshot of that box
        {"wheel": "<JS giving [x, y]>", "dy": -300, "times": 5},
        {"hover": "<JS giving [x, y]>"},
        {"click": "<CSS selector>"},
        {"viewport": [390, 900]},
        {"frames": 2},                              # until two frames are drawn
        {"screenshot": "/path.png", "full": true}]}

Output: {"results": [one per eval / clip_hash step, in order], "console": [messages of type
error or warning], "errors": [uncaught exceptions], "requests": [every URL the page asked for],
"dialogs": [messages of alert/confirm/prompt]}. Every wait is bounded (30 s by default).
"""

import hashlib
import json
import sys
import time

from playwright.sync_api import sync_playwright

TIMEOUT_MS = 30_000


def main() -> None:
    plan = json.load(sys.stdin)
    out = {"results": [], "console": [], "errors": [], "requests": [], "dialogs": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=plan["chromium"], args=["--no-sandbox", "--disable-gpu"]
        )
        width, height = plan.get("viewport", [1400, 1000])
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(plan.get("timeout_ms", TIMEOUT_MS))
        page.on(
            "console",
            lambda m: out["console"].append(f"{m.type}: {m.text}")
            if m.type in ("error", "warning")
            else None,
        )
        page.on("pageerror", lambda e: out["errors"].append(str(e)))
        page.on("request", lambda r: out["requests"].append(r.url))

        def dialog(d):
            out["dialogs"].append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(plan["url"], wait_until="load", timeout=plan.get("timeout_ms", TIMEOUT_MS) * 4)
        for step in plan.get("steps", []):
            run(page, step, out)
        browser.close()
    json.dump(out, sys.stdout)


FRAME = "() => new Promise(done => requestAnimationFrame(() => done(true)))"


def wait_for(page, expression: str) -> None:
    """Until `expression` is truthy, checked once a frame, for at most TIMEOUT_MS. (Not
    `page.wait_for_function`: it evaluates the text inside the page, which a page's
    Content-Security-Policy without 'unsafe-eval' refuses.)"""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise SystemExit(f"still false after {TIMEOUT_MS} ms: {expression}")
        page.evaluate(FRAME)


def run(page, step, out) -> None:
    if "wait_for" in step:
        wait_for(page, step["wait_for"])
    elif "eval" in step:
        out["results"].append(page.evaluate(step["eval"]))
    elif "clip_hash" in step:
        x, y, w, h = page.evaluate(step["clip_hash"])
        png = page.screenshot(clip={"x": x, "y": y, "width": w, "height": h})
        out["results"].append(hashlib.sha256(png).hexdigest())
    elif "wheel" in step:
        x, y = page.evaluate(step["wheel"])
        page.mouse.move(x, y)
        for _ in range(step.get("times", 1)):
            page.mouse.wheel(0, step.get("dy", -300))
    elif "hover" in step:
        x, y = page.evaluate(step["hover"])
        page.mouse.move(x, y)
    elif "click" in step:
        page.click(step["click"])
    elif "viewport" in step:
        w, h = step["viewport"]
        page.set_viewport_size({"width": w, "height": h})
    elif "frames" in step:
        for _ in range(step["frames"]):
            page.evaluate(FRAME)
    elif "screenshot" in step:
        page.screenshot(path=step["screenshot"], full_page=step.get("full", False))
    else:
        raise SystemExit(f"unknown step: {step}")


if __name__ == "__main__":
    main()
