"""README screenshots of a running adsearch, taken in Debian's headless Chromium.

    python main.py serve --port 8000 &
    python tools/screenshots.py --url http://127.0.0.1:8000 --query "coffee"
    python tools/screenshots.py --url http://127.0.0.1:8000 --eda    # the /EDA page instead
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path
from urllib.parse import urlencode

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
# (file name, viewport width, height)
VIEWS = [("index.png", 1280, 900), ("index-390px.png", 390, 844)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--query", default="coffee")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    parser.add_argument("--eda", action="store_true", help="the /EDA page: eda.png (all of it), eda-map.png")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.eda:
        return eda_shots(args.url, args.out)
    page_url = f"{args.url}/index?{urlencode({'q': args.query, 'k': 12})}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        for name, width, height in VIEWS:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(page_url)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=args.out / name)
            print(f"wrote {args.out / name}")
            if width >= 1000:  # the first result's preview, then its own page, opened as a person would
                page.locator("#results .card a.thumb").first.click()
                page.wait_for_selector("#preview h1")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=args.out / "preview.png")
                print(f"wrote {args.out / 'preview.png'}")
                page.get_by_role("link", name="Open its page").click()
                page.wait_for_url("**/view/**")
                page.wait_for_load_state("networkidle")
                page.screenshot(path=args.out / "view.png")
                print(f"wrote {args.out / 'view.png'}")
            page.close()
        browser.close()


def eda_shots(url: str, out: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(f"{url}/EDA", timeout=120_000)  # the first load computes the overview
        page.wait_for_load_state("networkidle")
        # The near-duplicate pairs' thumbnails load lazily, below the first screen: load them all first,
        # or the whole-page shot shows grey boxes where they go.
        page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach((img) => { img.loading = 'eager'; })")
        for _ in range(120):  # a Python loop: wait_for_function evaluates a string, which the CSP refuses
            if page.evaluate("[...document.images].every((img) => img.complete)"):
                break
            page.wait_for_timeout(500)
        page.screenshot(path=out / "eda.png", full_page=True)
        page.locator("#map").screenshot(path=out / "eda-map.png")  # the section the README shows
        print(f"wrote {out / 'eda.png'} and {out / 'eda-map.png'}")
        browser.close()


if __name__ == "__main__":
    main()
