"""Live progress of a local run: counts by status, one plain line per change off a terminal."""

from __future__ import annotations

import io
import itertools
import threading

from rich.console import Console

from journey_activity_local.progress import counts, expected_endpoints, live_progress


def test_counts_final_and_pending_and_those_not_yet_recorded():
    records = {"a": {"status": "DELIVERED"}, "b": {"status": "SENT"}, "c": {"status": "SKIPPED"},
               "d": {"status": "SENDING"}}
    final, pending = counts(records, total=6)
    assert dict(final) == {"DELIVERED": 1, "SKIPPED": 1}
    assert dict(pending) == {"SENT": 1, "SENDING": 1, "QUEUED": 2}


def test_the_trigger_says_how_many_endpoints_to_expect():
    assert expected_endpoints({"Endpoints": {"a": {}, "b": {}}}) == 2
    assert expected_endpoints({"Items": {"CustomerProfiles": [{"ProfileId": "p"}]}}) == 1
    assert expected_endpoints(["not", "an", "event"]) is None


def test_off_a_terminal_one_plain_line_per_change_then_the_last_reading():
    states = [{}, {"a": {"status": "SENT"}}, {"a": {"status": "SENT"}}, {"a": {"status": "DELIVERED"}}]
    readings = iter(states)
    last = states[-1]
    changed = threading.Event()

    def records():
        try:
            return next(readings)
        except StopIteration:
            changed.set()
            return last

    output = io.StringIO()
    console = Console(file=output, width=200, force_terminal=False)
    with live_progress(console, records, total=1, interval=0.01):
        assert changed.wait(10)
    lines = output.getvalue().splitlines()
    assert all(line.startswith("progress: ") for line in lines)
    assert "\x1b" not in output.getvalue()
    # No line repeats the one before it; the course of the run is there.
    assert all(a.split("s  ", 1)[1] != b.split("s  ", 1)[1] for a, b in itertools.pairwise(lines))
    assert "0/1 final   pending 1 (SENT 1)" in lines[0]  # no line before the batch has started
    assert lines[-1].endswith("1/1 final  DELIVERED 1")


def test_on_a_terminal_it_updates_in_place_and_leaves_the_last_reading():
    output = io.StringIO()
    console = Console(file=output, width=120, force_terminal=True)
    with live_progress(console, lambda: {"a": {"status": "FAILED"}}, total=2, interval=0.01):
        pass
    text = output.getvalue()
    assert "\x1b[" in text  # cursor control: the display is redrawn in place
    assert "1/2 final" in text
    assert "FAILED 1" in text


def test_an_error_in_the_run_is_the_last_word():
    output = io.StringIO()
    console = Console(file=output, width=120, force_terminal=False)
    try:
        with live_progress(console, lambda: {"a": {"status": "SENT"}}, total=1, interval=5):
            raise ValueError("refused")
    except ValueError:
        pass
    assert output.getvalue() == ""


def test_a_failed_reading_skips_an_update_and_disabled_shows_nothing():
    output = io.StringIO()
    console = Console(file=output, width=120, force_terminal=False)

    def broken():
        raise RuntimeError("ledger unavailable")

    with live_progress(console, broken, total=1, interval=0.01):
        pass
    with live_progress(console, lambda: {"a": {"status": "FAILED"}}, total=1, enabled=False):
        pass
    assert output.getvalue() == ""
