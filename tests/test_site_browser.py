"""bench site in a real browser (marker ``browser``, tox env ``browser``): headless Chromium from the system packages
(``/usr/bin/chromium``; ``.ci/install_chromium.sh`` installs it) loads the index and a paper page of the fixture
site (tests/site_fixture.py) from ``file://``.

Checked: the DOM after load has the tables, the figures with their alt text and the sort buttons ``static/sort.js``
adds (so the script ran from ``file://``); a screenshot of each page is saved as a test artefact
(``$BENCH_BROWSER_ARTEFACTS``, else the test's temporary folder); and Chromium's network log shows that no request
left the machine: the page asked for nothing but local files, and no HTTP request, DNS query or socket payload went
out. Chromium also starts requests of its own (component updates, account checks: initiator "not an origin");
``--host-resolver-rules`` resolves every host name to "not found", so those fail before any DNS query, which the
second check asserts. A planted ``https://`` image proves the first check catches a page that loads from the network.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.site import build_site
from site_fixture import PAPERS, Node, make_tree, parse_html

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("BENCH_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1280,1600"]
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")
# network-log events that only appear when something went out: a DNS query, an HTTP request sent, socket payload
TRAFFIC_EVENTS = {"DNS_TRANSACTION", "DNS_TRANSACTION_QUERY", "HOST_RESOLVER_SYSTEM_TASK",
                  "HTTP_TRANSACTION_SEND_REQUEST", "SOCKET_BYTES_SENT", "UDP_BYTES_SENT"}


def load(url: str, work: Path, name: str, screenshot: Path | None = None) -> tuple[Node, dict[str, Any]]:
    """Chromium's DOM of ``url`` after load (``--dump-dom``) and its network log; optionally a screenshot."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run .ci/install_chromium.sh (Debian package chromium), or set "
                    "BENCH_CHROMIUM to a Chromium binary")
    netlog = work / f"{name}-netlog.json"
    command = [str(CHROMIUM), *FLAGS, f"--user-data-dir={work / f'{name}-profile'}", f"--log-net-log={netlog}",
               "--dump-dom", *([f"--screenshot={screenshot}"] if screenshot else []), url]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"chromium exited {done.returncode}: {done.stderr[-3000:]}"
    return parse_html(done.stdout), json.loads(netlog.read_text())


def page_requests(netlog: dict[str, Any]) -> list[str]:
    """URLs of the network requests a document started (every request but Chromium's own, whose initiator is
    "not an origin"); file: loads never reach the network stack, so a local page leaves this empty."""
    start = netlog["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [event["params"]["url"] for event in netlog["events"]
            if event["type"] == start and "url" in event.get("params", {})
            and event["params"].get("initiator") != "not an origin"]


def traffic(netlog: dict[str, Any]) -> list[str]:
    """Names of the logged events that mean data went out (:data:`TRAFFIC_EVENTS`)."""
    names = {number: name for name, number in netlog["constants"]["logEventTypes"].items()}
    return sorted({names[event["type"]] for event in netlog["events"] if names.get(event["type"]) in TRAFFIC_EVENTS})


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return build_site(results_dir=make_tree(tmp_path / "tree", monkeypatch).results)


def test_index_and_paper_page_render_in_chromium_from_file_urls(site: Path, tmp_path: Path):
    artefacts = Path(os.environ.get("BENCH_BROWSER_ARTEFACTS") or tmp_path / "artefacts")
    artefacts.mkdir(parents=True, exist_ok=True)
    doms = {}
    for name in ("index", "alpha"):
        shot = artefacts / f"site-{name}.png"
        shot.unlink(missing_ok=True)
        dom, netlog = load((site / f"{name}.html").as_uri(), tmp_path, name, screenshot=shot)
        doms[name] = dom
        assert [url for url in page_requests(netlog) if not url.startswith(LOCAL_SCHEMES)] == []
        assert traffic(netlog) == []
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
        assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1280, 1600)
        print(f"screenshot: {shot}")

    (papers,) = [t for t in doms["index"].iter("table") if "papers" in t.attrs.get("class", "")]
    headers = papers.iter("thead")[0].iter("th")
    assert all(th.iter("button") for th in headers)  # sort.js ran from file:// and made every header a button
    assert sorted(row.iter("th")[0].text() for row in papers.iter("tbody")[0].iter("tr")) == sorted(PAPERS)

    tables = {t.attrs["data-table"]: t for t in doms["alpha"].iter("table") if "data-table" in t.attrs}
    assert {name: len(t.iter("tbody")[0].iter("tr")) for name, t in tables.items()} == {"main": 6, "ablation": 1}
    statuses = {td.text() for td in tables["main"].iter("td") if "status" in td.attrs.get("class", "").split()}
    assert statuses == {"match", "within tolerance", "mismatch", "missing", "smoke", "unreported"}
    images = doms["alpha"].iter("img")
    assert len(images) == 4 and all(img.attrs["alt"] and (site / img.attrs["src"]).is_file() for img in images)


def test_the_network_check_catches_a_planted_https_image(site: Path, tmp_path: Path):
    page = site / "alpha.html"
    page.write_text(page.read_text().replace("<h1>", '<img src="https://planted.invalid/figure.png" alt="planted"><h1>',
                                             1))
    dom, netlog = load(page.as_uri(), tmp_path, "planted")
    assert "planted" in [img.attrs["alt"] for img in dom.iter("img")]
    assert [url for url in page_requests(netlog) if not url.startswith(LOCAL_SCHEMES)] == [
        "https://planted.invalid/figure.png"]
    assert traffic(netlog) == []  # the host-resolver rule kept even this request on the machine


CLICK_SCRIPT = """window.addEventListener("load", function () {
  document.querySelectorAll("table.sortable thead th:first-child button").forEach(function (b) { b.click(); });
});
"""


def test_sort_script_orders_numbers_as_numbers_after_a_click(site: Path, tmp_path: Path):
    """A test-only script clicks the first header of every sortable table once (ascending): numbers sort as numbers
    (-1, 9, 10, where text order would give -1, 10, 9) before text, and the header says aria-sort="ascending"."""
    (site / "static" / "click.js").write_text(CLICK_SCRIPT)
    planted = ('<table class="sortable" id="probe"><thead><tr><th scope="col">n</th></tr></thead><tbody>'
               + "".join(f"<tr><td>{v}</td></tr>" for v in ("9", "b", "10", "", "-1")) + "</tbody></table>")
    page = site / "probe.html"
    page.write_text((site / "index.html").read_text().replace("<h1>", planted + "<h1>", 1)
                    .replace("</body>", '<script src="static/click.js" defer></script></body>', 1))
    dom, _ = load(page.as_uri(), tmp_path, "probe")
    (probe,) = [t for t in dom.iter("table") if t.attrs.get("id") == "probe"]
    assert [td.text() for td in probe.iter("td")] == ["-1", "9", "10", "", "b"]
    assert probe.iter("th")[0].attrs.get("aria-sort") == "ascending"
    (papers,) = [t for t in dom.iter("table") if "papers" in t.attrs.get("class", "")]
    assert papers.iter("thead")[0].iter("th")[0].attrs.get("aria-sort") == "ascending"  # the index's own table
