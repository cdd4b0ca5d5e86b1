"""The embedded local engine assembled: everything ``template.yaml`` describes, from the three rooms
of this package.

- :mod:`journey_activity_local.engine`, the AWS it fakes: moto's Step Functions with
  ``execute_state_machine`` (the real ASL file runs) and its patches, DynamoDB (the ledger, in a
  process of its own), Secrets Manager, SNS/SQS (the receipt queue), EventBridge (the engagement
  event bus, observed through a rule and a queue), the HTTP API in front of the callback function,
  a Pinpoint ``PutEvents`` endpoint; IAM from the transformed template, payload limits, throttling
  and faults enforced as AWS enforces them;
- :mod:`journey_activity_local.runtime`, the Lambda runtime: the local Invoke endpoint serving the
  template's handlers, each function in its own execution environments (worker processes), with
  its timeout;
- :mod:`journey_activity_local.standins`: the provider stand-ins (real HTTP servers speaking each
  provider's wire format) that post signed receipts.

:class:`LocalEnvironment` starts and stops them together; :class:`ExecutionEvents` stands for
EventBridge's execution status events, which moto does not emit, and for Lambda's asynchronous
invocation of their targets (retries, then the on-failure destination).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from journey_activity_local.engine import aws_guards, dynamodb_units, stepfunctions_patches
from journey_activity_local.engine.dynamodb_process import DynamoDBProcess
from journey_activity_local.engine.engine_patches import DEFAULT_EXECUTION_HISTORIES_KEPT
from journey_activity_local.engine.limits import check_environment, enforce_payload_limits
from journey_activity_local.runtime.lambda_endpoint import LambdaRegistry, LocalLambdaEndpoint
from journey_activity_local.runtime.lambda_runtime import (
    ACCOUNT_CONCURRENCY,
    DEFAULT_CAP,
    AccountConcurrency,
    Initializer,
)
from journey_activity_local.template import ACCOUNT, REGION, Template, function_arn, named_resource

log = logging.getLogger(__name__)

STATE_MACHINE_NAME = "journey-activity-local-batch"
TABLE_NAME = "journey-activity-local-ledger"
SECRET_NAME = "journey-activity-local-signing-secret"  # noqa: S105 - a name, not a secret
# Where LocalOptions.configuration_file goes: the local S3 (moto), named by ConfigurationObject.
CONFIGURATION_BUCKET, CONFIGURATION_KEY = "journey-activity-local-configuration", "configuration.json"
CONFIGURATION_URI = f"s3://{CONFIGURATION_BUCKET}/{CONFIGURATION_KEY}"
PROVIDER_NAME = "http"
# Execution environments the invoker may have at once: each invocation mostly waits (it polls the
# ledger until its deadline), so a campaign's burst of concurrent batches (100 and more) runs at
# once, as on Lambda, instead of queueing for DEFAULT_CAP environments (benchmarks/burst.py).
INVOKER_ENVIRONMENTS = 128


def _default_function_environments() -> dict[str, int]:
    return {"InvokerFunction": INVOKER_ENVIRONMENTS}


# A sub-execution's name: the batch id cut to 63 characters, a dash and 16 hex digits (80 in all).
_SUB_NAME_PREFIX = 63


def is_batch_execution(name: str, batch_id: str) -> bool:
    """Whether an execution (by name) is one of the batch's: the batch id itself (one part),
    ``<batch id>-1``, ``<batch id>-2``, ... (several parts), and ``<batch id[:63]>-<16 hex>`` (the
    profiles another batch had claimed)."""
    if name == batch_id or name.startswith(f"{batch_id}-"):
        return True
    prefix = batch_id[:_SUB_NAME_PREFIX]
    return len(batch_id) > _SUB_NAME_PREFIX and re.fullmatch(re.escape(prefix) + "-[0-9a-f]{16}", name) is not None


def execution_suffix(name: str, batch_id: str) -> str:
    """What a batch's execution name adds to the batch id: ``""``, ``"1"``, ``"2"``, a hex tail."""
    for prefix in (batch_id, batch_id[:_SUB_NAME_PREFIX]):
        if name == prefix:
            return ""
        if name.startswith(f"{prefix}-"):
            return name[len(prefix) + 1:]
    return name


def _part_order(name: str, batch_id: str) -> tuple[int, int, str]:
    suffix = execution_suffix(name, batch_id)
    if not suffix:
        return (0, 0, "")
    part = suffix.isdigit() and len(suffix) < 16  # not a sub-execution's 16 hex digits
    return (1, int(suffix), "") if part else (2, 0, suffix)


def batch_executions(sfn: Any, state_machine_arn: str, batch_id: str) -> list[dict[str, Any]]:
    """The batch's executions of the state machine (ListExecutions, see :func:`is_batch_execution`):
    the batch id's own first, then the parts in order (``-1``, ``-2``, ... ``-10``), then the rest by name."""
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
    found = [execution for page in pages for execution in page["executions"]
             if is_batch_execution(execution["name"], batch_id)]
    return sorted(found, key=lambda execution: _part_order(execution["name"], batch_id))


def default_template() -> Path:
    """``$JOURNEY_ACTIVITY_TEMPLATE``, else ``template.yaml`` of the checkout this package runs
    from, else of the working directory."""
    override = os.environ.get("JOURNEY_ACTIVITY_TEMPLATE")
    if override:
        return Path(override)
    here = Path(__file__).resolve()
    for parent in (*here.parents, Path.cwd()):
        candidate = parent / "template.yaml"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("template.yaml not found; pass its path with --template")


