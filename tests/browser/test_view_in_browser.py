"""The execution view, opened in headless Chromium: every state and every endpoint is shown, choosing an
endpoint highlights exactly its path, and the page logs no JavaScript error.

One page is made from a history in AWS's documented shape (fast); one from a real local run of
the README's example with a bounce, a flaky provider and a receipt that never comes, through the
command line (``run --view``), so the page a person opens is the one tested.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from journey_activity_local.view.model import build_model
from journey_activity_local.view.page import render_page
from tests.browser.chromium import Chromium

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = json.loads((ROOT / "statemachines" / "batch.asl.json").read_text())
EXAMPLE = ROOT / "examples" / "journey-batch.json"

SHOWN_STATES = "[...document.querySelectorAll('#graph .state')].filter(g => g.getBoundingClientRect().width > 0)" \
               ".map(g => g.dataset.state)"
SHOWN_ROWS = "[...document.querySelectorAll('#endpoint-table tbody tr')]" \
             ".filter(r => r.getBoundingClientRect().height > 0).map(r => r.dataset.endpoint)"
HIGHLIGHTED = "[...document.querySelectorAll('#graph.chosen .state.on')].map(g => g.dataset.state)"
SELECTED = "[...document.querySelectorAll('#endpoint-table tr.selected')].map(r => r.dataset.endpoint)"


def all_state_names(machine: dict) -> list[str]:
    names = []
    for name, state in machine["States"].items():
        names.append(name)
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            names.extend(all_state_names(processor))
    return names


# The batch's last states: today's one task, and the two states (and the report's Catch) of the
# definition the recorded histories of tests/events ran, which the view draws from their history.
END = frozenset({"Compile and report the outcomes"})
EARLIER_END = frozenset({"Compile EventAttributes", "Report engagement events"})


def expected_path(status: str, batch_extra: frozenset[str] = frozenset(), end: frozenset[str] = END) -> set[str]:
    """What the ASL makes of each outcome, independently of the view's own reading of the history."""
    batch = {"Validate endpoints", *end, *batch_extra}
    if status == "SKIPPED":
        return batch
    sent = batch | {"Send to each endpoint", "Send and wait for delivery receipt"}
    return sent if status == "DELIVERED" else sent | {"Record failed delivery"}


def check_page(browser: Chromium, page: Path, statuses: dict[str, str],
               batch_extra: frozenset[str] = frozenset(), end: frozenset[str] = END) -> None:
    browser.open(page.as_uri())
    # Every state of today's definition, and those of an earlier one the history entered.
    earlier = sorted((end | batch_extra) - set(all_state_names(DEFINITION)))
    assert sorted(browser.evaluate(SHOWN_STATES)) == sorted(all_state_names(DEFINITION) + earlier)
    assert browser.evaluate(SHOWN_ROWS) == list(statuses)
    assert browser.evaluate("document.querySelectorAll('#graph.chosen').length") == 0
    for endpoint_id, status in statuses.items():
        browser.click(f'#endpoint-table tr[data-endpoint="{endpoint_id}"]')
        assert set(browser.evaluate(HIGHLIGHTED)) == expected_path(status, batch_extra, end), endpoint_id
        assert browser.evaluate(SELECTED) == [endpoint_id]
        heading = browser.evaluate("document.querySelector('#timeline h3').textContent")
        assert heading.startswith(f"{endpoint_id} · ")
        assert status in heading
        assert browser.evaluate("document.querySelectorAll('#timeline li').length") >= 1
    assert browser.errors == []


def test_a_page_from_an_aws_history(browser, tmp_path, load_event):
    page = tmp_path / "aws.html"
    page.write_text(render_page(build_model(load_event("aws_execution_history")["events"], DEFINITION)))
    # It ran the earlier definition's two last states; its report failed and was caught: every endpoint
    # went through "Report not sent" too.
    check_page(browser, page, {"p-1": "DELIVERED", "p-2": "TIMED_OUT", "p-3": "SKIPPED"},
               frozenset({"Report not sent"}), EARLIER_END)
    # The timed-out endpoint's timeline says why.
    browser.click('#endpoint-table tr[data-endpoint="p-2"]')
    assert "timed out: States.HeartbeatTimeout" in browser.evaluate("document.querySelector('#timeline').textContent")


