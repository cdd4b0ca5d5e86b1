"""The documentation site builds, offline, with nothing broken; and what the pages show a user to
run or paste is what the product accepts.

- ``mkdocs build --strict`` (the site and its API reference read from the ports' docstrings) with
  every network connection refused: a broken link or anchor, a page missing from the navigation, a
  bad mkdocstrings reference, or a plugin that fetches something at build time fails here.
- Every ``journey-activity`` command in the README and the pages parses with the real command line
  (its commands, options, values and the stand-ins' words), without running the engine; the
  benchmark commands use only options their scripts define.
- The configuration examples validate with the product's own models; the receipt-signing example
  signs as the receipt function verifies.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shlex
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import typer.core
import typer.main

pytestmark = pytest.mark.lint
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = sorted(DOCS.rglob("*.md"))
SHOWN = [README, *PAGES]

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<body>.*?)\n(?P=indent)```[ \t]*$", re.M | re.S)
OPERATORS = frozenset({"&&", "||", ";", "&", "|"})
REDIRECTIONS = frozenset({">", ">>", "<", "&>"})


@dataclass(frozen=True)
class Block:
    page: Path
    language: str
    title: str | None
    text: str


def code_blocks(page: Path) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(page.read_text()):
        indent = len(match["indent"])
        text = "\n".join(line[indent:] for line in match["body"].split("\n"))
        language, _, attributes = match["info"].strip().partition(" ")
        title = re.search(r'title="([^"]*)"', attributes)
        blocks.append(Block(page, language, title[1] if title else None, text))
    return blocks


def prose(page: Path) -> str:
    """The page without its fenced code blocks."""
    return FENCE.sub("", page.read_text())


def simple_commands(script: str) -> Iterator[list[str]]:
    """Each simple command of a shell snippet as its words: lines joined at a trailing backslash,
    comments dropped, split at ``&&``, ``;``, ``|`` and ``&``, redirections left out."""
    for line in script.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        words: list[str] = []
        redirected = False
        for token in lexer:
            if redirected:
                redirected = False
            elif token in OPERATORS:
                if words:
                    yield words
                words = []
            elif token in REDIRECTIONS:
                redirected = True
            else:
                words.append(token)
        if words:
            yield words


def journey_activity_args(words: list[str]) -> list[str] | None:
    """The arguments of a ``journey-activity`` command (also through ``uv run [--locked]``)."""
    if words[:2] == ["uv", "run"]:
        words = words[2:]
        while words and words[0].startswith("-"):
            words = words[1:]
    return words[1:] if words[:1] == ["journey-activity"] else None


@dataclass(frozen=True)
class Shown:
    page: str
    text: str
    args: list[str]
    whole: bool  # a command in a code block (all its arguments), or a mention in the prose


def shown_commands() -> list[Shown]:
    found = []
    for page in SHOWN:
        name = str(page.relative_to(ROOT))
        for block in code_blocks(page):
            if block.language in ("sh", "bash", "shell", "console"):
                for words in simple_commands(block.text):
                    args = journey_activity_args(words)
                    if args is not None:
                        found.append(Shown(name, shlex.join(words), args, whole=True))
        for match in re.finditer(r"`((?:uv run (?:--locked )?)?journey-activity\s[^`]*)`", prose(page)):
            text = " ".join(match[1].split())
            args = journey_activity_args(shlex.split(text))
            if args is not None:
                found.append(Shown(name, text, args, whole=False))
    return found


class NoSuchCommand(typer.TyperException):
    pass


def parse(args: list[str], *, whole: bool) -> Any:
    """The command line's own parse of ``journey-activity ARGS`` into its context (no command
    runs); a refusal raises the command line's own error (a :class:`typer.TyperException`). A
    mention in the prose may leave out required arguments; a command in a code block may not."""
    from journey_activity_local import cli

    command: Any = typer.main.get_command(cli.app)
    names = ["journey-activity"]
    args = list(args)
    while isinstance(command, typer.core.TyperGroup):
        if not args or args[0].startswith("-"):
            if whole:
                raise NoSuchCommand(f"`{' '.join(names)}` needs a command")
            return None
        if args[0] not in command.commands:
            raise NoSuchCommand(f"`{' '.join(names)}` has no command {args[0]!r}")
        names.append(args[0])
        command = command.commands[args.pop(0)]
    return command.make_context(" ".join(names), args, resilient_parsing=not whole)


def check_values(context: Any) -> None:
    """The values the command checks itself before it starts anything: the stand-ins' words,
    ``--provider`` kinds, ``--env`` pairs, and an example file that exists."""
    from journey_activity_local import cli

    params = context.params
    cli._parse_behaviours(list(params.get("behave") or []))
    cli._parse_providers(list(params.get("provider") or []))
    cli._parse_env(list(params.get("env") or []))
    event_file = params.get("event_file")
    if event_file is not None and str(event_file).startswith("examples/"):
        assert (ROOT / event_file).is_file(), f"{event_file} does not exist"


def test_every_journey_activity_command_shown_parses_with_the_real_command_line(capsys):
    shown = shown_commands()
    failures = []
    for command in shown:
        try:
            context = parse(command.args, whole=command.whole)
            if context is not None:
                check_values(context)
        except (typer.TyperException, typer.Exit, AssertionError) as error:
            said = capsys.readouterr().err.strip() or str(getattr(error, "message", "") or error)
            failures.append(f"{command.page}: `{command.text}`: {said}")
    assert not failures, "\n".join(failures)
    in_code = {command.args[0] for command in shown if command.whole}
    assert {"run", "serve", "view"} <= in_code, in_code  # the extraction found the commands
    assert any(c.args[:2] == ["connect", "register"] for c in shown)


def test_a_command_the_command_line_would_refuse_is_caught():
    """The check itself: a wrong option, value or word fails it."""
    for args in (["run", "examples/connect-journey.json", "--no-such-option"], ["walk"],
                 ["run", "examples/journey-batch.json", "--deadline", "soon"]):
        with pytest.raises(typer.TyperException):
            parse(args, whole=True)
    context = parse(["run", "examples/journey-batch.json", "--behave", "a@example.com=vanish"], whole=True)
    assert context is not None
    with pytest.raises(typer.Exit):
        check_values(context)


def test_benchmark_commands_use_only_options_their_scripts_define():
    checked = 0
    for page in SHOWN:
        for block in code_blocks(page):
            if block.language != "sh":
                continue
            for words in simple_commands(block.text):
                if words[0] not in ("python", "python3") or not words[1:2] or not words[1].startswith("benchmarks/"):
                    continue
                script = (ROOT / words[1]).read_text()
                defined = set(re.findall(r'add_argument\(\s*"(--[\w-]+)"', script))
                used = {word.split("=", 1)[0] for word in words[2:] if word.startswith("--")}
                assert used <= defined, f"{page.name}: {shlex.join(words)}: {sorted(used - defined)} not in {words[1]}"
                checked += 1
    assert checked >= 5


def test_json_examples_parse_and_configuration_examples_validate():
    from journey_activity.config import Settings, settings_from

    validated = {"ChannelProviders": 0, "ConnectActions": 0, "ConfigurationObject": 0}
    for page in PAGES:
        for block in code_blocks(page):
            if block.language != "json" or (block.title is None and "…" in block.text):
                continue  # an elided example is not a document; a titled one is ("AC…" is a string)
            document = json.loads(block.text)
            if block.title == "ChannelProviders":
                Settings.model_validate({"channel_providers": document})
            elif block.title == "ConnectActions":
                Settings.model_validate({"connect_actions": document})
            elif block.title == "ConfigurationObject":  # as the functions read it from S3
                settings_from({}, document=document, source="s3://bucket/configuration.json")
            else:
                continue
            validated[block.title] += 1
    assert validated == {"ChannelProviders": 5, "ConnectActions": 1, "ConfigurationObject": 1}


def test_the_receipt_signing_example_signs_as_the_receipt_function_verifies():
    from journey_activity.receipts import Outcome, Receipt, classify
    from journey_activity.signing import SignatureRejected, verify

    (example,) = [block for block in code_blocks(DOCS / "providers" / "http.md") if block.title == "sign_receipt.py"]
    namespace: dict[str, Any] = {}
    exec(compile(example.text, "sign_receipt.py", "exec"), namespace)  # noqa: S102 - the page's own example
    body, headers = namespace["signed_receipt"]("the-secret", "msg-0001", "delivered")
    verify(["an-old-secret", "the-secret"], headers["X-Signature-Timestamp"], headers["X-Signature"], body)
    receipt = Receipt.model_validate_json(body)
    assert (receipt.message_id, classify(receipt.status)) == ("msg-0001", Outcome.DELIVERED)
    with pytest.raises(SignatureRejected):
        verify(["another-secret"], headers["X-Signature-Timestamp"], headers["X-Signature"], body)


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.levelname}: {record.getMessage()}")


def _refused(*args: Any, **kwargs: Any) -> Any:
    raise OSError("the documentation build reached for the network")


@contextlib.contextmanager
def _offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", _refused)
        patch.setattr(socket.socket, "connect_ex", _refused)
        patch.setattr(socket, "create_connection", _refused)
        patch.setattr(socket, "getaddrinfo", _refused)
        yield


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mkdocs build --strict -d <tmp>``, as the command runs it, offline."""
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort

    site_dir = tmp_path_factory.mktemp("site")
    warnings = _Warnings()
    logger = logging.getLogger("mkdocs")
    logger.addHandler(warnings)
    try:
        with _offline(), pytest.MonkeyPatch.context() as patch:
            patch.setenv("NO_MKDOCS_2_WARNING", "1")  # mkdocs-material's notice of its successor
            config = load_config(str(ROOT / "mkdocs.yml"), strict=True, site_dir=str(site_dir))
            config.plugins.on_startup(command="build", dirty=False)
            try:
                build(config)
            except Abort as error:
                pytest.fail(f"mkdocs build --strict: {error}\n" + "\n".join(warnings.messages))
            finally:
                config.plugins.on_shutdown()
    finally:
        logger.removeHandler(warnings)
    return site_dir