@dataclass
class LocalOptions:
    template: Path | None = None
    receipt_delay: float = 0.2
    latency: float = 0.0
    # Messages a second each provider stand-in accepts, and the providers' send_rate (None: no limit).
    send_rate: float | None = None
    behaviours: dict[str, str] = field(default_factory=dict)
    progress_receipts: bool = False
    deadline_seconds: float | None = None
    receipt_timeout_seconds: int = 30
    receipt_heartbeat_seconds: int = 20
    # Variables set after the template's (CHANNEL_PROVIDERS, EVENT_ATTRIBUTES, ...).
    environment: dict[str, str] = field(default_factory=dict)
    log_level: str = "WARNING"
    metrics: bool = False
    # Run once in every function's worker process, before its handler is imported: picklable
    # (callable, args) pairs (fault injection, guards; see lambda_runtime.WorkerSetup).
    worker_initializers: list[Initializer] = field(default_factory=list)
    # Execution environments per function without reserved concurrency (lambda_runtime.DEFAULT_CAP),
    # and per function by logical id (the invoker: INVOKER_ENVIRONMENTS). A local cost, not a
    # Lambda limit: an invocation beyond it waits for an environment, it is not throttled.
    max_environments: int = DEFAULT_CAP
    function_environments: dict[str, int] = field(default_factory=_default_function_environments)
    # The template's parameters, as `sam deploy --parameter-overrides` sets them (e.g.
    # {"InvokerReservedConcurrency": "50"}); the others keep their defaults.
    parameters: dict[str, str] = field(default_factory=dict)
    # The account's Lambda concurrency quota (Lambda's default 1,000): every function's concurrent
    # invocations count against it; reserved concurrency is carved out of it (lambda_runtime).
    account_concurrency: int = ACCOUNT_CONCURRENCY
    # The functions' logs (their stdout and stderr), appended to this file; unset: stderr.
    function_log: Path | None = None
    # Every AWS call a handler makes is authorized against its function's role as the SAM
    # transform of the template makes it (aws_guards, iam_policies); off only to compare.
    enforce_iam: bool = True
    # Share of the handlers' AWS calls that fail with the service's throttling error, and its seed.
    aws_faults: float = 0.0
    fault_seed: int = 0
    # channel type -> provider stand-in kind (local.standins.KINDS), from --provider CHANNEL=KIND;
    # channels not named keep today's generic HTTP stand-in (PROVIDER_URL).
    providers: dict[str, str] = field(default_factory=dict)
    # Closed executions whose whole history the engine keeps (the most recent ones; None: all).
    # Older ones keep their first and last events (README, Limits; engine_patches.pack_closed_executions).
    execution_histories_kept: int | None = DEFAULT_EXECUTION_HISTORIES_KEPT
    # A configuration object's document (JSON: {"CONNECT_ACTIONS": {...}, ...}; docs/configuration.md):
    # put into the local S3 as it is and named by the template parameter ConfigurationObject, so the
    # functions read it as deployed (their roles' s3:GetObject grant enforced).
    configuration_file: Path | None = None


class LocalInvokeError(RuntimeError):
    def __init__(self, payload: Mapping[str, Any]) -> None:
        super().__init__(f"{payload.get('errorType')}: {payload.get('errorMessage')}")
        self.payload = dict(payload)


class ExecutionEvents:
    """EventBridge's "Step Functions Execution Status Change" events, which moto does not emit:
    hears every status change of the state machine's executions (see
    :func:`.engine.stepfunctions_patches.announce_status_changes`) and invokes the functions whose ``EventBridgeRule``
    patterns in the template match, as EventBridge would, one event at a time.

    The invocation is asynchronous, as Lambda makes it: an event the function fails on is tried
    again ``async_retries`` times (EventInvokeConfig's MaximumRetryAttempts, 2 by default), then
    Lambda's invocation record goes to the function's on-failure destination, an SQS queue of the
    template (``queues``: its ARN -> URL), sent with the function's role (which must allow
    sqs:SendMessage on it, as Lambda requires); without one the event is discarded."""

    def __init__(self, registry: LambdaRegistry, state_machine_arn: str, queues: Mapping[str, str] | None = None,
                 guard_config: aws_guards.GuardConfig | None = None, retry_pause: float = 0.2) -> None:
        self.registry = registry
        self.state_machine_arn = state_machine_arn
        self.queues = dict(queues or {})
        self.guard_config = guard_config
        self.retry_pause = retry_pause
        self.delivered: list[dict[str, Any]] = []
        self._seen: dict[str, str] = {}
        self._generation = -1  # until listening: no execution of this environment has started yet
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="execution-events", daemon=True)

    def __enter__(self) -> ExecutionEvents:
        self._generation = stepfunctions_patches.listen(self._hear)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        stepfunctions_patches.stop_listening(self._hear)
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _hear(self, execution: Any) -> None:
        """Called on the engine's thread: note the change, deliver it on this one's."""
        if (execution.state_machine.arn != self.state_machine_arn or execution.exec_status is None
                or getattr(execution, "_journey_activity_generation", None) != self._generation):
            return
        self._queue.put({"executionArn": execution.exec_arn, "name": execution.name,
                         "status": execution.exec_status.value})

    def _run(self) -> None:
        while (execution := self._queue.get()) is not None:
            arn, status = execution["executionArn"], execution["status"]
            if self._seen.get(arn) != status:  # a stopped run also "terminates" later, ABORTED again
                self._seen[arn] = status
                self._deliver(execution)

    def _deliver(self, execution: Mapping[str, Any]) -> None:
        from journey_activity_local.runtime.lambda_endpoint import FunctionError
        from journey_activity_local.template import matches

        event = {
            "version": "0",
            "id": secrets.token_hex(16),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": ACCOUNT,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": REGION,
            "resources": [execution["executionArn"]],
            "detail": {
                "executionArn": execution["executionArn"],
                "stateMachineArn": self.state_machine_arn,
                "name": execution["name"],
                "status": execution["status"],
            },
        }
        for spec in self.registry.specs.values():
            if any(matches(pattern, event) for pattern in spec.event_patterns):
                # EventBridge invokes asynchronously, and Lambda retries an asynchronous invocation
                # that fails (after about 1 and 2 minutes; here after a moment).
                attempts = spec.async_retries + 1
                delivery: dict[str, Any] = {"function": spec.logical_id, "event": event, "attempts": 0}
                for attempt in range(attempts):
                    delivery["attempts"] = attempt + 1
                    try:
                        delivery["result"] = self.registry.call(spec, event, asynchronous=True)
                        break
                    except RuntimeError:  # the environment closed while the event waited for concurrency
                        return
                    except FunctionError as error:
                        delivery["result"] = {"error": error.payload}
                        if attempt + 1 < attempts:
                            time.sleep(self.retry_pause * (attempt + 1))
                else:
                    delivery["destination"] = self._on_failure(spec, event, delivery["result"]["error"], attempts)
                self.delivered.append(delivery)

    def _on_failure(self, spec: Any, event: Mapping[str, Any], error: Mapping[str, Any], attempts: int) -> str | None:
        """Lambda's invocation record of an event that failed every attempt, sent to the function's
        on-failure destination: its ARN, or None when there is none or the role may not send to it
        (Lambda then counts a DestinationDeliveryFailures; the record is lost)."""
        import boto3

        destination = spec.on_failure
        if not destination:
            log.warning("%s failed %d times on an event and has no on-failure destination: the event is discarded",
                        spec.logical_id, attempts)
            return None
        if destination not in self.queues:
            raise LookupError(f"{spec.logical_id}'s on-failure destination {destination} is not a queue of the "
                              "template (the local engine supports SQS destinations)")
        if self.guard_config is not None and self.guard_config.enforce_iam:
            refused = aws_guards.check(self.guard_config, spec.logical_id, "sqs:SendMessage", [destination])
            if refused is not None:
                log.warning("%s's invocation record was not delivered: %s", spec.logical_id, refused)
                return None
        record = {
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "requestContext": {"requestId": secrets.token_hex(16), "functionArn": f"{spec.arn}:$LATEST",
                               "condition": "RetriesExhausted", "approximateInvokeCount": attempts},
            "requestPayload": event,
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
            "responsePayload": dict(error),
        }
        boto3.client("sqs", region_name=REGION).send_message(QueueUrl=self.queues[destination],
                                                             MessageBody=json.dumps(record))
        return str(destination)