def test_a_script_error_is_caught(browser, tmp_path):
    """The check that the page logs no error can fail: a page that throws is seen."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><title>x</title><script>undefinedFunction();</script>")
    browser.open(page.as_uri())
    assert any("undefinedFunction" in error for error in browser.errors)


@pytest.mark.integration
def test_a_page_from_a_real_run(browser, tmp_path):
    page = tmp_path / "run.html"
    command = [sys.executable, "-m", "journey_activity_local.cli", "run", str(EXAMPLE), "--json", "--view", str(page),
               "--behave", "kenji@example.com=bounce", "--behave", "+14155550123=flaky:2",
               "--behave", "+442071838750=never", "--receipt-timeout", "6", "--heartbeat", "4", "--deadline", "2"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=ROOT, env=dict(os.environ))
    assert result.returncode == 0, result.stderr
    statuses = {"sms-maria": "DELIVERED", "email-kenji": "FAILED", "push-amara": "DELIVERED",
                "voice-lucas": "TIMED_OUT", "email-optedout": "SKIPPED", "sms-inactive": "SKIPPED",
                "sms-badnumber": "SKIPPED"}
    # Every endpoint passes the wait mode's Choice (endpoint, the default).
    check_page(browser, page, statuses, frozenset({"Wait per endpoint or per group?"}))
    html = page.read_text()
    for address in ("+14155550123", "kenji@example.com", "+442071838750"):
        assert address not in html  # personal data stays out of the page
    browser.click('#endpoint-table tr[data-endpoint="sms-maria"]')
    timeline = browser.evaluate("document.querySelector('#timeline').textContent")
    # flaky:2: the send at once had the first 503 (the endpoint was left to its own task), the task's
    # first try the second, and its retry was delivered.
    assert "retry 1" in timeline
    assert "ProviderUnavailable" in timeline
    assert "receipt: delivered" in timeline


GROUP_PATHS = {  # what the ASL makes of each group of tests/events/group_execution_history.json
    "g0": {"Send to each group", "Send the group and wait for its delivery receipts",
           "Record the group's unsent endpoints", "Receipts still awaited?", "Group recorded"},
    "g1": {"Send to each group", "Send the group and wait for its delivery receipts"},
    "g2": {"Send to each group", "Send the group and wait for its delivery receipts"},
}


def test_a_group_mode_page(browser, tmp_path, load_event):
    """Group wait mode: a node per group named for its label; choosing an endpoint highlights its
    group's path and its group's node and shows its own timeline; choosing a group shows the group's."""
    run = load_event("group_execution_history")
    page = tmp_path / "groups.html"
    page.write_text(render_page(build_model(run["events"], DEFINITION, run["records"], run["execution"])))
    browser.open(page.as_uri())
    assert sorted(browser.evaluate(SHOWN_STATES)) == sorted(all_state_names(DEFINITION) + sorted(EARLIER_END))
    shown_groups = ("[...document.querySelectorAll('#graph .group-node')].filter(g => g.getBoundingClientRect()"
                    ".width > 0).map(g => [g.dataset.group, g.querySelector('text.name').textContent])")
    assert browser.evaluate(shown_groups) == [["g0", "Send SMS and voice (2 endpoints)"],
                                              ["g1", "Send e-mail (1 endpoint)"], ["g2", "Send push (1 endpoint)"]]
    rows = ("[...document.querySelectorAll('#endpoint-table tbody tr[data-endpoint]')]"
            ".filter(r => r.getBoundingClientRect().height > 0).map(r => r.dataset.endpoint)")
    assert browser.evaluate(rows) == ["sms-maria", "voice-lucas", "email-kenji", "push-amara", "email-optedout",
                                      "sms-inactive", "sms-badnumber"]
    groups_on = "[...document.querySelectorAll('#graph.chosen .group-node.on')].map(g => g.dataset.group)"
    batch = {"Validate endpoints", "Wait per endpoint or per group?", *EARLIER_END}
    members = {"sms-maria": "g0", "voice-lucas": "g0", "email-kenji": "g1", "push-amara": "g2", "sms-inactive": ""}
    for endpoint_id, group in members.items():
        browser.click(f'#endpoint-table tr[data-endpoint="{endpoint_id}"]')
        assert set(browser.evaluate(HIGHLIGHTED)) == batch | GROUP_PATHS.get(group, set()), endpoint_id
        assert browser.evaluate(groups_on) == ([group] if group else []), endpoint_id
        assert browser.evaluate(SELECTED) == [endpoint_id]
        assert browser.evaluate("document.querySelector('#timeline h3').textContent").startswith(f"{endpoint_id} · ")
    browser.click('#endpoint-table tr[data-endpoint="sms-maria"]')
    timeline = browser.evaluate("document.querySelector('#timeline').textContent")
    assert "retry 2: send attempt 3" in timeline
    assert "receipt: delivered" in timeline
    assert "Send SMS and voice (2 endpoints)" in timeline  # its entries shown under its group
    browser.click('#graph .group-node[data-group="g0"]')
    assert browser.evaluate(groups_on) == ["g0"]
    # The group's own row is chosen, no endpoint's.
    assert browser.evaluate("[...document.querySelectorAll('#endpoint-table tr.selected')]"
                            ".map(r => r.dataset.group || r.dataset.endpoint)") == ["g0"]
    heading = browser.evaluate("document.querySelector('#timeline h3').textContent")
    assert heading.startswith("Send SMS and voice (2 endpoints) · g0")
    assert "timed out: States.Timeout" in browser.evaluate("document.querySelector('#timeline').textContent")
    browser.click('#endpoint-table tr.group-row[data-group="g1"]')
    assert browser.evaluate(groups_on) == ["g1"]
    assert browser.evaluate("location.hash") == "#group=g1"
    assert browser.errors == []