def test_the_readmes_links_lead_to_files_that_exist():
    """The README is not part of the site (mkdocs checks the pages' links, not its): each of its
    links into the docs is checked here."""
    targets = re.findall(r"\]\(([^)\s#]+)(?:#[^)]*)?\)", README.read_text())
    local = [target for target in targets if not re.match(r"[a-z]+:", target)]
    assert len(local) >= 20
    missing = [target for target in local if not (ROOT / target).exists()]
    assert not missing, missing


def test_the_site_builds_strict_and_offline_with_every_page(site):
    built = {path.relative_to(site).as_posix() for path in site.rglob("index.html")}
    for page in PAGES:
        relative = page.relative_to(DOCS).with_suffix("")
        expected = ((relative.parent if relative.name == "index" else relative) / "index.html").as_posix()
        assert expected in built, f"{page.relative_to(ROOT)} was not built"
    assert (site / "view.png").is_file()


def test_the_site_loads_nothing_from_elsewhere(site):
    """No web fonts, scripts, styles or images from another host: the pages open offline."""
    outside = re.compile(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=\"(?:https?:)?//", re.I)
    for page in site.rglob("*.html"):
        text = page.read_text()
        assert not outside.search(text), f"{page.relative_to(site)} loads {outside.search(text)[0]}…"
        assert "fonts.googleapis" not in text, page
        assert "fonts.gstatic" not in text, page


@pytest.mark.parametrize(
    ("page", "names"),
    [
        ("reference/triggers", ["TriggerAdapter", "adapter_for", "journey_activity.triggers.connect",
                                "journey_activity.triggers.pinpoint", "to_batch", "to_response"]),
        ("reference/providers", ["SendRequest", "SendResult", "SyncOutcome", "Provider", "idempotency_key",
                                 "ProviderThrottled", "ProviderRejected", "ProviderOutcomeUnknown", "HttpProvider",
                                 "SesProvider", "SmsVoiceProvider", "TwilioProvider", "PushProvider"]),
        ("reference/sinks", ["EngagementEvent", "ReportOutcome", "EventBridgeSink", "PinpointSink", "sink_for"]),
    ],
)
def test_the_api_reference_shows_each_ports_contract(site, page, names):
    text = (site / page / "index.html").read_text()
    missing = [name for name in names if f">{name}<" not in text and f"{name}</" not in text]
    assert not missing, f"{page}: {missing}"
    assert not re.search(r":(?:class|func|mod|meth|data|attr|exc):", text), "a reST role was printed as it is"