class LocalEnvironment:
    """``with LocalEnvironment(options) as local: local.invoke(event)``"""

    def __init__(self, options: LocalOptions | None = None) -> None:
        self.options = options or LocalOptions()
        self.template = Template(self.options.template or default_template())
        self._stack = ExitStack()
        self._saved_env: dict[str, str] | None = None
        self.signing_secret = secrets.token_hex(24)
        self._queue_refs: dict[str, str] = {}
        self.state_machine_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STATE_MACHINE_NAME}"
        self.configuration_uri: str | None = None
        self._configuration_body = b""
        self._configuration: dict[str, Any] | None = None  # the document, when it is a JSON object
        if self.options.configuration_file is not None:
            self.configuration_uri = CONFIGURATION_URI
            self._configuration_body = self.options.configuration_file.read_bytes()
            try:
                document = json.loads(self._configuration_body)
            except ValueError:  # uploaded as it is: the functions say what is wrong with it
                document = None
            self._configuration = document if isinstance(document, dict) else None
        self._caller_lock = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> LocalEnvironment:
        from journey_activity_local.engine import verified

        verified.preflight()  # no half-patched engine: one clear line instead (UnverifiedEngineError)
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        aws_guards.uninstall()
        if self._saved_env is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None
        self._reset_caches()

    def _start(self) -> None:
        from moto import mock_aws

        from journey_activity_local.engine import engine_patches
        from journey_activity_local.engine.http_api import LocalHttpApi
        from journey_activity_local.engine.moto_server import MotoServer
        from journey_activity_local.engine.pinpoint_events import LocalPinpointEvents
        from journey_activity_local.runtime.lambda_runtime import LambdaRuntime
        from journey_activity_local.standins.http import ProviderStandIn
        from journey_activity_local.standins.registry import StandIn, StandInSetup, factory_for

        self._saved_env = dict(os.environ)
        for variable in [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")]:
            del os.environ[variable]
        # moto's fake credentials, so nothing here can reach a real account.
        os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                           "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION})
        os.environ.pop("AWS_PROFILE", None)
        # The ledger's DynamoDB starts first, in its own process (it imports while this one sets up).
        self.dynamodb = DynamoDBProcess.take(REGION, ACCOUNT)
        self._stack.callback(DynamoDBProcess.prepare_spare, REGION, ACCOUNT)  # last, once all is stopped
        self._stack.callback(self.dynamodb.stop)
        self._stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": True}}))
        engine_patches.install(execution_histories_kept=self.options.execution_histories_kept)
        stepfunctions_patches.install()
        enforce_payload_limits()
        self._reset_caches()
        # The handlers' AWS, over HTTP from their worker processes: the same moto backends; the
        # ledger's DynamoDB apart, for this process's clients too.
        self.moto_server = self._stack.enter_context(MotoServer())
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = self.dynamodb.wait_ready()
        dynamodb_units.use_remote(self.dynamodb)
        self._stack.callback(dynamodb_units.use_remote, None)
        LambdaRuntime.start_platform()

        self.registry = LambdaRegistry(self.template.functions(self._refs({})), environment={},
                                       initializers=self.options.worker_initializers,
                                       cap=self.options.max_environments,
                                       caps=self.options.function_environments,
                                       account_limit=self.options.account_concurrency,
                                       log_path=str(self.options.function_log) if self.options.function_log else None)
        self._stack.callback(self.registry.close)
        self.lambda_endpoint = self._stack.enter_context(LocalLambdaEndpoint(self.registry))
        self.http_api = self._stack.enter_context(LocalHttpApi(self.registry, throttle=self._receipts_throttle()))
        self.pinpoint = self._stack.enter_context(LocalPinpointEvents())
        self.receipts_url = f"{self.http_api.url}/receipts/{PROVIDER_NAME}"
        self.receipt_path = self._create_receipt_path()
        self.destination_queues = self._create_destination_queues()
        self.callback_queue = self._create_queue("CallbackQueue")
        setup = StandInSetup(
            receipts_base_url=self.http_api.url,
            receipt_topic_arn=self.receipt_path.get("topic_arn", ""),
            email_configuration_set=self._resource_name("EmailConfigurationSet", "Name"),
            sms_voice_configuration_set=self._resource_name("SmsVoiceConfigurationSet", "ConfigurationSetName"),
            signing_secret=self.signing_secret,
            pinpoint_events=self.pinpoint,
            aws_endpoint=self.moto_server.url,
            region=REGION,
            receipt_delay=self.options.receipt_delay,
            latency=self.options.latency,
            send_rate=self.options.send_rate,
            behaviours=dict(self.options.behaviours),
            progress_receipts=self.options.progress_receipts,
        )
        # The generic stand-in always runs (channels without --provider go to it, as before);
        # each other kind in use gets one stand-in, shared by its channels.
        provider = factory_for("http")(setup)
        assert isinstance(provider, ProviderStandIn)
        self.provider = provider
        self._stack.enter_context(self.provider)
        self.standins: dict[str, StandIn] = {"http": self.provider}
        for kind in sorted(set(self.options.providers.values()) - {"http"}):
            self.standins[kind] = self._stack.enter_context(factory_for(kind)(setup))

        import boto3

        secret_arn = boto3.client("secretsmanager").create_secret(
            Name=SECRET_NAME, SecretString=self.signing_secret
        )["ARN"]
        self.event_bus = self._create_event_bus().start_reading()
        self._stack.callback(self.event_bus.close)
        refs = self._refs({"CallbackSigningSecret": secret_arn, "EngagementEventBus": self.event_bus.name,
                           "EngagementEventBus.Arn": self.event_bus.arn})
        self.secret_arn = secret_arn
        self.registry.specs = self.template.functions(refs)
        # Reservations Lambda would refuse fail here, as the stack would fail to create.
        AccountConcurrency(self.options.account_concurrency,
                           {name: spec.reserved_concurrency for name, spec in self.registry.specs.items()})
        self.guard_config = self._guard_config(refs)
        self.http_api.use_integrations(self._api_integrations(refs), REGION)
        # Here for the Lambda endpoint's check of the state machine's invocations; in every
        # worker process for the handlers' own calls.
        aws_guards.install(self.guard_config)
        self.guards = aws_guards.GuardTotals()
        self.registry.configure(
            initializers=[*self.options.worker_initializers, (aws_guards.install, (self.guard_config,))],
            report=aws_guards.take_report, absorb=self.guards.absorb)
        self._set_environment()
        self._create_ledger()
        boto3.client("stepfunctions").create_state_machine(
            name=STATE_MACHINE_NAME,
            definition=self.template.definition(refs),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/journey-activity-local",
            type="STANDARD",
        )
        self._reset_caches()
        # On exit (in reverse): stop hearing status changes, then stop the runs still going.
        self._stack.callback(self._stop_running_executions)
        self.execution_events = self._stack.enter_context(ExecutionEvents(
            self.registry, self.state_machine_arn,
            queues={arn: url for url, arn in self.destination_queues.values()}, guard_config=self.guard_config))
        pollers = self._start_queue_pollers()
        self.receipt_queue = pollers.get("ReceiptQueue")
        self.callback_poller = pollers.get("CallbackQueue")

    def _resource_name(self, logical_id: str, name_property: str) -> str:
        """A resource's name as the template sets it (resolved), or "" when the template has none."""
        properties = self.template.resources.get(logical_id, {}).get("Properties", {})
        return str(self.template.resolve(properties.get(name_property), self._refs({})) or "")

    def _create_receipt_path(self) -> dict[str, str]:
        """The template's provider-events topic, receipt queue and dead-letter queue (with its redrive
        policy) and the topic's subscription, on moto; empty when the template has none."""
        import boto3

        resources = self.template.resources
        if "ReceiptQueue" not in resources or "ProviderEventsTopic" not in resources:
            return {}
        sqs, sns = boto3.client("sqs", region_name=REGION), boto3.client("sns", region_name=REGION)
        prefix = "journey-activity-local"
        dlq_url = sqs.create_queue(QueueName=f"{prefix}-ReceiptDeadLetterQueue")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        properties = resources["ReceiptQueue"].get("Properties", {})
        redrive = self.template.resolve(properties.get("RedrivePolicy", {}), self._refs({}))
        attributes = {"VisibilityTimeout": str(properties.get("VisibilityTimeout", 30)),
                      "MessageRetentionPeriod": str(properties.get("MessageRetentionPeriod", 345600)),
                      "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                                   "maxReceiveCount": int(redrive.get("maxReceiveCount", 5))})}
        queue_url = sqs.create_queue(QueueName=f"{prefix}-ReceiptQueue", Attributes=attributes)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topic_arn = sns.create_topic(Name=f"{prefix}-ProviderEventsTopic")["TopicArn"]
        raw = str(resources.get("ProviderEventsSubscription", {}).get("Properties", {}).get("RawMessageDelivery",
                                                                                           False)).lower()
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn,
                      Attributes={"RawMessageDelivery": raw})
        return {"queue_url": queue_url, "queue_arn": queue_arn, "dead_letter_queue_url": dlq_url,
                "topic_arn": topic_arn}

    def _create_destination_queues(self) -> dict[str, tuple[str, str]]:
        """The template's SQS queues that functions name as their asynchronous invocations'
        on-failure destination (EventInvokeConfig), on moto: logical id -> (URL, ARN)."""
        import boto3

        sqs = boto3.client("sqs", region_name=REGION)
        created: dict[str, tuple[str, str]] = {}
        for resource in self.template.resources.values():
            properties = resource.get("Properties", {}) if resource.get("Type") == "AWS::Serverless::Function" else {}
            target = (((properties.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}).get(
                "OnFailure") or {}).get("Destination")
            logical_id = named_resource(target)
            queue = self.template.resources.get(logical_id or "", {})
            if logical_id is None or logical_id in created or queue.get("Type") != "AWS::SQS::Queue":
                continue
            retention = str(queue.get("Properties", {}).get("MessageRetentionPeriod", 345600))
            url = sqs.create_queue(QueueName=f"journey-activity-local-{logical_id}",
                                   Attributes={"MessageRetentionPeriod": retention})["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            created[logical_id] = (url, arn)
        return created

    def dead_letters(self, logical_id: str = "FinalizeDeadLetterQueue") -> list[dict[str, Any]]:
        """The invocation records waiting in an on-failure destination queue (received, not deleted:
        they become visible again, as an operator's look would leave them)."""
        url = self.destination_queues[logical_id][0]
        sqs = self.client("sqs")
        found: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0,
                                           WaitTimeSeconds=0).get("Messages", [])
            fresh = [json.loads(m["Body"]) for m in messages]
            fresh = [m for m in fresh if m not in found]
            if not fresh:
                return found
            found.extend(fresh)

    def _create_queue(self, logical_id: str) -> dict[str, str]:
        """A queue of the template (and its dead-letter queue, with the redrive policy) on moto:
        ``{"queue_url", "queue_arn", "dead_letter_queue_url"}``; empty when the template has none."""
        import boto3

        resource = self.template.resources.get(logical_id)
        if not resource or resource.get("Type") != "AWS::SQS::Queue":
            return {}
        sqs = boto3.client("sqs", region_name=REGION)
        properties = resource.get("Properties", {})
        attributes = {"VisibilityTimeout": str(properties.get("VisibilityTimeout", 30)),
                      "MessageRetentionPeriod": str(properties.get("MessageRetentionPeriod", 345600))}
        found: dict[str, str] = {}
        redrive = properties.get("RedrivePolicy") or {}
        target = redrive.get("deadLetterTargetArn")
        dead_letter = getattr(target, "value", None) if target is not None else None
        if isinstance(target, dict):
            dead_letter = target.get("Fn::GetAtt")
        if dead_letter:
            dead_letter_id = str(dead_letter[0] if isinstance(dead_letter, list) else dead_letter).split(".")[0]
            dlq = self._create_queue(dead_letter_id)
            found["dead_letter_queue_url"] = dlq["queue_url"]
            attributes["RedrivePolicy"] = json.dumps({"deadLetterTargetArn": dlq["queue_arn"],
                                                      "maxReceiveCount": int(redrive.get("maxReceiveCount", 5))})
        name = f"journey-activity-local-{logical_id}"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._queue_refs.update({logical_id: url, f"{logical_id}.Arn": arn, f"{logical_id}.QueueName": name,
                                 f"{logical_id}.QueueUrl": url})
        return {"queue_url": url, "queue_arn": arn, **found}

    def _api_integrations(self, refs: Mapping[str, Any]) -> list[Any]:
        """The HTTP API routes the template serves with an AWS service integration (SQS-SendMessage)."""
        from journey_activity_local.engine.http_api import ServiceIntegration

        found = []
        resources = self.template.resources
        for route in resources.values():
            if route.get("Type") != "AWS::ApiGatewayV2::Route":
                continue
            properties = route.get("Properties", {})
            target = str(self.template.resolve(properties.get("Target", ""), {}))
            integration = resources.get(target.removeprefix("integrations/"), {})
            settings = integration.get("Properties", {})
            if integration.get("Type") != "AWS::ApiGatewayV2::Integration" or not settings.get("IntegrationSubtype"):
                continue
            if settings["IntegrationSubtype"] != "SQS-SendMessage":
                raise LookupError(f"the local HTTP API has no {settings['IntegrationSubtype']} integration")
            credentials = settings.get("CredentialsArn")
            role = getattr(credentials, "value", None) or (credentials or {}).get("Fn::GetAtt", "")
            method, _, path = str(properties.get("RouteKey", "")).partition(" ")
            found.append(ServiceIntegration(
                method=method.upper(), path=path, subtype=str(settings["IntegrationSubtype"]),
                role=str(role[0] if isinstance(role, list) else role).split(".")[0],
                parameters={key: str(self.template.resolve(value, refs))
                            for key, value in (settings.get("RequestParameters") or {}).items()}))
        return found

    def _start_queue_pollers(self) -> dict[str, Any]:
        """Lambda's event source mappings of the template's queues, by the queue's logical id."""
        from journey_activity_local.engine.receipt_queue import INITIAL_CONCURRENT_BATCHES, QueuePoller

        queues = {"ReceiptQueue": self.receipt_path, "CallbackQueue": self.callback_queue}
        pollers = {}
        for resource in self.template.resources.values():
            if resource.get("Type") != "AWS::Lambda::EventSourceMapping":
                continue
            mapping = resource.get("Properties", {})
            source = mapping.get("EventSourceArn")
            target = getattr(source, "value", None) or (source or {}).get("Fn::GetAtt", "")
            queue_id = str(target[0] if isinstance(target, list) else target).split(".")[0]
            queue = queues.get(queue_id)
            function = str(self.template.resolve(mapping.get("FunctionName"), self._refs({})))
            if not queue or function not in self.registry.specs:
                continue
            maximum = self.template.resolve((mapping.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                                            self._refs({}))
            pollers[queue_id] = self._stack.enter_context(QueuePoller(
                self.registry, function, queue["queue_url"], queue["queue_arn"], region=REGION,
                batch_size=int(mapping.get("BatchSize", 10)),
                pollers=min(INITIAL_CONCURRENT_BATCHES, int(maximum)) if maximum else INITIAL_CONCURRENT_BATCHES))
        return pollers

    def _guard_config(self, refs: Mapping[str, Any]) -> aws_guards.GuardConfig:
        from journey_activity_local.engine.iam_policies import principals

        machine, _, _ = self.template.state_machine()
        return aws_guards.GuardConfig(
            principals=principals(self.template.path, refs) if self.options.enforce_iam else {},
            access_keys={stepfunctions_patches.STATE_MACHINE_ACCESS_KEY: machine},
            enforce_iam=self.options.enforce_iam,
            fault_rate=self.options.aws_faults,
            seed=self.options.fault_seed,
            region=REGION,
            account=ACCOUNT,
        )

    def _create_event_bus(self) -> Any:
        """The template's event bus (its logical id ``EngagementEventBus``), named as the template
        names it, on moto's EventBridge."""
        from journey_activity_local.engine.event_bus import LocalEventBus

        properties = self.template.resources.get("EngagementEventBus", {}).get("Properties", {})
        name = str(self.template.resolve(properties.get("Name"), self._refs({})) or "journey-activity-local-engagement")
        return LocalEventBus(name, ACCOUNT).create()

    def _receipts_throttle(self) -> Any:
        """The receipt API's stage throttling, as the template sets it (API Gateway enforces it)."""
        from journey_activity_local.engine.token_bucket import TokenBucket

        api = self.template.resources.get("ReceiptsApi", {}).get("Properties", {})
        settings = self.template.resolve(api.get("DefaultRouteSettings") or {}, self._refs({}))
        if "ThrottlingRateLimit" not in settings or "ThrottlingBurstLimit" not in settings:
            return None
        return TokenBucket(float(settings["ThrottlingRateLimit"]), int(settings["ThrottlingBurstLimit"]))

    def _stop_running_executions(self) -> None:
        """A run still waiting for a receipt would go on in its thread after the environment
        is gone (until its heartbeat expires): stop it, so it starts no more tasks."""
        client = self.client("stepfunctions")
        for execution in self.executions(status="RUNNING"):
            try:
                client.stop_execution(executionArn=execution["executionArn"], cause="local environment closed")
            except ClientError:  # it ended meanwhile
                continue

    def _parameters(self) -> dict[str, str]:
        """The parameter overrides (LocalOptions.parameters), checked as CloudFormation checks
        them: a parameter the template declares, a Number that is one, within MinValue and
        MaxValue, one of AllowedValues."""
        checked: dict[str, str] = {}
        for name, value in self.options.parameters.items():
            declared = self.template.parameters.get(name)
            if declared is None:
                raise ValueError(f"Parameters: [{name}] do not exist in the template")
            text = str(value)
            if declared.get("Type") == "Number":
                try:
                    number = float(text)
                except ValueError:
                    raise ValueError(f"Parameter '{name}' must be a number, not {text!r}") from None
                low, high = declared.get("MinValue"), declared.get("MaxValue")
                if (low is not None and number < float(low)) or (high is not None and number > float(high)):
                    raise ValueError(f"Parameter '{name}' must be between {low} and {high}, not {text}")
            allowed = declared.get("AllowedValues")
            if allowed is not None and text not in [str(option) for option in allowed]:
                raise ValueError(f"Parameter '{name}' must be one of AllowedValues {allowed}, not {text!r}")
            checked[name] = text
        return checked

    def _refs(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        refs: dict[str, Any] = {**self._parameters(),
                                "LedgerTable": TABLE_NAME,
                                "LedgerTable.Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{TABLE_NAME}",
                                "BatchStateMachine": self.state_machine_arn,
                                "BatchStateMachine.Name": STATE_MACHINE_NAME,
                                "ReceiptsApiRole.Arn": f"arn:aws:iam::{ACCOUNT}:role/ReceiptsApiRole",
                                **getattr(self, "_queue_refs", {}), **extra}
        for logical_id, (url, arn) in getattr(self, "destination_queues", {}).items():
            refs.update({logical_id: url, f"{logical_id}.Arn": arn, f"{logical_id}.QueueName": arn.rsplit(":", 1)[1]})
        if self.configuration_uri is not None:  # the parameter, as `sam deploy --parameter-overrides` sets it
            refs["ConfigurationObject"] = self.configuration_uri
        # Template parameters a stand-in stands for (e.g. the push application the sender's role names).
        for standin in getattr(self, "standins", {}).values():
            parameters = getattr(standin, "template_parameters", None)
            if parameters is not None:
                refs.update(parameters())
        for logical_id, resource in self.template.resources.items():
            if resource.get("Type") == "AWS::Serverless::Function":
                refs.setdefault(logical_id, logical_id)
                refs.setdefault(f"{logical_id}.Arn", function_arn(logical_id))
        return refs

    def _set_environment(self) -> None:
        """The functions' configuration: in this process (merged, for the engine's own use of
        the package), and per function for its worker processes (its own variables only)."""
        local = {
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint.url,
            "AWS_ENDPOINT_URL_PINPOINT": self.pinpoint.url,
            "PROVIDER_CALLBACK_BASE_URL": self.http_api.url,
            "STATE_MACHINE_ARN": self.state_machine_arn,
            "RECEIPT_TIMEOUT_SECONDS": str(self.options.receipt_timeout_seconds),
            "RECEIPT_HEARTBEAT_SECONDS": str(self.options.receipt_heartbeat_seconds),
            "POWERTOOLS_LOG_LEVEL": self.options.log_level,
            "POWERTOOLS_METRICS_DISABLED": "false" if self.options.metrics else "true",
            "ALLOW_LOCAL_PROVIDERS": "true",
        }
        merged: dict[str, str] = {}
        for spec in self.registry.specs.values():
            merged.update(spec.environment)
        merged.update(local)
        held = set(self._configuration or {})  # what the configuration object sets instead
        if not merged.get("PROVIDER_URL") and "PROVIDER_URL" not in held:
            local["PROVIDER_URL"] = f"{self.provider.url}/messages"
        local.update(self._chosen_providers(merged.get("CHANNEL_PROVIDERS", "")))
        if self.options.deadline_seconds is not None:
            local["INVOKER_DEADLINE_SECONDS"] = str(self.options.deadline_seconds)
        local.update(self.options.environment)
        self._check_environments(local)
        self._put_configuration()
        merged.update(local)
        os.environ.update(merged)
        self.registry.configure(environment=self._worker_base_environment(), overrides=local)

    def _check_environments(self, local: Mapping[str, str]) -> None:
        """Lambda's 4 KB of environment per function, as a deploy would configure it: the template's
        variables of each function, with the values this run gives them (EnvironmentTooLargeError)."""
        for spec in self.registry.specs.values():
            check_environment(spec.logical_id, {name: str(local.get(name, value))
                                                for name, value in spec.environment.items()})

    def _put_configuration(self) -> None:
        """The configuration object into the local S3, as a deploy's `aws s3 cp` would."""
        if self.configuration_uri is None:
            return
        import boto3

        body = self._configuration_body
        if self._configuration is not None:
            body = json.dumps(self._configuration, ensure_ascii=False).encode()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=CONFIGURATION_BUCKET)
        s3.put_object(Bucket=CONFIGURATION_BUCKET, Key=CONFIGURATION_KEY, Body=body,
                      ContentType="application/json")

    def _chosen_providers(self, configured: str) -> dict[str, str]:
        """``--provider CHANNEL=KIND``: each channel's entry points at its kind's stand-in, over the
        template's CHANNEL_PROVIDERS (kept for the other channels); plus what the stand-ins need
        the functions to know (their per-service endpoint URLs)."""
        if not self.options.providers:
            return {}
        in_object = self._configuration is not None and "CHANNEL_PROVIDERS" in self._configuration
        entries: dict[str, Any] = json.loads(configured) if configured.strip() else {}
        if in_object:  # the configuration object holds them: the stand-ins' entries go there
            assert self._configuration is not None
            entries = dict(self._configuration["CHANNEL_PROVIDERS"] or {})
        variables: dict[str, str] = {}
        for channel, kind in sorted(self.options.providers.items()):
            entries[channel] = self.standins[kind].provider_config(channel)
        for kind in sorted(set(self.options.providers.values())):
            variables.update(self.standins[kind].environment())
        if in_object:
            assert self._configuration is not None
            self._configuration["CHANNEL_PROVIDERS"] = entries
        else:
            variables["CHANNEL_PROVIDERS"] = json.dumps(entries, separators=(",", ":"))
        return variables

    def _worker_base_environment(self) -> dict[str, str]:
        """What Lambda's runtime gives every function: its credentials and region; locally also
        the endpoints of the local AWS (moto's server, the Lambda and Pinpoint endpoints), and
        no shared AWS config files, so nothing reaches a real account."""
        inherited = {name: os.environ[name] for name in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ",
                                                         "PYTHONPATH", "VIRTUAL_ENV") if name in os.environ}
        return {
            **inherited,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_ENDPOINT_URL": self.moto_server.url,
            "AWS_ENDPOINT_URL_DYNAMODB": self.dynamodb.url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_endpoint.url,
            "AWS_ENDPOINT_URL_PINPOINT": self.pinpoint.url,
        }

    def _create_ledger(self) -> None:
        import boto3

        props = self.template.table_properties("LedgerTable")
        dynamodb = boto3.client("dynamodb")
        dynamodb.create_table(
            TableName=TABLE_NAME,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=TABLE_NAME, TimeToLiveSpecification=ttl)

    @staticmethod
    def _reset_caches() -> None:
        from journey_activity import aws, config

        config.reset_settings_cache()
        aws.reset_clients()
        import sys

        runtime = sys.modules.get("journey_activity.handlers._runtime")
        if runtime is not None:
            runtime.reset()

    # -- use ------------------------------------------------------------------------------

    def set_environment(self, **variables: str) -> None:
        """Change the functions' configuration between invocations, as UpdateFunctionConfiguration
        does: later invocations run in new execution environments that read it."""
        self._check_environments({**self.registry.overrides, **variables})
        os.environ.update(variables)
        self.registry.configure(overrides=variables)
        self._reset_caches()

    def set_configuration(self, document: Mapping[str, Any] | bytes) -> None:
        """Replace the configuration object's content (a document, or raw bytes as they are), as a
        deploy that uploads a new object and points ConfigurationObject at it does: later
        invocations run in new execution environments, which read it. The environment must have
        started with a ``configuration_file``."""
        if self.configuration_uri is None:
            raise ValueError("this local environment has no configuration object (LocalOptions.configuration_file)")
        if isinstance(document, bytes):
            self._configuration_body, self._configuration = document, None
        else:
            self._configuration = dict(document)
        self._put_configuration()
        self.registry.configure(overrides={})
        self._reset_caches()

    def endpoints(self) -> dict[str, Any]:
        """Where a person's own tools reach this stack (``journey-activity serve`` prints it)."""
        return {
            "lambda_endpoint": self.lambda_endpoint.url,
            "invoker_function": "InvokerFunction",
            "functions": sorted(self.registry.specs),
            "receipts_url": self.receipts_url,
            "http_api": self.http_api.url,
            "aws_endpoint": self.moto_server.url,
            # The ledger's DynamoDB runs apart (AWS_ENDPOINT_URL_DYNAMODB): aws_endpoint has no ledger.
            "dynamodb_endpoint": self.dynamodb.url,
            "pinpoint_endpoint": self.pinpoint.url,
            "region": REGION,
            "aws_credentials": {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"},
            "state_machine_arn": self.state_machine_arn,
            "ledger_table": TABLE_NAME,
            "receipt_queue": dict(self.receipt_path),
            "callback_queue": dict(self.callback_queue),
            "providers": self._describe_providers(),
        }

    def guard_totals(self) -> aws_guards.GuardTotals:
        """Every AWS call refused by IAM or throttled on purpose so far: the functions' (their
        worker processes report after each invocation) and the state machine's (checked here)."""
        self.guards.absorb(aws_guards.take_report())
        return self.guards

    def _describe_providers(self) -> dict[str, Any]:
        """Each stand-in's URL and credentials, by provider kind, with the channels sent to it."""
        described: dict[str, Any] = {}
        for kind, standin in self.standins.items():
            entry = dict(standin.describe())
            # "*": every channel not chosen with --provider goes to the generic stand-in.
            entry["channels"] = sorted(c for c, k in self.options.providers.items() if k == kind) + (
                ["*"] if kind == "http" else [])
            described[kind] = entry
        # The stand-in takes no credentials; it signs receipts with this secret (also in Secrets Manager).
        described["http"]["credentials"]["signing_secret_arn"] = self.secret_arn
        return described

    def client(self, service: str) -> Any:
        from journey_activity import aws

        return aws.client(service)

    def invoke(self, event: Any, function: str = "InvokerFunction") -> Any:
        """Invoke a function through the local Lambda endpoint, as Pinpoint or Connect would (safe
        from several threads at once). A throttled invocation raises botocore's ``ClientError``
        ``TooManyRequestsException`` (HTTP 429), as boto3 does against Lambda."""
        response = self._caller().invoke(FunctionName=function, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise LocalInvokeError(payload)
        return payload

    def _caller(self) -> Any:
        """A Lambda client that waits as long as any function may run (the functions' own
        clients time out sooner) and does not retry: a retry would be a second invocation."""
        with self._caller_lock:
            return self._make_caller()

    def _make_caller(self) -> Any:
        if getattr(self, "_lambda_caller", None) is None:
            import boto3
            from botocore.config import Config

            longest = max((spec.timeout for spec in self.registry.specs.values()), default=30)
            # Connections enough for a burst of concurrent invocations from threads (burst.py).
            self._lambda_caller = boto3.client(
                "lambda", endpoint_url=self.lambda_endpoint.url, region_name=REGION,
                config=Config(read_timeout=longest + 30, connect_timeout=5, retries={"total_max_attempts": 1},
                              max_pool_connections=INVOKER_ENVIRONMENTS))
        return self._lambda_caller

    def execution_arn(self, batch_id: str) -> str:
        return f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STATE_MACHINE_NAME}:{batch_id}"

    def executions(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every execution of the batch state machine (or those with ``status``), newest first."""
        pages = self.client("stepfunctions").get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn, **({"statusFilter": status} if status else {}))
        return [execution for page in pages for execution in page["executions"]]

    def batch_executions(self, batch_id: str) -> list[dict[str, Any]]:
        """The batch's executions (its parts), in order: see :func:`batch_executions`."""
        return batch_executions(self.client("stepfunctions"), self.state_machine_arn, batch_id)

    def batch_execution_names(self, batch_id: str) -> list[str]:
        """The names of the batch's executions, in :meth:`batch_executions`' order."""
        return [execution["name"] for execution in self.batch_executions(batch_id)]

    def batch_records(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """Every ledger record of the batch, over all its executions (:meth:`batch_executions`)."""
        records: dict[str, dict[str, Any]] = {}
        for name in self.batch_execution_names(batch_id) or [batch_id]:
            records.update(self.ledger_records(name))
        return records

    def wait_for_execution(self, arn: str, timeout: float = 60.0) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        limit = time.monotonic() + timeout
        while True:
            described = sfn.describe_execution(executionArn=arn)
            if described["status"] != "RUNNING" or time.monotonic() > limit:
                return dict(described)
            time.sleep(0.05)

    def history(self, arn: str) -> list[dict[str, Any]]:
        sfn = self.client("stepfunctions")
        events: list[dict[str, Any]] = []
        request: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
        while True:
            page = sfn.get_execution_history(**request)
            events.extend(page["events"])
            if not page.get("nextToken"):
                return events
            request["nextToken"] = page["nextToken"]

    def ledger_records(self, batch_id: str) -> dict[str, dict[str, Any]]:
        from journey_activity.ledger import Ledger

        return Ledger(TABLE_NAME).batch_records(batch_id)

    def iter_state_entered(self, arn: str) -> Iterator[dict[str, Any]]:
        return (event for event in self.history(arn) if event["type"].endswith("StateEntered"))
