"""Open every page of the built book in headless Chromium, with no network, and check
what a reader sees.

    python tools/browser_check.py _build/html            # every page; exit 1 on a problem
    python tools/browser_check.py _build/html --page chapters/05_cnn.html

The book is served from 127.0.0.1 by a server in this process; Chromium gets a proxy that
does not exist and a host resolver that knows no name, so a page that needs the network
shows it the way an offline reader would see it, and every request it tries is reported.
The browser is driven over the DevTools protocol (a websocket, ``websocket-client``).

Each problem names its check (see CHECKS), the page, and what was found. All pages are
checked and all problems are reported, so one run shows everything that is wrong.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# What each check means. The page probe (PROBE below) and check_page use these names.
CHECKS = {
    "math": "every formula is typeset by MathJax, with no MathJax error and no raw TeX left in the text",
    "widget": "no widget area is left blank (a widget view that nothing rendered, or an empty output)",
    "traceback": "no cell output is a traceback, an error or a stderr message",
    "raw-markup": "no raw Markdown or MyST in the text: roles such as {glue:text} or {eq}, fences, :label:, pipe tables",
    "bare-number": "no output that is a lone number with nothing to say what it is (an unsuppressed glue() call)",
    "jargon": "no internal jargon such as 'seed 003' for the source articles",
    "nav-title": "a page that is not a chapter is not titled like one ('Chapter 3: ...')",
    "title-first": "the page opens with its title: no cell (such as the set-up cell) above it",
    "exercise-number": "an exercise box labelled ex-N-M is titled Exercise N.M, the number its grader and stub use",
    "toggle": "a hidden reference solution is behind a toggle that says 'solution'",
    "equation-number": "equations of chapter N are numbered (N.1), (N.2), ... in order",
    "link": "every link inside the book leads to a page and an anchor that exist",
    "image": "every image loads",
    "network": "the page requests nothing outside the book (it must work offline)",
    "js-error": "no JavaScript error",
    "equation-width": "no display equation is wider than the text column",
    "cut-off": "no table, figure or output is cut off by the text column",
    "code-scroll": "no code block needs sideways scrolling",
}

FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
    "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--disable-dev-shm-usage",
    # Offline: no name resolves and every request would go to a proxy that is not there.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
    "--remote-debugging-port=0",
]

# Runs in the page once it has loaded and MathJax has finished; returns what it found.
PROBE = r"""
async () => {
  const problems = [];
  const add = (check, detail) => problems.push([check, detail.replace(/\s+/g, ' ').slice(0, 160)]);
  const article = document.querySelector('.bd-article') || document.querySelector('article') || document.body;
  const column = article.getBoundingClientRect();
  const style = getComputedStyle(article);
  const left = column.left + parseFloat(style.paddingLeft), right = column.right - parseFloat(style.paddingRight);
  const where = (el) => {
    let node = el;
    while (node && node !== article) {
      const section = node.closest('section');
      if (!section) break;
      const heading = section.querySelector('h1, h2, h3, h4');
      if (heading) return heading.textContent.replace(/[#¶]/g, '').trim().slice(0, 50);
      node = section.parentElement;
    }
    return 'top of page';
  };

  // math
  if (document.querySelector('.math')) {
    if (!(window.MathJax && window.MathJax.startup)) add('math', 'MathJax did not load');
    for (const el of document.querySelectorAll('.math')) {
      if (!el.querySelector('mjx-container')) add('math', `not typeset in "${where(el)}": ${el.textContent}`);
    }
  }
  for (const el of document.querySelectorAll('mjx-merror, [data-mjx-error]')) {
    add('math', `MathJax error in "${where(el)}": ${el.getAttribute('data-mjx-error') || el.textContent}`);
  }

  // widgets and blank outputs
  for (const el of document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')) {
    const area = el.parentElement;
    const drawn = [...area.children].some((c) => c !== el && c.getBoundingClientRect().height > 4);
    if (!drawn) add('widget', `a widget view that nothing drew, in "${where(el)}"`);
  }
  for (const el of document.querySelectorAll('.cell_output')) {
    const box = el.getBoundingClientRect();
    const content = el.textContent.trim() || el.querySelector('img, svg, canvas, iframe, video');
    if (box.height < 4 || !content) add('widget', `an empty output area in "${where(el)}"`);
  }

  // tracebacks, errors and stderr
  const lastLine = (el) => {
    const lines = (el.querySelector('pre') || el).textContent.trim().split('\n');
    const arrow = lines.filter((line) => line.startsWith('---->')).slice(-1)[0];
    return lines.slice(-1)[0] + (arrow ? ` at ${arrow.slice(5).trim()}` : '');
  };
  for (const el of document.querySelectorAll('.output.traceback, .output.stderr, .output.error')) {
    add('traceback', `in "${where(el)}": ${lastLine(el)}`);
  }
  for (const el of document.querySelectorAll('.cell_output')) {
    if (/Traceback \(most recent call last\)/.test(el.textContent) && !el.querySelector('.traceback')) {
      add('traceback', `in "${where(el)}": ${lastLine(el)}`);
    }
  }

  // raw Markdown or MyST in the text (code, math and scripts are not text)
  const rawPatterns = [
    [/\{(glue|glue:text|glue:figure|glue:md|glue:any|eq|ref|numref|term|cite|cite:p|cite:t|doc|download|abbr|math|sub-ref)\}/, 'MyST role'],
    [/```|^\s*:::/m, 'fence'],
    [/^\s*:(label|class|name|width|align|tags):/m, 'directive option'],
    // a pipe table's rule row; Sphinx's smartquotes turn its --- into dashes
    [/\|\s*:?(-{3,}|[\u2014\u2013]+):?\s*\|/, 'pipe table'],
    [/^\s*\|[^\n]*\|\s*\n\s*\|[^\n]*\|\s*$/m, 'pipe table'],
    [/\*\*[^*\s][^*]*\*\*/, 'Markdown bold'],
    [/\[[^\]\n]+\]\((https?:|\.{0,2}\/|#)[^)\s]*\)/, 'Markdown link'],
  ];
  const skip = 'pre, code, script, style, mjx-container, .math, kbd, textarea, .cell_input, .highlight, nav, .bd-sidebar-primary, .bd-sidebar-secondary';
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  const textByBlock = new Map();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const block = parent.closest('p, li, td, th, dd, dt, h1, h2, h3, h4, h5, h6, div, caption, figcaption') || parent;
    textByBlock.set(block, (textByBlock.get(block) || '') + node.textContent);
  }
  for (const [block, text] of textByBlock) {
    const seen = new Set();
    for (const [pattern, name] of rawPatterns) {
      const match = text.match(pattern);
      if (match && !seen.has(name)) {
        seen.add(name);
        const at = Math.max(0, match.index - 30);
        add('raw-markup', `${name} in "${where(block)}": …${text.slice(at, match.index + 60)}…`);
      }
    }
    const seed = text.match(/\bseeds?\s+0\d\d\b/i);
    if (seed) add('jargon', `"${seed[0]}" in "${where(block)}"`);
  }

  // a lone number as the whole output of a cell
  for (const el of document.querySelectorAll('.output.text_plain')) {
    const text = (el.querySelector('pre') || el).textContent.trim();
    if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) add('bare-number', `"${text}" in "${where(el)}"`);
  }

  // links and images: the page reports them, the caller checks the targets
  const links = [...document.querySelectorAll('a[href]')].map((a) => a.href);
  for (const img of document.images) img.loading = 'eager';
  await Promise.all([...document.images].map((img) => img.complete ? null :
    new Promise((done) => { img.onload = img.onerror = done; setTimeout(done, 5000); })));
  for (const img of document.images) {
    if (!img.complete || img.naturalWidth === 0) add('image', `does not load: ${img.getAttribute('src')}`);
  }

  // widths at this window size
  for (const el of document.querySelectorAll('mjx-container[display="true"]')) {
    let lo = Infinity, hi = -Infinity;
    for (const part of el.querySelectorAll('*')) {
      const box = part.getBoundingClientRect();
      if (box.width === 0) continue;
      lo = Math.min(lo, box.left); hi = Math.max(hi, box.right);
    }
    const container = el.getBoundingClientRect();
    if (hi - lo > right - left + 1 || el.scrollWidth > el.clientWidth + 1 || hi > right + 1 || lo < left - 1) {
      add('equation-width', `${Math.round(hi - lo)} px wide in a ${Math.round(right - left)} px column, in "${where(el)}": ${(el.closest('.math') || el).textContent.slice(0, 60)}`);
    }
  }
  const scrolls = (el) => {
    for (let node = el.parentElement; node && node !== document.body; node = node.parentElement) {
      const overflow = getComputedStyle(node).overflowX;
      if ((overflow === 'auto' || overflow === 'scroll') && node.scrollWidth > node.clientWidth + 1) return node;
      if (node === article) break;
    }
    return null;
  };
  for (const el of article.querySelectorAll('table, img, svg, pre, .cell_output > *, figure')) {
    if (el.closest('mjx-container')) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0) continue;
    if (el.matches('pre')) {
      if (el.scrollWidth > el.clientWidth + 1 || scrolls(el)) {
        add('code-scroll', `${el.scrollWidth} px of code in ${el.clientWidth} px, in "${where(el)}": ${el.textContent.split('\n').reduce((a, b) => (b.length > a.length ? b : a), '').trim().slice(0, 70)}`);
      }
      continue;
    }
    if (box.right > right + 1 && !scrolls(el)) {
      add('cut-off', `${el.tagName.toLowerCase()} reaches ${Math.round(box.right - left)} px in a ${Math.round(right - left)} px column, in "${where(el)}"`);
    } else if (el.matches('table') && scrolls(el)) {
      add('cut-off', `a table needs sideways scrolling (${Math.round(box.width)} px in a ${Math.round(right - left)} px column), in "${where(el)}"`);
    }
  }
  // the title comes first
  const heading = article.querySelector('h1');
  if (heading) {
    for (const el of article.querySelectorAll('.cell, .cell_output, div.highlight, pre')) {
      if (heading.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING) {
        add('title-first', `a cell above the title: ${el.textContent.trim().slice(0, 80)}`);
        break;
      }
    }
  }

  // exercise numbers: the label ex-N-M and the box's title
  for (const el of article.querySelectorAll('.exercise[id^="ex-"]')) {
    const label = el.id.match(/^ex-(\d+[a-z]?)-(\d+)$/);
    const titleText = (el.querySelector('.admonition-title') || el).textContent.trim();
    const shown = titleText.match(/^Exercise\s+([\da-z.]+)/);
    if (label && (!shown || shown[1] !== `${label[1]}.${label[2]}`)) {
      add('exercise-number', `box ${el.id} is titled "${titleText.slice(0, 60)}", want "Exercise ${label[1]}.${label[2]}"`);
    }
  }

  // equation numbers per chapter, read from the chapter's title "N. ..."
  const chapter = heading && heading.textContent.trim().match(/^(\d+[a-z]?)\.\s/);
  if (chapter) {
    let expected = 1;
    for (const el of article.querySelectorAll('.eqno')) {
      const text = el.textContent.replace(/[#¶]/g, '').trim();
      if (text !== `(${chapter[1]}.${expected})`) {
        add('equation-number', `equation ${text} where (${chapter[1]}.${expected}) was expected, in "${where(el)}"`);
      }
      expected += 1;
    }
  }

  // solution toggles
  for (const el of article.querySelectorAll('details')) {
    const summary = el.querySelector('summary');
    if (/BEGIN SOLUTION/.test(el.textContent) && summary && !/solution/i.test(summary.textContent)) {
      add('toggle', `a solution behind "${summary.textContent.trim().split('\n')[0]}", in "${where(el)}"`);
    }
  }

  const title = document.querySelector('.bd-article h1, article h1, h1');
  return {problems, links, title: title ? title.textContent.replace(/[#¶]/g, '').trim() : ''};
}
"""


@dataclass(frozen=True)
class Problem:
    check: str
    page: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.page}: {self.detail}"


def find_chromium() -> str | None:
    """The Chromium binary: $CHROMIUM, else the first of chromium, chromium-browser on PATH."""
    if os.environ.get("CHROMIUM"):
        return shutil.which(os.environ["CHROMIUM"])
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


MISSING_CHROMIUM = (
    "browser check: Chromium was not found (looked for $CHROMIUM, chromium, chromium-browser). "
    "It opens the built book offline in a real browser. Install Debian's package with "
    "`apt-get install chromium` (as root; .ci/run does), or set CHROMIUM=/path/to/chrome."
)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # the browser drops a transfer when it leaves a page; that is not an error here
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


@contextlib.contextmanager
def serve(folder: Path):
    """Serve ``folder`` on 127.0.0.1 (a free port) for as long as the context lasts."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class Browser:
    """One headless Chromium and one tab, driven over the DevTools protocol."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900, timeout: float = 60.0):
        import websocket  # websocket-client

        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="book-browser-")
        self.process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self.profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port = self._wait_for_port()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as reply:
                    pages = [t for t in json.load(reply) if t.get("type") == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium started but opened no tab")
            time.sleep(0.1)
        self.socket = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Network.setCacheDisabled", cacheDisabled=True)

    def _wait_for_port(self) -> int:
        marker = Path(self.profile) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Chromium exited at start with status {self.process.returncode}")
            if marker.exists():
                lines = marker.read_text().split()
                if lines:
                    return int(lines[0])
            time.sleep(0.05)
        raise RuntimeError(f"Chromium wrote no DevToolsActivePort within {self.timeout} s")

    def call(self, method: str, **params):
        self.next_id += 1
        ident = self.next_id
        self.socket.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    def wait_for(self, event: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        self.socket.settimeout(1.0)
        try:
            while time.monotonic() < deadline:
                if any(e["method"] == event for e in self.events):
                    return True
                try:
                    message = json.loads(self.socket.recv())
                except Exception as exc:  # websocket timeout: poll again until the deadline
                    if type(exc).__name__ == "WebSocketTimeoutException":
                        continue
                    raise
                if "method" in message:
                    self.events.append(message)
            return False
        finally:
            self.socket.settimeout(self.timeout)

    def evaluate(self, expression: str, timeout: float = 30.0):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                           returnByValue=True, timeout=int(timeout * 1000))
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails'].get('text')} "
                               f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
        return result["result"].get("value")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.socket.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


# Waits for MathJax (when the page has it) and for book.js's layout pass (when present).
SETTLE = """
(async () => {
  if (document.readyState !== 'complete') await new Promise((r) => addEventListener('load', r, {once: true}));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  if (document.fonts) await document.fonts.ready;
  if (window.bookLayout) await window.bookLayout;
  await new Promise((r) => setTimeout(r, 100));
  return true;
})()
"""


def _ids_in(path: Path, cache: dict) -> set[str]:
    if path not in cache:
        text = path.read_text(encoding="utf-8", errors="replace")
        cache[path] = set(re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", text))
    return cache[path]


def check_links(page: str, links: list[str], base: str, root: Path, cache: dict) -> list[Problem]:
    """Links into the book must reach a file, and an anchor in it when they name one."""
    problems = []
    for href in sorted(set(links)):
        if not href.startswith(base):
            continue  # outside the book (https, mailto): not reachable offline, not checked
        parsed = urllib.parse.urlparse(href)
        relative = urllib.parse.unquote(parsed.path)[len(urllib.parse.urlparse(base).path):]
        target = root / relative
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            problems.append(Problem("link", page, f"leads to a missing file: {relative or '/'}"))
            continue
        if parsed.fragment and target.suffix == ".html":
            anchor = urllib.parse.unquote(parsed.fragment)
            if anchor not in _ids_in(target, cache):
                problems.append(Problem("link", page, f"leads to a missing anchor: {relative}#{anchor}"))
    return problems


def check_page(browser: Browser, base: str, root: Path, page: str, cache: dict) -> tuple[list[Problem], str]:
    """Load one page (``page`` is relative to ``root``) and return its problems and title."""
    browser.events.clear()
    navigation = browser.call("Page.navigate", url=base + urllib.parse.quote(page))
    if navigation.get("errorText"):
        return [Problem("link", page, f"the page does not load: {navigation['errorText']}")], ""
    for attempt in range(3):  # a page that redirects (index.html) navigates once more
        if not browser.wait_for("Page.loadEventFired", timeout=browser.timeout):
            return [Problem("js-error", page, "the page did not finish loading")], ""
        try:
            browser.evaluate(SETTLE, timeout=browser.timeout)
            found = browser.evaluate(f"({PROBE})()", timeout=browser.timeout)
            break
        except RuntimeError as exc:
            if "navigated" not in str(exc) or attempt == 2:
                raise
            browser.events = [e for e in browser.events if e["method"] != "Page.loadEventFired"]
    problems = [Problem(check, page, detail) for check, detail in found["problems"]]
    problems += check_links(page, found["links"], base, root, cache)
    for event in browser.events:
        params = event.get("params", {})
        if event["method"] == "Network.requestWillBeSent":
            url = params["request"]["url"]
            if not url.startswith((base, "data:", "blob:", "about:")):
                problems.append(Problem("network", page, f"requests {url}"))
        elif event["method"] == "Network.responseReceived":
            response = params["response"]
            if response["url"] == base + "favicon.ico":
                continue  # the browser asks for it by itself; no page links it
            if response["url"].startswith(base) and response["status"] >= 400:
                kind = "image" if params.get("type") == "Image" else "link"
                problems.append(Problem(kind, page, f"{response['status']} for {response['url'][len(base):]}"))
        elif event["method"] == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text", "")
            problems.append(Problem("js-error", page, text.split("\n")[0]))
    return problems, found["title"]


# Waits for the book's own search (Sphinx's searchtools.js, reading searchindex.js) to list results.
SEARCH_RESULTS = r"""
(async () => {
  for (let i = 0; i < 300; i++) {
    // searchtools.js adds results one by one, then writes its summary: wait for the summary
    const summary = document.querySelector('#search-results .search-summary');
    if (summary && /finished|did not match/i.test(summary.textContent)) {
      return Array.from(document.querySelectorAll('#search-results li'),
                        (li) => li.textContent.trim().replace(/\s+/g, ' ').slice(0, 100));
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
})()
"""


def search_results(browser: Browser, base: str, query: str) -> tuple[list[str] | None, list[str]]:
    """What the built book's search page lists for ``query`` (None if it never finished), and
    every URL it requested outside the book: the search must work with no network."""
    browser.events.clear()
    browser.call("Page.navigate", url=f"{base}search.html?q={urllib.parse.quote(query)}")
    if not browser.wait_for("Page.loadEventFired", timeout=browser.timeout):
        return None, []
    titles = browser.evaluate(SEARCH_RESULTS, timeout=max(browser.timeout, 40.0))
    outside = [e["params"]["request"]["url"] for e in browser.events if e["method"] == "Network.requestWillBeSent"
               and not e["params"]["request"]["url"].startswith((base, "data:", "blob:", "about:"))]
    return titles, outside


def pages_of(root: Path) -> list[str]:
    """Every HTML page the reader can reach (not search.html or genindex.html)."""
    skip = {"search.html", "genindex.html", "py-modindex.html"}
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*.html")
        if not p.relative_to(root).parts[0].startswith("_") and p.name not in skip
    )


def check_book(root: Path, pages: list[str] | None = None, width: int = 1280,
               chapter_pages: re.Pattern = re.compile(r"^chapters/")) -> list[Problem]:
    """Check ``pages`` of the built book in ``root`` (all by default); return every problem."""
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError(MISSING_CHROMIUM)
    root = Path(root).resolve()
    pages = pages or pages_of(root)
    problems: list[Problem] = []
    cache: dict = {}
    with serve(root) as base:
        browser = Browser(binary, width=width)
        try:
            for page in pages:
                found, title = check_page(browser, base, root, page, cache)
                if not chapter_pages.search(page) and re.match(r"Chapter \d+\s*:", title):
                    found.append(Problem("nav-title", page, f"titled like a chapter: {title!r}"))
                problems += found
        finally:
            browser.close()
    return problems


def report(problems: list[Problem], pages: int) -> str:
    """Every problem, grouped by check, then a summary line per check."""
    lines = []
    for check in CHECKS:
        mine = [p for p in problems if p.check == check]
        if mine:
            lines.append(f"\n{check}: {CHECKS[check]}")
            lines += [f"  {p.page}: {p.detail}" for p in mine]
    lines.append(f"\nbrowser check: {pages} pages, {len(problems)} problems")
    for check in CHECKS:
        failing = sorted({p.page for p in problems if p.check == check})
        status = "ok" if not failing else f"FAILS on {len(failing)} pages: {', '.join(failing)}"
        lines.append(f"  {check:15s} {status}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the built book, e.g. _build/html")
    parser.add_argument("--page", action="append", help="check only this page (repeatable)")
    parser.add_argument("--width", type=int, default=1280, help="window width in px (default 1280)")
    parser.add_argument("--json", type=Path, help="also write the problems to this JSON file")
    args = parser.parse_args(argv)
    if not (args.html / "index.html").is_file():
        print(f"browser check: no built book at {args.html} (run `make book` first)", file=sys.stderr)
        return 2
    try:
        pages = args.page or pages_of(args.html.resolve())
        problems = check_book(args.html, pages, width=args.width)
    except FileNotFoundError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(report(problems, len(pages)))
    if args.json:
        args.json.write_text(json.dumps([p.__dict__ for p in problems], indent=1))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
