"""A bounded load test on 127.0.0.1 with wrk (Debian's package): 50 connections for 30 s of searches and
pages, with zero errors, while the app's own index run writes new images into the store.

The tiny test CLIP keeps encoding cheap: this measures the app and the store under concurrency, not
the model (benchmarks/query_latency.py does that). The figures are printed, not asserted."""

import json
import re
import shutil
import subprocess
import time
import urllib.request

import pytest

from src.indexing import index_folder
from src.store import open_store
from tests.app_server import served
from tests.helpers import make_ad

WRK = shutil.which("wrk")
CONNECTIONS, SECONDS = 50, 30
NEW_ADS = 80  # written by the app's index run while the load goes on
# p99 bound. 50 connections queue for 2 cores that OCR and indexing share, so the tail is long: measured
# 3.8, 6.3 and 6.9 s on a quiet machine, 12.7 s with the machine's load average at 10 from other work.
# A request that stalls (the event loop blocked, a lock never released) waits out wrk's 30 s timeout
# instead; this bound catches that and the slide towards it, not a slow machine.
P99_BOUND_MS = 15_000

pytestmark = [pytest.mark.requires("wrk"), pytest.mark.slow]

# Each request: a search from a rotating list through the API, every fifth one the HTML page.
WRK_SCRIPT = """
local queries = {"sale", "red+car", "coffee", "summer+travel", "phones", "audi", "fresh+pizza", "shoes",
                 "bank", "a+cup+of+coffee", "zzz", "woman+running+in+the+hills"}
local n = 0
request = function()
  n = n + 1
  local q = queries[(n % #queries) + 1]
  if n % 5 == 0 then
    return wrk.format("GET", "/index?q=" .. q)
  end
  return wrk.format("GET", "/api/search?q=" .. q .. "&k=12&mode=hybrid")
end
"""


def health(url: str) -> dict:
    with urllib.request.urlopen(url + "/healthz", timeout=10) as response:
        return json.load(response)


def parse_wrk(output: str) -> dict:
    def milliseconds(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    bad_status = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": milliseconds("50%"),
        "p99_ms": milliseconds("99%"),
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
        "bad_status": int(bad_status.group(1)) if bad_status else 0,
    }


def test_fifty_clients_for_thirty_seconds_while_indexing(settings, embedder, tmp_path, capsys):
    with open_store(settings) as store:  # searchable from the start; the new ads arrive during the load
        index_folder(settings.dataset_dir, embedder, store, progress=False)
    for seed in range(100, 100 + NEW_ADS):
        make_ad(settings.dataset_dir / "new" / f"ad {seed}.png", seed)
    script = tmp_path / "searches.lua"
    script.write_text(WRK_SCRIPT)
    # As `make run` serves: OCR on, the app's own index run in the background.
    with served(settings, "--index", TEXT_DIR=str(tmp_path / "text"), BATCH_SIZE="4", OCR="true") as (url, _):
        before = health(url)
        load = subprocess.run([WRK, "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--timeout", "30s", "--latency",
                               "-s", str(script), url], capture_output=True, text=True, timeout=SECONDS + 60)
        during = health(url)
        deadline = time.time() + 180
        while health(url)["indexing"]["state"] == "running" and time.time() < deadline:
            time.sleep(1)
        after = health(url)

    figures = parse_wrk(load.stdout)
    with capsys.disabled():
        print(f"\nload: {CONNECTIONS} connections, {SECONDS} s: {figures['requests']} requests "
              f"({figures['per_second']:.0f}/s), p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} ms, "
              f"socket errors {figures['socket_errors']}, non-2xx {figures['bad_status']}; points "
              f"{before['store']['points']} -> {during['store']['points']} during -> {after['store']['points']}")
    assert load.returncode == 0, load.stderr
    assert figures["socket_errors"] == 0 and figures["bad_status"] == 0, load.stdout
    assert figures["requests"] > CONNECTIONS
    assert figures["p99_ms"] < P99_BOUND_MS, f"p99 {figures['p99_ms']:.0f} ms: requests stall under load"
    # The index run was writing while the searches ran, and finished with every new ad.
    assert before["indexing"]["state"] == "running" and before["store"]["points"] < 8 + NEW_ADS
    assert after["indexing"]["state"] == "done", after["indexing"]
    assert after["store"]["points"] == 8 + NEW_ADS
