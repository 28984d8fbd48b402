"""The index step's progress bar (src/indexing.py): the order it indexes new images in, and its ETA, fed
made-up timings: images whose OCR text is cached cost the model alone, the others OCR too."""

import io

import numpy as np
import pytest

from src import indexing
from src.indexing import Eta, Progress, progress_order, spread

BATCH = 32
START_UP = 8.0  # seconds before the first batch: workers starting, models loading


def simulate(order: list[str], cost: dict[str, float]) -> tuple[list[tuple[float, float | None]], float]:
    """(time, ETA shown) after each batch, as the index step feeds its bar, and when the run ends."""
    eta, now, seen = Eta(len(order)), START_UP, []
    for start in range(0, len(order), BATCH):
        now += sum(cost[item] for item in order[start:start + BATCH])
        eta.update(min(start + BATCH, len(order)), now)
        seen.append((now, eta.remaining()))
    return seen, now


def worst_error(seen: list[tuple[float, float | None]], end: float, after: float = 60.0) -> float:
    """The ETA's largest error, as a share of the time really left, from `after` seconds on."""
    return max(abs(eta - (end - at)) / (end - at) for at, eta in seen if at >= after and end > at and eta is not None)


def made_up_run(seed: int = 0) -> tuple[list[str], list[str], dict[str, float]]:
    """3,000 new images by name: the first 1,000 with their text cached (a run stopped half-way read
    ahead), 0.02 s each; the others 0.25 s each with OCR; every cost varying by up to half either way."""
    rng = np.random.default_rng(seed)
    cached = [f"a/{n:04d}.jpg" for n in range(1000)]
    unread = [f"b/{n:04d}.jpg" for n in range(2000)]
    cost = {item: 0.02 * rng.uniform(0.5, 1.5) for item in cached}
    cost |= {item: 0.25 * rng.uniform(0.5, 1.5) for item in unread}
    return unread, cached, cost


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eta_holds_within_a_fifth_after_the_first_minute(seed):
    unread, cached, cost = made_up_run(seed)
    seen, end = simulate(progress_order(unread, cached), cost)
    assert end > 300 and worst_error(seen, end) <= 0.20
    assert seen[0][1] is None  # one batch gives no rate: tqdm shows "?"


def test_eta_holds_when_folders_of_costly_ads_come_together():
    """Folders group ads alike: here the second half of those to read costs five times the first (large
    ads full of text). Shuffled, every stretch of the run has its share of both."""
    unread, cached, cost = made_up_run()
    cost |= {item: cost[item] * (0.4 if n < 1000 else 2.0) for n, item in enumerate(unread)}
    seen, end = simulate(progress_order(unread, cached), cost)
    assert worst_error(seen, end) <= 0.20
    seen, end = simulate(spread(unread, cached), cost)  # in the order of their names
    assert worst_error(seen, end) > 0.20
    assert progress_order(unread, cached) == progress_order(unread, cached)  # the same folder, the same order


def test_by_name_the_cached_images_would_make_the_eta_wrong():
    """What spread() is for: in the order of their names, the cached images first run fast and the ETA
    counts images left as if they were all as cheap."""
    unread, cached, cost = made_up_run()
    seen, end = simulate(cached + unread, cost)
    assert worst_error(seen, end) > 0.5


def test_spread_mixes_evenly_and_keeps_each_order():
    for heavy_count, light_count in [(3, 7), (7, 3), (0, 5), (5, 0), (1, 100), (64, 64), (0, 0)]:
        heavy = [f"h{n}" for n in range(heavy_count)]
        light = [f"l{n}" for n in range(light_count)]
        mixed = spread(heavy, light)
        assert [i for i in mixed if i.startswith("h")] == heavy and [i for i in mixed if i.startswith("l")] == light
        total = heavy_count + light_count
        for k in range(1, total + 1):
            assert abs(sum(i.startswith("h") for i in mixed[:k]) - k * heavy_count / total) <= 1


def test_eta_rate_leaves_out_the_start_up():
    eta = Eta(100)
    assert eta.rate is None and eta.remaining() is None
    eta.update(10, 30.0)  # 30 s of start-up before the first batch
    assert eta.remaining() is None
    eta.update(30, 40.0)
    assert eta.rate == pytest.approx(2.0) and eta.remaining() == pytest.approx(35.0)
    assert eta.remaining(now=45.0) == pytest.approx(30.0)


def test_the_bar_shows_the_eta_rate(monkeypatch):
    clock = iter([100.0, 110.0])
    monkeypatch.setattr(indexing.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    with Progress(total=96, unit="img", file=out, mininterval=0, ascii=True) as bar:
        bar.update(32)
        bar.update(32)  # 32 images in 10 s since the first batch: 3.2 images/s, 32 left, 10 s
        assert bar.format_dict["rate"] == pytest.approx(3.2)
        assert "00:10" in str(bar) and "3.20img/s" in str(bar)
    assert bar.done == 64


def test_the_eta_counts_from_where_the_ocr_has_got(monkeypatch):
    """The OCR workers read a batch or so ahead of the images written; their work is most of the run's,
    so the time left is counted from where they are (never beyond the total)."""
    clock = iter([0.0, 10.0])
    monkeypatch.setattr(indexing.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    with Progress(total=100, file=out, mininterval=0, ascii=True) as bar:
        bar.update(10, worked=30)
        bar.update(10, worked=50)  # 20 further in 10 s, 50 left
        assert bar.done == 20 and bar.eta.remaining() == pytest.approx(25.0)
        assert "<00:25," in str(bar)  # the bar shows that time left, not tqdm's count from the images written
    clock = iter([0.0, 10.0])
    with Progress(total=100, disable=True) as bar:
        bar.update(10)
        bar.update(10, worked=500)
        assert bar.eta.remaining() == pytest.approx(0.0)


def test_read_through_is_where_the_workers_have_got():
    """Up to the last image read with all before it read or cached; cached ones alone count for nothing
    (no OCR ran: the work left is the model's)."""
    from concurrent.futures import Future

    from src.indexing import ContentWriter, IndexReport
    from src.text_reading import Pending

    def pending(state: str) -> Pending:
        if state == "cached":
            return Pending("x", "x")
        future: Future = Future()
        if state == "read":
            future.set_result([])
        return Pending("x", "x", future=future)

    writer = ContentWriter(None, None, object(), {}, {}, {}, IndexReport())  # type: ignore[arg-type]
    states = ["cached", "read", "cached", "read", "cached", "reading", "read", "cached"]
    writer._pending = {str(n): pending(state) for n, state in enumerate(states)}
    pids = [str(n) for n in range(len(states))]
    through = writer.read_through(pids)
    assert next(through) == 4
    writer._pending["5"].future.set_result([])
    assert next(through) == 7
    everything_cached = ContentWriter(None, None, object(), {}, {}, {}, IndexReport())  # type: ignore[arg-type]
    everything_cached._pending = {pid: pending("cached") for pid in pids}
    assert next(everything_cached.read_through(pids)) == 0
    without_ocr = ContentWriter(None, None, None, {}, {}, {}, IndexReport())  # type: ignore[arg-type]
    assert next(without_ocr.read_through(pids)) == 0
