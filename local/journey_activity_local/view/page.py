"""The execution view as one self-contained HTML file: inline CSS, JavaScript and SVG, nothing fetched.

The graph is laid out here, in Python, as SVG: each state a box (a Map or Parallel state a
container around its own states) carrying its counts; ``Next`` edges solid, ``Catch`` edges dashed
and labelled with their errors, ``Retry`` as a loop on the box. In group wait mode each group's
task is drawn too, as one box named for the group's label ("Send SMS (48 endpoints)") beside its
Map, and the table lists each group's endpoints under it. A state of an earlier definition that
the history entered is drawn dashed (``from-history``). The table and the summary are HTML
too, so the page reads without JavaScript; the script only selects an endpoint or a group
(highlighting its path and showing its timeline). Every text taken from the execution goes through ``html.escape``
here or ``textContent`` in the script; the data block is JSON with ``<`` escaped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import Any

from journey_activity_local.view.model import ExecutionView, Group, StateNode

BOX_W, BOX_H = 300, 58
GAP_X, GAP_Y = 60, 46
PAD, HEADER = 22, 40
STATUS_ORDER = ("DELIVERED", "FAILED", "TIMED_OUT", "SKIPPED", "PENDING")
GROUP_GAP = 14


@dataclass
class _Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def bottom(self) -> float:
        return self.y + self.h


def _layout(nodes: list[StateNode], parent: str | None, origin_x: float, origin_y: float,
            boxes: dict[str, _Box]) -> tuple[float, float]:
    """Place the states of one container (the machine, or a Map's processor); returns its size."""
    own = [node for node in nodes if node.parent == parent]
    names = {node.name for node in own}
    column: dict[str, int] = {own[0].name: 0} if own else {}
    for node in own:
        col = column.setdefault(node.name, 0)
        if node.next in names:
            column.setdefault(node.next, col)
        for target in [*(t for t, _ in node.catches), *node.choices, node.default]:
            if target in names:
                column.setdefault(str(target), col + 1)
    y, width = origin_y, 0.0
    for node in own:
        # A branch (Catch, Choice) sits half a column to the right: readable, and half as wide.
        x = origin_x + column[node.name] * (BOX_W + GAP_X) / 2
        if node.type in ("Map", "Parallel"):
            inner_w, inner_h = _layout(nodes, node.name, x + PAD, y + HEADER, boxes)
            box = _Box(x, y, max(BOX_W, inner_w + 2 * PAD), inner_h + HEADER + PAD)
        else:
            box = _Box(x, y, BOX_W, BOX_H)
        boxes[node.name] = box
        y = box.bottom + GAP_Y
        width = max(width, box.x + box.w - origin_x)
    return width, max(0.0, y - GAP_Y - origin_y)


def _edge(source: _Box, target: _Box, css: str, label: str = "") -> str:
    lx = ly = 0.0
    if css == "catch" and target.y >= source.bottom:
        x1, y1 = source.x + source.w, source.y + min(source.h / 2, 30)
        if target.cx > x1 + 10:  # right, then down onto the target
            points = f"{x1},{y1} {target.cx},{y1} {target.cx},{target.y}"
            lx, ly = target.cx + 6, (y1 + target.y) / 2
        else:  # round the source's right side, into the target's right side
            x2, y2 = target.x + target.w, target.y + target.h / 2
            side = max(x1, x2) + 26
            points = f"{x1},{y1} {side},{y1} {side},{y2} {x2},{y2}"
            lx, ly = side + 6, (y1 + y2) / 2
    elif target.y >= source.bottom:
        x1, y1 = source.cx, source.bottom
        # Straight down when the target spans the source's centre, else a dog-leg.
        x2 = x1 if target.x + 20 <= x1 <= target.x + target.w - 20 else target.cx
        mid = target.y - GAP_Y / 2
        points = f"{x1},{y1} {x1},{mid} {x2},{mid} {x2},{target.y}"
        lx, ly = x1 + 6, y1 + 14
    else:  # a loop back up: along the left side
        x1, y1 = source.x, source.y + source.h / 2
        x2, y2 = target.x, target.y + target.h / 2
        points = f"{x1},{y1} {x1 - 24},{y1} {x1 - 24},{y2} {x2},{y2}"
        lx, ly = x1 - 20, (y1 + y2) / 2
    text = f'<text class="edge-label" x="{lx}" y="{ly}">{escape(label)}</text>' if label else ""
    return f'<g class="edge {css}"><polyline points="{points}" marker-end="url(#arrow-{css})"/>{text}</g>'


def _short_errors(errors: list[str]) -> str:
    text = ", ".join(e.removeprefix("Lambda.") for e in errors)
    return text if len(text) <= 42 else text[:41] + "…"


def _group_counts(group: Group) -> str:
    statuses = " · ".join(f"{group.by_status[s]} {s}" for s in STATUS_ORDER if group.by_status.get(s))
    tries = f"{group.attempts} {'try' if group.attempts == 1 else 'tries'}"
    return " · ".join(filter(None, [group.id, tries, statuses]))


def _groups_svg(groups: list[Group], boxes: dict[str, _Box]) -> tuple[str, float, float]:
    """Each group's task as a box named for its label, in a column right of its Map (one box per
    iteration); returns the SVG and the right and bottom edges it reaches."""
    parts: list[str] = []
    right = bottom = 0.0
    placed: dict[str, float] = {}
    for group in groups:
        container = boxes.get(group.map)
        if container is None:
            continue
        x = container.x + container.w + GAP_X
        y = placed.get(group.map, container.y + HEADER)
        placed[group.map] = y + BOX_H + GROUP_GAP
        # A short dotted stub from the Map's edge: the Map's iterations are these groups.
        parts.append(f'<polyline class="group-link" points="{container.x + container.w},{y + BOX_H / 2} '
                     f'{x},{y + BOX_H / 2}"/>')
        title = escape(f"{group.label} — {group.id}, one waiting task ({group.task}) for its "
                       f"{len(group.endpoints)} endpoints" + (f", sent by {group.sender}" if group.sender else ""))
        parts.append(
            f'<g class="group-node" data-group="{escape(group.id, quote=True)}" tabindex="-1"><title>{title}</title>'
            f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8"/>'
            f'<text class="name" x="{x + 12}" y="{y + 24}">{escape(group.label or group.id)}</text>'
            f'<text class="counts" x="{x + 12}" y="{y + 44}">{escape(_group_counts(group))}</text></g>')
        right, bottom = max(right, x + BOX_W), max(bottom, y + BOX_H)
    return "".join(parts), right, bottom


def render_graph(states: list[StateNode], groups: list[Group] | None = None) -> str:
    boxes: dict[str, _Box] = {}
    width, height = _layout(states, None, 40, 20, boxes)
    # Containers first, edges next, states last: each draws on top of what it sits in.
    containers: list[str] = []
    tasks: list[str] = []
    edges: list[str] = []
    for node in states:
        box = boxes.get(node.name)
        if box is None:
            continue
        if node.next and node.next in boxes:
            edges.append(_edge(box, boxes[node.next], "next"))
        for target in [*node.choices, node.default]:
            if target and target in boxes:
                edges.append(_edge(box, boxes[target], "next"))
        for target, errors in node.catches:
            if target in boxes:
                edges.append(_edge(box, boxes[target], "catch", "catch " + _short_errors(errors)))
        container = node.type in ("Map", "Parallel")
        (containers if container else tasks).append(_state_svg(node, box, container=container))
    view_w, view_h = width + 40 + 120, height + 40
    grouped, right, bottom = _groups_svg(groups or [], boxes)
    view_w, view_h = max(view_w, right + 40), max(view_h, bottom + 20)
    return (
        f'<svg id="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {view_w:.0f} {view_h:.0f}" '
        f'style="width:100%;max-width:{view_w:.0f}px;height:auto" role="img" aria-label="state machine">'
        '<defs>'
        '<marker id="arrow-next" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#56627a"/></marker>'
        '<marker id="arrow-catch" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#c2410c"/></marker>'
        '</defs>' + "".join(containers) + "".join(edges) + "".join(tasks) + grouped + '</svg>'
    )


def _state_svg(node: StateNode, box: _Box, container: bool) -> str:
    counts = (f"▶ {node.entered} entered · ✓ {node.succeeded} · ✗ {node.failed}"
              + (f" · ↻ {node.retried}" if node.retries or node.retried else ""))
    retry = ""
    if node.retries:
        errors = "; ".join(_short_errors(r) for r in node.retries)
        rx, ry = box.x + box.w, box.y + 14
        retry = (f'<g class="retry"><title>Retry: {escape(errors)}</title>'
                 f'<path d="M{rx},{ry} c 26,-10 26,24 0,16" marker-end="url(#arrow-next)"/>'
                 f'<text class="edge-label" x="{rx + 24}" y="{ry + 8}">retry</text></g>')
    kind = ("container" if container else "task") + (" from-history" if node.from_history else "")
    title = escape(node.name + (f" — {node.comment}" if node.comment else ""))
    name_y = box.y + 24
    return (
        f'<g class="state {kind} type-{escape(node.type.lower())}" data-state="{escape(node.name, quote=True)}" '
        f'tabindex="-1"><title>{title}</title>'
        f'<rect x="{box.x}" y="{box.y}" width="{box.w}" height="{box.h}" rx="8"/>'
        f'<text class="name" x="{box.x + 12}" y="{name_y}">{escape(node.name)}'
        f'<tspan class="type"> {escape(node.type)}</tspan></text>'
        f'<text class="counts" x="{box.x + 12}" y="{name_y + 20 if not container else box.y + box.h - 8}">'
        f'{escape(counts)}</text>{retry}</g>'
    )


def _summary_html(view: ExecutionView) -> str:
    summary = view.summary
    ids = "".join(f"<dt>{escape(str(k))}</dt><dd>{escape(str(v))}</dd>" for k, v in summary["ids"].items())
    statuses = "".join(
        f'<span class="pill s-{escape(s)}">{escape(s)} {summary["by_status"].get(s, 0)}</span>'
        for s in STATUS_ORDER if summary["by_status"].get(s))
    channel_rows = "".join(
        f"<tr><th>{escape(channel)}</th>" + "".join(f"<td>{counts.get(s, 0) or ''}</td>" for s in STATUS_ORDER)
        + "</tr>" for channel, counts in summary["by_channel"].items())
    wall = summary["wall_seconds"]
    return (
        f'<section id="summary"><h1>Batch <code>{escape(summary["execution"])}</code> '
        f'<span class="pill x-{escape(summary["status"])}">{escape(summary["status"])}</span></h1>'
        f'<p class="meta">trigger <b>{escape(summary["trigger"] or "?")}</b> · {summary["endpoints"]} endpoints · '
        f'wall time <b>{"" if wall is None else f"{wall:.1f} s"}</b> · started {escape(summary["started"])}'
        f'{f" · one wait per group ({len(view.groups)} groups)" if view.groups else ""}'
        f'{" · error " + escape(summary["error"]) if summary["error"] else ""}</p>'
        f'<div class="row"><dl class="ids">{ids}</dl><div><p>{statuses}</p>'
        f'<table class="channels"><thead><tr><th>channel</th>'
        + "".join(f"<th>{s}</th>" for s in STATUS_ORDER) + f"</tr></thead><tbody>{channel_rows}</tbody></table>"
        f'</div></div>'
        f'{"<p class=warn>personal data shown (allowed for this run)</p>" if view.personal_data else ""}</section>'
    )


def _endpoint_row(item: Any) -> str:
    seconds = "" if item.seconds_to_receipt is None else f"{item.seconds_to_receipt:.2f}"
    return (
        f'<tr data-endpoint="{escape(item.id, quote=True)}" tabindex="0">'
        f'<td class="id">{escape(item.id)}</td><td>{escape(item.channel)}</td>'
        f'<td><span class="pill s-{escape(item.status)}">{escape(item.status)}</span></td>'
        f'<td>{escape(item.reason)}</td><td class="num">{item.attempts}</td><td class="num">{seconds}</td></tr>')


def _grouped_rows(view: ExecutionView) -> list[str]:
    """Group wait mode: each group's header row (its label; choose it for the group task's timeline),
    then its endpoints; the endpoints in no group (skipped by Validate) last."""
    rows: list[str] = []
    shown: set[str] = set()
    by_id = {item.id: item for item in view.endpoints}
    for group in view.groups:
        rows.append(f'<tr class="group-row" data-group="{escape(group.id, quote=True)}" tabindex="0">'
                    f'<th colspan="6">{escape(group.label or group.id)} <small>{escape(_group_counts(group))}'
                    f'{" · " + escape(group.sender) if group.sender else ""}</small></th></tr>')
        for endpoint_id in group.endpoints:
            if endpoint_id in by_id and endpoint_id not in shown:
                rows.append(_endpoint_row(by_id[endpoint_id]))
                shown.add(endpoint_id)
    rest = [item for item in view.endpoints if item.id not in shown]
    if rest:
        title = "In no group: skipped by Validate" if all(i.status == "SKIPPED" for i in rest) else "In no group"
        rows.append(f'<tr class="group-row"><th colspan="6">{title}</th></tr>')
        rows.extend(_endpoint_row(item) for item in rest)
    return rows


def _endpoints_html(view: ExecutionView) -> str:
    rows = _grouped_rows(view) if view.groups else [_endpoint_row(item) for item in view.endpoints]
    return (
        '<section id="endpoints"><h2>Endpoints <small>choose one to see its path and timeline</small></h2>'
        '<table id="endpoint-table"><thead><tr><th>endpoint</th><th>channel</th><th>status</th><th>reason</th>'
        '<th>attempts</th><th>s to receipt</th></tr></thead><tbody>' + "".join(rows) + '</tbody></table>'
        '<div id="timeline" aria-live="polite"><p class="hint">No endpoint chosen.</p></div></section>'
    )


CSS = """
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d2433;
background:#f5f6f8}header,main{padding:14px 22px}h1{font-size:19px;margin:0 0 4px}h2{font-size:16px;margin:0 0 8px}
h2 small{font-weight:normal;color:#6b7385}code{font-size:13px}.meta{margin:0 0 8px;color:#434a5a}
.row{display:flex;gap:28px;align-items:flex-start;flex-wrap:wrap}dl.ids{display:grid;grid-template-columns:auto auto;
gap:1px 12px;margin:0;font-size:12.5px}dt{color:#6b7385}dd{margin:0;font-family:ui-monospace,monospace}
main{display:grid;grid-template-columns:minmax(420px,1.15fr) minmax(480px,1fr);gap:20px;align-items:start}
#graph-wrap{background:#fff;border:1px solid #d9dde5;border-radius:10px;overflow:auto;padding:4px}
#endpoints{background:#fff;border:1px solid #d9dde5;border-radius:10px;padding:12px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eceef2;
font-size:13px}th{font-weight:600;color:#434a5a}td.num{text-align:right;font-variant-numeric:tabular-nums}
#endpoint-table tbody tr{cursor:pointer}#endpoint-table tbody tr:hover{background:#f0f4ff}
#endpoint-table tr.selected{background:#dfe8ff;outline:2px solid #3b63d6}
td.id{font-family:ui-monospace,monospace;white-space:nowrap}
table.channels{width:auto}table.channels td{text-align:right;min-width:54px}
.pill{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#e7e9ee;
margin-right:4px}.s-DELIVERED,.x-SUCCEEDED{background:#d7f5df;color:#17683a}.s-FAILED,.s-TIMED_OUT,.x-FAILED,
.x-TIMED_OUT,.x-ABORTED{background:#fde0dc;color:#a02012}.s-SKIPPED{background:#fdf1cf;color:#7a5a00}
.s-PENDING,.x-RUNNING{background:#dcecfb;color:#134f8a}.warn{color:#a02012;font-weight:600}
svg .state rect{fill:#fff;stroke:#8a93a6;stroke-width:1.5}svg .state.container>rect{fill:#f3f6fc;stroke-dasharray:5 4}
svg .state.from-history>rect{fill:#f7f7f9;stroke-dasharray:2 3}
svg .state text.name{font-weight:600;font-size:13.5px;fill:#1d2433}svg .state .type{font-weight:normal;fill:#8a93a6;
font-size:11px}svg .state text.counts{font-size:12px;fill:#434a5a}svg .edge polyline,svg .retry path{fill:none;
stroke:#56627a;stroke-width:1.6}svg .edge.catch polyline{stroke:#c2410c;stroke-dasharray:6 4}
svg .edge-label{font-size:11px;fill:#c2410c}svg .retry text{fill:#56627a}
svg.chosen .state{opacity:.35}svg.chosen .state.on{opacity:1}svg.chosen .state.on>rect{stroke:#3b63d6;stroke-width:3.5;
fill:#eef3ff}svg.chosen .state.container.on>rect{fill:#f3f6fc}svg.chosen .edge{opacity:.3}
#timeline{margin-top:14px;border-top:1px solid #eceef2;padding-top:10px}#timeline ol{list-style:none;margin:0;
padding:0}#timeline li{display:grid;grid-template-columns:64px 190px 1fr;gap:8px;padding:3px 0;font-size:13px;
border-bottom:1px dotted #eceef2}#timeline .t{text-align:right;color:#6b7385;font-variant-numeric:tabular-nums}
#timeline .st{color:#6b7385}#timeline li.k-retry,#timeline li.k-error,#timeline li.k-failure-receipt{color:#a02012}
#timeline li.k-receipt{color:#17683a}
#timeline li.k-outcome{font-weight:600}.hint{color:#6b7385}#timeline li.k-note{color:#6b7385;font-style:italic}
svg .group-node{cursor:pointer}svg .group-node rect{fill:#fffaf0;stroke:#b7791f;stroke-width:1.5}
svg .group-node text.name{font-weight:600;font-size:13.5px;fill:#1d2433}svg .group-node text.counts{font-size:12px;
fill:#434a5a}svg .group-link{fill:none;stroke:#b7791f;stroke-width:1.4;stroke-dasharray:2 4}
svg.chosen .group-node,svg.chosen .group-link{opacity:.35}svg.chosen .group-node.on{opacity:1}
svg.chosen .group-node.on>rect{stroke:#3b63d6;stroke-width:3.5}
#endpoint-table tr.group-row th{background:#f7f3ea;border-top:2px solid #e3d6bd;padding-top:6px}
#endpoint-table tr.group-row th small{font-weight:normal;color:#6b7385;margin-left:6px}
#endpoint-table tr.group-row[data-group]{cursor:pointer}#endpoint-table tr.group-row.selected th{background:#dfe8ff}
"""

SCRIPT = """
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("execution-data").textContent);
  var byId = {};
  data.endpoints.forEach(function (e) { byId[e.id] = e; });
  var groups = {};
  (data.groups || []).forEach(function (g) { groups[g.id] = g; });
  var graph = document.getElementById("graph");
  var rows = document.querySelectorAll("#endpoint-table tbody tr[data-endpoint]");
  var groupRows = document.querySelectorAll("#endpoint-table tbody tr.group-row[data-group]");
  var timeline = document.getElementById("timeline");

  function text(tag, cls, value) {
    var el = document.createElement(tag);
    if (cls) { el.className = cls; }
    el.textContent = value;
    return el;
  }

  // An endpoint, or (group wait mode) a group: its path highlighted, its timeline listed.
  function show(item, heading, pathLabel, groupId, endpointId, hash) {
    var path = {};
    item.path.forEach(function (name) { path[name] = true; });
    graph.classList.add("chosen");
    graph.querySelectorAll(".state").forEach(function (g) {
      g.classList.toggle("on", path[g.getAttribute("data-state")] === true);
    });
    graph.querySelectorAll(".group-node").forEach(function (g) {
      g.classList.toggle("on", groupId !== "" && g.getAttribute("data-group") === groupId);
    });
    rows.forEach(function (row) {
      row.classList.toggle("selected", row.getAttribute("data-endpoint") === endpointId);
    });
    groupRows.forEach(function (row) {
      row.classList.toggle("selected", endpointId === null && row.getAttribute("data-group") === groupId);
    });
    timeline.replaceChildren();
    timeline.appendChild(text("h3", "", heading));
    timeline.appendChild(text("p", "st", pathLabel + item.path.join(" → ")));
    var list = document.createElement("ol");
    var shown = "";
    item.timeline.forEach(function (entry) {
      var li = document.createElement("li");
      li.className = "k-" + entry.kind;
      li.appendChild(text("span", "t", entry.t === null ? "" : "+" + entry.t.toFixed(2) + " s"));
      li.appendChild(text("span", "st", entry.state === shown ? "" : entry.state));
      shown = entry.state || shown;
      li.appendChild(text("span", "", entry.text));
      list.appendChild(li);
    });
    timeline.appendChild(list);
    if (window.location.hash !== hash) {
      history.replaceState(null, "", hash);
    }
  }

  function select(id) {
    var endpoint = byId[id];
    if (!endpoint) { return; }
    var group = groups[endpoint.group];
    show(endpoint, endpoint.id + " · " + endpoint.channel + " · " + endpoint.status +
      (endpoint.reason ? " (" + endpoint.reason + ")" : ""),
      group ? "path (its group's: " + (group.label || group.id) + "): " : "path: ",
      group ? group.id : "", id, "#endpoint=" + encodeURIComponent(id));
  }

  function selectGroup(id) {
    var group = groups[id];
    if (!group) { return; }
    var counts = Object.keys(group.by_status).map(function (s) { return group.by_status[s] + " " + s; });
    show(group, (group.label || group.id) + " · " + group.id + (counts.length ? " · " + counts.join(", ") : ""),
      "path: ", id, null, "#group=" + encodeURIComponent(id));
  }

  function chooseWith(element, attribute, choose) {
    element.addEventListener("click", function () { choose(element.getAttribute(attribute)); });
    element.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        choose(element.getAttribute(attribute));
      }
    });
  }

  rows.forEach(function (row) { chooseWith(row, "data-endpoint", select); });
  groupRows.forEach(function (row) { chooseWith(row, "data-group", selectGroup); });
  graph.querySelectorAll(".group-node").forEach(function (node) { chooseWith(node, "data-group", selectGroup); });
  var wanted = /^#endpoint=(.*)$/.exec(window.location.hash);
  if (wanted) { select(decodeURIComponent(wanted[1])); }
  var wantedGroup = /^#group=(.*)$/.exec(window.location.hash);
  if (wantedGroup) { selectGroup(decodeURIComponent(wantedGroup[1])); }
  window.journeyView = {select: select, selectGroup: selectGroup, data: data};
})();
"""


def render_page(view: ExecutionView) -> str:
    """The whole page, one string of HTML."""
    data = json.dumps(view.as_data(), separators=(",", ":"), default=str).replace("<", "\\u003c")
    title = f"Execution {view.summary['execution']}"
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
        f"<header>{_summary_html(view)}</header>"
        f"<main><section id=\"graph-wrap\">{render_graph(view.states, view.groups)}</section>"
        f"{_endpoints_html(view)}</main>"
        f"<script type=\"application/json\" id=\"execution-data\">{data}</script>"
        f"<script>{SCRIPT}</script></body></html>\n"
    )
