"""Live progress of a local run while it waits: endpoints final and pending, by status.

A thread reads the batch's ledger records a few times a second (the ledger, not the history: it
is where a final status lands first, and one query reads the whole batch). On a terminal the
counts update in place (rich ``Live``); otherwise one plain line is printed per change, so a log
or CI output shows the run's course without control characters.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

FINAL = ("DELIVERED", "FAILED", "TIMED_OUT", "SKIPPED")
COLOURS = {"DELIVERED": "green", "FAILED": "red", "TIMED_OUT": "red", "SKIPPED": "yellow"}

Records = Callable[[], Mapping[str, Mapping[str, Any]]]


def expected_endpoints(event: Any) -> int | None:
    """How many endpoints the trigger's event holds (Pinpoint's ``Endpoints``, Connect's profiles)."""
    if not isinstance(event, Mapping):
        return None
    if isinstance(event.get("Endpoints"), Mapping):
        return len(event["Endpoints"])
    profiles = (event.get("Items") or {}).get("CustomerProfiles") if isinstance(event.get("Items"), Mapping) else None
    return len(profiles) if isinstance(profiles, list) else None


def counts(records: Mapping[str, Mapping[str, Any]], total: int | None) -> tuple[Counter[str], Counter[str]]:
    """(final by status, pending by ledger status); endpoints with no record yet count as ``QUEUED``."""
    final: Counter[str] = Counter()
    pending: Counter[str] = Counter()
    for record in records.values():
        status = str(record.get("status") or "")
        (final if status in FINAL else pending)[status or "QUEUED"] += 1
    missing = (total or 0) - len(records)
    if missing > 0:
        pending["QUEUED"] += missing
    return final, pending


def describe(final: Counter[str], pending: Counter[str], elapsed: float, rich: bool = False) -> Text:
    done, waiting = sum(final.values()), sum(pending.values())
    line = Text(f"{elapsed:5.1f} s  ", style="dim" if rich else "")
    line.append(f"{done}/{done + waiting} final", style="bold" if rich else "")
    for status in FINAL:
        if final[status]:
            line.append(f"  {status} {final[status]}", style=COLOURS[status] if rich else "")
    if waiting:
        line.append(f"   pending {waiting}", style="cyan" if rich else "")
        line.append(" (" + ", ".join(f"{status} {n}" for status, n in sorted(pending.items())) + ")",
                    style="dim" if rich else "")
    return line


@contextmanager
def live_progress(console: Console, records: Records, total: int | None, interval: float = 0.25,
                  enabled: bool = True) -> Iterator[None]:
    """Show progress while the body runs; stops (with a last reading) when it leaves."""
    if not enabled:
        yield
        return
    stop = threading.Event()
    started = time.monotonic()
    live = Live(Text(""), console=console, transient=True, auto_refresh=False) if console.is_terminal else None
    last: list[tuple[tuple[Any, ...], ...]] = []

    def read() -> tuple[Counter[str], Counter[str]] | None:
        try:
            return counts(records(), total)
        except Exception:
            return None

    def show(reading: tuple[Counter[str], Counter[str]]) -> None:
        if live is None and not sum(reading[0].values()) and not sum(reading[1].values()) - reading[1]["QUEUED"]:
            return  # a log gets no line until the batch has started (nor for a batch refused outright)
        elapsed = time.monotonic() - started
        if live is not None:  # in place: redrawn every tick, so the clock runs
            live.update(describe(*reading, elapsed, rich=True), refresh=True)
            return
        key = (tuple(sorted(reading[0].items())), tuple(sorted(reading[1].items())))
        if last and last[-1] == key:
            return
        last.append(key)
        console.print("progress: " + describe(*reading, elapsed).plain, highlight=False, soft_wrap=True)

    def loop() -> None:
        while not stop.wait(interval):
            if (reading := read()) is not None:
                show(reading)

    thread = threading.Thread(target=loop, name="journey-activity-progress", daemon=True)
    if live is not None:
        live.start()
    thread.start()
    failed = False
    try:
        yield
    except BaseException:
        failed = True  # the run's error is the last word, not a reading
        raise
    finally:
        stop.set()
        thread.join()
        reading = None if failed else read()
        if live is not None:
            live.stop()  # transient: the last reading is printed as a plain line below
            live = None
        if reading is not None:
            show(reading)
