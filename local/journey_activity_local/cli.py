"""``journey-activity``: run a batch on the embedded local engine."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
connect_app = typer.Typer(no_args_is_help=True, help="Amazon Connect outbound campaigns: register the invoker.")
app.add_typer(connect_app, name="connect")


@app.callback()
def main() -> None:
    """A journey custom-channel activity run by AWS Step Functions."""


def _fail(message: str) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code=2)


def _engine_verified() -> None:
    """Refuse, in one line, to start an engine whose moto its patches were not verified on."""
    from journey_activity_local.engine import verified

    try:
        verified.preflight()
    except verified.UnverifiedEngineError as error:
        raise _fail(str(error)) from None


def _parse_behaviours(values: list[str]) -> dict[str, str]:
    """Checked with the stand-ins' own parser: every stand-in kind obeys the same words."""
    from journey_activity_local.standins.http import BEHAVIOURS, Behaviour

    behaviours = {}
    for value in values:
        address, sep, kind = value.rpartition("=")
        try:
            if not sep or not address:
                raise ValueError(value)
            Behaviour.parse(kind)
        except ValueError:
            words = ", ".join(BEHAVIOURS)
            raise _fail(f"--behave takes ADDRESS=KIND with KIND one of {words}; got {value!r}") from None
        behaviours[address] = kind
    return behaviours


def _read_event(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as error:
        raise _fail(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise _fail(f"{path} is not JSON: {error.msg} at line {error.lineno} column {error.colno}") from None


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# What a Connect event runs with when --env sets no CONNECT_ACTIONS (the template's default is empty,
# so a deployed stack sends nothing its actions were not configured for).
LOCAL_CONNECT_ACTIONS = {"*": {"channel": "SMS", "message": "Hi {{Attributes.Customer.FirstName|there}}, your "
                                                           "{{Profile.attributes.plan|}} plan renews soon."}}


def _table(ids: list[str], answers: dict[str, dict[str, str]], final: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Endpoints", title_justify="left")
    for column in ("endpoint", "channel", "answered", "final", "reason", "attempts", "message id"):
        table.add_column(column, no_wrap=column != "reason")
    colours = {"DELIVERED": "green", "FAILED": "red", "TIMED_OUT": "red", "SKIPPED": "yellow", "PENDING": "cyan"}
    for endpoint_id in ids:
        attributes = answers.get(endpoint_id, {})
        record = final.get(endpoint_id, {})
        answered = attributes.get("status", "?")
        final_status = str(record.get("status", "")).replace("SENT", "PENDING").replace("SENDING", "PENDING")
        table.add_row(
            endpoint_id,
            attributes.get("channel", record.get("channel", "")),
            f"[{colours.get(answered, 'white')}]{answered}[/]",
            f"[{colours.get(final_status, 'white')}]{final_status}[/]",
            str(record.get("reason") or attributes.get("reason") or ""),
            str(record.get("attempts", "")),
            _short(str(record.get("provider_message_id") or "")),
        )
    return table


# Options run and serve share.
SendRateOption = Annotated[float | None, typer.Option(
    help="Messages a second each provider stand-in accepts (past it: the provider's throttling answer); "
         "channels sent through a --provider stand-in are paced at it (send_rate).", min=0.01)]
AwsFaultsOption = Annotated[float, typer.Option(
    "--aws-faults", help="Share (0 to 1) of the functions' AWS calls that fail with the service's own throttling "
                         "error, as when throttling outlasts the SDK's retries.")]
FaultSeedOption = Annotated[int, typer.Option(help="Seed of --aws-faults.")]
ProviderOption = Annotated[list[str] | None, typer.Option(
    "--provider", help="CHANNEL=KIND: send CHANNEL through a local stand-in of KIND (http, ses, sms-voice, push, "
                       "twilio), speaking that provider's real API. Repeatable; unnamed channels use http.")]
ConfigurationOption = Annotated[Path | None, typer.Option(
    help="A configuration object (JSON {\"CONNECT_ACTIONS\": {...}, \"CHANNEL_PROVIDERS\": {...}, ...}): put into "
         "the local S3 and named by ConfigurationObject, as deployed (docs/configuration.md).")]
TemplateOption = Annotated[Path | None, typer.Option(help="The SAM template (default: the checkout's).")]
WaitModeOption = Annotated[str, typer.Option(
    "--wait-mode", help="The template's WaitMode: endpoint (one waiting task per endpoint) or group (one per group "
                        "of a channel family's endpoints; docs/guide/wait-modes.md).")]
WAIT_MODES = ("endpoint", "group")


def _wait_mode(value: str) -> dict[str, str]:
    if value not in WAIT_MODES:
        raise _fail(f"--wait-mode takes {' or '.join(WAIT_MODES)}; got {value!r}")
    return {"WaitMode": value}



@app.command()
def run(
    event_file: Annotated[Path, typer.Argument(
        help="A Pinpoint custom-channel event or an Amazon Connect custom-action event (JSON).", metavar="EVENT.json")],
    json_only: Annotated[bool, typer.Option("--json", help="Print only the response JSON.")] = False,
    history: Annotated[Path | None, typer.Option(
        help="Write the execution's history events to this JSON file (a batch run in several executions: "
             "an object keyed by execution name).")] = None,
    view: Annotated[Path | None, typer.Option(
        help="Write the execution view (one self-contained HTML file; several executions: one per execution, "
             "STEM-SUFFIX.html).")] = None,
    deadline: Annotated[float | None, typer.Option(
        help="Seconds the invoker waits for outcomes (default: the trigger's own, Connect 25, Pinpoint 10).")] = None,
    receipt_delay: Annotated[float, typer.Option(help="Seconds before the stand-in posts a receipt.")] = 0.2,
    latency: Annotated[float, typer.Option(help="Seconds each send to the stand-in takes.")] = 0.0,
    send_rate: SendRateOption = None,
    behave: Annotated[list[str] | None, typer.Option(
        help="ADDRESS=KIND: how the stand-ins treat an address (deliver, bounce, fail, reject, throttle, outage, "
             "never, early, duplicate, optout, flaky:N, throttled:N, stall:SECONDS). Repeatable.")] = None,
    receipt_timeout: Annotated[int, typer.Option(help="Seconds a send waits for its receipt.")] = 30,
    heartbeat: Annotated[int, typer.Option(help="Heartbeat seconds of the receipt wait.")] = 20,
    wait: Annotated[bool, typer.Option(help="Wait for the execution to end before printing outcomes.")] = True,
    template: TemplateOption = None,
    log_level: Annotated[str, typer.Option(help="The functions' log level (their JSON logs go to stderr).")]
    = "CRITICAL",
    env: Annotated[list[str] | None, typer.Option(help="NAME=VALUE set for the functions (e.g. EVENT_ATTRIBUTES). "
                                                       "Repeatable.")] = None,
    aws_faults: AwsFaultsOption = 0.0,
    fault_seed: FaultSeedOption = 0,
    provider: ProviderOption = None,
    configuration: ConfigurationOption = None,
    wait_mode: WaitModeOption = "endpoint",
) -> None:
    """Run EVENT.json through the real state machine on the embedded local engine."""
    parameters = _wait_mode(wait_mode)
    event = _read_event(event_file)
    behaviours = _parse_behaviours(behave or [])
    environment = _parse_env(env or [])
    document = _read_configuration(configuration, environment)
    providers = _parse_providers(provider)
    if heartbeat >= receipt_timeout:
        raise _fail("--heartbeat must be smaller than --receipt-timeout")
    if not 0.0 <= aws_faults <= 1.0:
        raise _fail(f"--aws-faults takes a share between 0 and 1; got {aws_faults}")

    from journey_activity.errors import PayloadError
    from journey_activity.triggers import adapter_for, connect

    try:
        adapter = adapter_for(event)
    except PayloadError as error:
        raise _fail(f"PayloadError: {error}") from None
    if adapter is connect.ADAPTER and "CONNECT_ACTIONS" not in (document or {}):
        environment.setdefault("CONNECT_ACTIONS", json.dumps(LOCAL_CONNECT_ACTIONS))
    # Before the engine starts: a bad payload is said at once.
    _check_envelope(adapter, event, environment, document, configuration)

    _engine_verified()
    from journey_activity_local.progress import live_progress
    from journey_activity_local.stack import LocalEnvironment, LocalInvokeError, LocalOptions

    options = LocalOptions(template=template, receipt_delay=receipt_delay, latency=latency, behaviours=behaviours,
                           send_rate=send_rate, deadline_seconds=deadline, receipt_timeout_seconds=receipt_timeout,
                           receipt_heartbeat_seconds=heartbeat, environment=environment,
                           log_level=log_level.upper(), providers=providers, parameters=parameters,
                           aws_faults=aws_faults, fault_seed=fault_seed, configuration_file=configuration)
    stderr = Console(stderr=True)
    if not stderr.is_terminal:
        stderr = Console(stderr=True, width=160)
    stdout = sys.stdout
    batch_id = adapter.batch_id_for(event)
    # Handlers log to stdout in Lambda; here stdout carries only the response.
    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        with live_progress(stderr, lambda: _records(local, local.batch_executions(batch_id)),
                           len(adapter.endpoint_ids(event)), enabled=not json_only):
            try:
                response = local.invoke(event)
            except LocalInvokeError as error:
                raise _fail(f"the invoker failed: {error}") from None
            if isinstance(response, dict) and "error" in response and set(response) == {"error"}:
                raise _fail(f"{response['error'].get('type')}: {response['error'].get('message')}")
            # The batch's executions: one, or one per part (and any a claimed profile ran in).
            executions = local.batch_executions(batch_id)
            if wait:
                executions = _wait_for_all(local, executions, timeout=receipt_timeout + 30)
        final = _records(local, executions)
        if (history is not None or view is not None) and not executions:
            unwritten = [f"--{name}" for name, path in (("history", history), ("view", view)) if path is not None]
            stderr.print(f"no execution was started (nothing to send): {' and '.join(unwritten)} not written",
                         highlight=False)
        elif history is not None:
            history.write_text(json.dumps(_histories(local, executions), default=str, indent=2))
        if view is not None and executions:
            personal = environment.get("LOG_PERSONAL_DATA", os.environ.get("LOG_PERSONAL_DATA", ""))
            written = _write_views(local, view, executions, batch_id, final,
                                   personal.strip().lower() in ("1", "true", "yes"))
            if len(written) > 1:
                stderr.print(f"views of the {len(written)} executions: {', '.join(map(str, written))}",
                             highlight=False, soft_wrap=True)
        if not json_only:
            stderr.print(_table(adapter.endpoint_ids(event), adapter.answered(response), final))
            sent = sum(len(standin.sends) for standin in local.standins.values())
            stderr.print(f"{_executions_line(executions)}; {sent} sent, {_engagement_events(local)} engagement "
                         "events reported", highlight=False, soft_wrap=True)
            stderr.print(_environments_line(local.registry.summary()), highlight=False)
            guards = local.guard_totals().snapshot()
            if guards["denied"] or guards["throttled"]:
                stderr.print(f"AWS calls refused by IAM: {guards['denied']}; throttled on purpose: "
                             f"{guards['throttled']}", highlight=False)
                for denial in guards["denials"][:5]:
                    stderr.print(f"  denied {denial}", highlight=False)
    stdout.write(json.dumps(response, indent=None if json_only else 2) + "\n")
    stdout.flush()


def _read_configuration(path: Path | None, environment: dict[str, str]) -> dict[str, Any] | None:
    """``--configuration``'s document, checked as the functions will check it (the object's shape,
    its settings, a key also set by --env): a problem is said at once, in one line."""
    if path is None:
        return None
    from journey_activity.config import settings_from
    from journey_activity.errors import ConfigurationError

    document = _read_event(path)  # a readable JSON file, or one line saying why not
    if not isinstance(document, dict):
        raise _fail(f"{path} must be a JSON object {{\"CONNECT_ACTIONS\": {{...}}, ...}}")
    try:
        settings_from(environment, document=document, source=str(path))
    except ConfigurationError as error:
        raise _fail(f"--configuration {error}") from None
    return document


def _check_envelope(adapter: Any, event: Any, environment: dict[str, str], document: dict[str, Any] | None = None,
                    source: Path | None = None) -> None:
    """The trigger's own parse of the event (no AWS, no engine): an envelope the invoker would refuse
    is refused here, in one line, before the local environment starts."""
    import logging

    from journey_activity.config import settings_from
    from journey_activity.errors import ConfigurationError, PayloadError

    try:
        # What the parse reads of the settings: the Connect actions the run's functions get.
        if document is not None and "CONNECT_ACTIONS" in document:
            settings = settings_from({}, document={"CONNECT_ACTIONS": document["CONNECT_ACTIONS"]}, source=str(source))
        else:
            settings = settings_from({"CONNECT_ACTIONS": environment.get("CONNECT_ACTIONS", "")})
    except ConfigurationError as error:
        raise _fail(f"--env {error}") from None
    disabled = logging.root.manager.disable
    logging.disable(logging.CRITICAL)  # the parse logs skipped profiles; the run's functions say it again
    try:
        adapter.to_batch(event, settings)
    except PayloadError as error:
        raise _fail(f"PayloadError: {error}") from None
    finally:
        logging.disable(disabled)


def _records(local: Any, executions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The ledger records of the batch: the union of its executions' partitions (a final status wins)."""
    from journey_activity_local.progress import FINAL

    merged: dict[str, dict[str, Any]] = {}
    for execution in executions:
        for endpoint_id, record in local.ledger_records(execution["name"]).items():
            known = merged.get(endpoint_id)
            if known is None or (record.get("status") in FINAL and known.get("status") not in FINAL):
                merged[endpoint_id] = record
    return merged


def _wait_for_all(local: Any, executions: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Each execution as DescribeExecution says once it ended (or the time ran out), in the same order."""
    import time

    limit = time.monotonic() + timeout
    return [{**execution, **local.wait_for_execution(execution["executionArn"],
                                                     timeout=max(0.0, limit - time.monotonic()))}
            for execution in executions]


def _histories(local: Any, executions: list[dict[str, Any]]) -> Any:
    """One execution: its history events (a list, as ``view`` reads). Several: each one's, by execution name."""
    histories = {execution["name"]: local.history(execution["executionArn"]) for execution in executions}
    return next(iter(histories.values())) if len(histories) == 1 else histories


def _write_views(local: Any, view: Path, executions: list[dict[str, Any]], batch_id: str,
                 records: dict[str, dict[str, Any]], personal_data: bool) -> list[Path]:
    """One execution: its view at ``view``. Several (parts): a view per execution, ``<stem>-<suffix>``
    (``run-1.html``, ``run-2.html``; the batch id's own execution keeps ``view``), each with its records."""
    from journey_activity_local.stack import execution_suffix
    from journey_activity_local.view.sources import load_execution, write_view

    sfn = local.client("stepfunctions")
    written = []
    for execution in executions:
        suffix = execution_suffix(execution["name"], batch_id) if len(executions) > 1 else ""
        path = view.with_name(f"{view.stem}-{suffix}{view.suffix}") if suffix else view
        own = records if len(executions) == 1 else local.ledger_records(execution["name"])
        write_view(path, load_execution(sfn, execution["executionArn"]), records=own, personal_data=personal_data)
        written.append(path)
    return written


def _executions_line(executions: list[dict[str, Any]]) -> str:
    if not executions:
        return "no execution (nothing to send)"
    if len(executions) == 1:
        return f"execution {executions[0]['name']}: {executions[0]['status']}"
    return f"{len(executions)} executions: " + ", ".join(f"{e['name']} {e['status']}" for e in executions)


@connect_app.command("register")
def connect_register(
    instance_id: Annotated[str, typer.Option("--instance-id", help="The Amazon Connect instance id.")],
    function_arn: Annotated[str, typer.Option("--function-arn", help="The invoker's ARN (InvokerFunctionArn).")],
    region: Annotated[str | None, typer.Option(help="Default: the function's region.")] = None,
) -> None:
    """Make the invoker the Connect instance's Lambda integration (PutConnectInstanceIntegration), so
    a journey flow's custom action can invoke it."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from journey_activity.registration import region_of, register

    try:
        region = region or region_of(function_arn)
        register(boto3.client("connectcampaignsv2", region_name=region), instance_id, function_arn)
    except ValueError as error:
        raise _fail(str(error)) from None
    except (BotoCoreError, ClientError) as error:
        raise _fail(f"PutConnectInstanceIntegration failed: {error}") from None
    Console(stderr=True).print(f"registered {function_arn} with Connect instance {instance_id} ({region})",
                               highlight=False, soft_wrap=True)


def _engagement_events(local: Any) -> int:
    """The events the configured sink delivered: those EventBridge routed, or Pinpoint accepted."""
    from journey_activity.config import get_settings

    sink = get_settings().effective_report_sink
    if sink == "pinpoint":
        return len(local.pinpoint.events)
    return len(local.event_bus.events())


def _environments_line(summary: dict[str, dict[str, Any]]) -> str:
    """One line on the execution environments the run used: cold starts per function (and its
    timeouts and throttled invocations, if any)."""
    parts = [f"{name.removesuffix('Function')} {figures['cold_starts']}/{figures['invocations']}"
             + (f" ({figures['timeouts']} timed out)" if figures["timeouts"] else "")
             + (f" ({figures['throttles']} throttled)" if figures.get("throttles") else "")
             for name, figures in sorted(summary.items())]
    starts = [figures["cold_start_ms_median"] for figures in summary.values() if figures["cold_start_ms_median"]]
    median = sorted(starts)[len(starts) // 2] if starts else 0
    return f"cold starts/invocations: {', '.join(parts)}; median cold start {median:.0f} ms"


@app.command()
def serve(
    deadline: Annotated[float | None, typer.Option(
        help="Seconds the invoker waits for outcomes (default: the trigger's own, Connect 25, Pinpoint 10).")] = None,
    receipt_delay: Annotated[float, typer.Option(help="Seconds before the stand-in posts a receipt.")] = 0.2,
    latency: Annotated[float, typer.Option(help="Seconds each send to the stand-in takes.")] = 0.0,
    send_rate: SendRateOption = None,
    behave: Annotated[list[str] | None, typer.Option(
        help="ADDRESS=KIND: how the stand-in treats an address (as for run). Repeatable.")] = None,
    receipt_timeout: Annotated[int, typer.Option(help="Seconds a send waits for its receipt.")] = 900,
    heartbeat: Annotated[int, typer.Option(help="Heartbeat seconds of the receipt wait.")] = 300,
    template: TemplateOption = None,
    log_level: Annotated[str, typer.Option(help="The functions' log level (their JSON logs go to stderr).")]
    = "WARNING",
    env: Annotated[list[str] | None, typer.Option(help="NAME=VALUE set for the functions. Repeatable.")] = None,
    aws_faults: AwsFaultsOption = 0.0,
    fault_seed: FaultSeedOption = 0,
    provider: ProviderOption = None,
    configuration: ConfigurationOption = None,
    wait_mode: WaitModeOption = "endpoint",
) -> None:
    """Keep the embedded stack up for your own tools until SIGINT or SIGTERM.

    The first line on stdout is one JSON object: the Lambda Invoke endpoint (`aws lambda invoke
    --endpoint-url`, boto3's `endpoint_url`), the invoker's name, the receipts URL, the local AWS
    endpoint (and the ledger's DynamoDB endpoint) and credentials, and each provider stand-in's URL
    and credentials."""
    parameters = _wait_mode(wait_mode)
    behaviours = _parse_behaviours(behave or [])
    environment = _parse_env(env or [])
    _read_configuration(configuration, environment)
    providers = _parse_providers(provider)
    if heartbeat >= receipt_timeout:
        raise _fail("--heartbeat must be smaller than --receipt-timeout")
    if not 0.0 <= aws_faults <= 1.0:
        raise _fail(f"--aws-faults takes a share between 0 and 1; got {aws_faults}")

    from journey_activity_local.stack import LocalEnvironment, LocalOptions

    _engine_verified()
    options = LocalOptions(template=template, receipt_delay=receipt_delay, latency=latency, behaviours=behaviours,
                           send_rate=send_rate, deadline_seconds=deadline, receipt_timeout_seconds=receipt_timeout,
                           receipt_heartbeat_seconds=heartbeat, environment=environment,
                           log_level=log_level.upper(), providers=providers, parameters=parameters,
                           aws_faults=aws_faults, fault_seed=fault_seed, configuration_file=configuration)
    stop = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stop.set())
    stdout = sys.stdout
    stderr = Console(stderr=True)
    with contextlib.redirect_stdout(sys.stderr), LocalEnvironment(options) as local:
        stdout.write(json.dumps(local.endpoints()) + "\n")
        stdout.flush()
        stderr.print(f"serving; Lambda endpoint {local.lambda_endpoint.url}; stop with Ctrl-C", highlight=False)
        while not stop.wait(0.2):
            pass
        stderr.print(f"stopping; {_environments_line(local.registry.summary())}", highlight=False)


def _parse_providers(values: list[str] | None) -> dict[str, str]:
    from journey_activity_local.standins.registry import factory_for, parse_provider_options

    try:
        chosen = parse_provider_options(values)
        for kind in set(chosen.values()):
            factory_for(kind)  # a kind without a stand-in in this build: said now, in one line
    except ValueError as error:
        raise _fail(str(error)) from None
    return chosen


def _parse_env(values: list[str]) -> dict[str, str]:
    environment = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise _fail(f"--env takes NAME=VALUE; got {item!r}")
        environment[name] = value
    return environment


@app.command("view")
def view_command(
    source: Annotated[str, typer.Argument(help="A history file written by `run --history`, or an execution ARN "
                                               "(read with your AWS credentials).", metavar="SOURCE")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path("execution.html"),
    definition: Annotated[Path | None, typer.Option(help="The state machine definition (ASL) for a history file "
                                                         "(default: the file's own, else the checkout's).")] = None,
    personal_data: Annotated[bool, typer.Option("--personal-data", help="Show error details that may hold "
                                                "personal data (as LOG_PERSONAL_DATA does).")] = False,
    region: Annotated[str | None, typer.Option(help="AWS Region of the execution (default: from its ARN).")] = None,
    ledger_table: Annotated[str | None, typer.Option(
        help="An execution ARN's ledger table (the stack's LedgerTableName output): its endpoint records give "
             "each endpoint's timeline in group wait mode, and receipts and heartbeats in either mode.")] = None,
) -> None:
    """Write one self-contained HTML page of an execution: its graph, every endpoint's path and timeline."""
    from journey_activity_local.view.sources import (
        ViewSourceError,
        batch_id_of,
        load_execution,
        load_history_file,
        load_records,
        write_view,
    )

    try:
        if source.startswith("arn:"):
            import boto3
            from botocore.exceptions import BotoCoreError, ClientError

            parts = source.split(":")
            if len(parts) < 8 or parts[2] != "states" or parts[5] != "execution":
                raise ViewSourceError(f"{source} is not a Step Functions execution ARN")
            try:
                data = load_execution(boto3.client("stepfunctions", region_name=region or parts[3]), source)
            except (BotoCoreError, ClientError) as error:
                raise ViewSourceError(f"cannot read {source}: {error}") from None
            if ledger_table:
                try:
                    data.records = load_records(boto3.client("dynamodb", region_name=region or parts[3]),
                                                ledger_table, batch_id_of(data.events, data.execution))
                except (BotoCoreError, ClientError) as error:
                    raise ViewSourceError(f"cannot read the ledger table {ledger_table}: {error}") from None
        else:
            if ledger_table:
                raise ViewSourceError("--ledger-table is for an execution ARN (a history file may carry \"records\")")
            data = load_history_file(Path(source), definition, _checkout_definition())
    except ViewSourceError as error:
        raise _fail(str(error)) from None
    write_view(output, data, personal_data=personal_data)
    Console(stderr=True).print(f"wrote {output} ({output.stat().st_size:,} bytes, {len(data.events)} events)",
                               highlight=False)


def _checkout_definition() -> Path | None:
    """The checkout's ASL, used only when a history file carries no definition of its own."""
    from journey_activity_local.stack import default_template

    try:
        candidate = default_template().parent / "statemachines" / "batch.asl.json"
    except FileNotFoundError:
        return None
    return candidate if candidate.is_file() else None


if __name__ == "__main__":
    app()
