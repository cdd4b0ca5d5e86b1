"""The local engine refuses a moto its patches were not verified on, and a moto in which what a
patch replaces has changed shape, with one line naming the patch and the version."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import pytest

from journey_activity_local.engine import verified
from journey_activity_local.engine.verified import SHAPES, Shape, UnverifiedEngineError, preflight, problems

ROOT = Path(__file__).resolve().parents[2]
LOW, HIGH = verified.VERIFIED_MOTO


@pytest.fixture
def fake_moto(monkeypatch):
    """A module standing for a moto internal, to reshape at will."""
    module = types.ModuleType("fake_moto_internal")

    class Backend:
        def start_execution(self, state_machine_arn, name=None, execution_input=None):
            return name

        attribute = 1

    module.Backend = Backend
    module.parse = lambda text: text
    monkeypatch.setitem(sys.modules, "fake_moto_internal", module)
    return module


def test_the_installed_moto_passes_every_check():
    assert problems() == []
    preflight()


def test_every_patch_is_checked():
    patches = {shape.patch for shape in SHAPES}
    for name in ("refuse_resumed_tasks", "pack_closed_executions", "dynamodb_items_as_json", "enforce_payload_limits",
                 "query_one_partition", "start_executions_atomically", "cache_jsonpath_parsing", "dynamodb_units"):
        assert name in patches


@pytest.mark.parametrize("version", ["5.2.0", "5.3.0", "6.0.0"])
def test_a_version_outside_the_verified_range_is_refused_in_one_line(version, monkeypatch):
    monkeypatch.delenv(verified.OVERRIDE_VARIABLE, raising=False)
    with pytest.raises(UnverifiedEngineError) as refused:
        preflight(version)
    line = str(refused.value)
    assert "\n" not in line
    assert f"moto {version} is outside" in line
    assert f"{LOW} to {HIGH}" in line
    assert verified.OVERRIDE_VARIABLE in line


def test_the_versions_at_both_ends_pass():
    assert problems(LOW) == problems(HIGH) == []


def test_a_gone_attribute_is_refused_naming_its_patch(fake_moto, monkeypatch):
    monkeypatch.delenv(verified.OVERRIDE_VARIABLE, raising=False)
    shapes = [Shape("some_patch", "fake_moto_internal", "Backend.send_task_success")]
    with pytest.raises(UnverifiedEngineError, match=r"patch some_patch: fake_moto_internal.Backend.send_task_success "
                                                    r"is gone \(moto 5\.2\.\d+\)"):
        preflight(HIGH, shapes)


def test_a_gone_module_is_refused(monkeypatch):
    shapes = [Shape("some_patch", "moto.no_such_module_here", "parse")]
    assert problems(HIGH, shapes) == [
        f"patch some_patch: module moto.no_such_module_here is gone (No module named 'moto.no_such_module_here') "
        f"(moto {HIGH})"]


def test_a_changed_signature_is_refused(fake_moto):
    def start_execution(self, name, state_machine_arn):  # the same names, another order
        return name

    fake_moto.Backend.start_execution = start_execution
    shapes = [Shape("start_executions_atomically", "fake_moto_internal", "Backend.start_execution",
                    ("state_machine_arn", "name"))]
    (problem,) = problems(HIGH, shapes)
    assert "takes (name, state_machine_arn), the patch expects (state_machine_arn, name, ...)" in problem


def test_a_signature_is_read_through_a_wrapper_and_a_classmethod(fake_moto):
    import functools

    original = fake_moto.Backend.start_execution
    fake_moto.Backend.start_execution = functools.wraps(original)(lambda *a, **k: original(*a, **k))
    fake_moto.Backend.make = classmethod(lambda cls, expression_str: expression_str)
    shapes = [Shape("p", "fake_moto_internal", "Backend.start_execution", ("state_machine_arn", "name")),
              Shape("q", "fake_moto_internal", "Backend.make", ("expression_str",))]
    assert problems(HIGH, shapes) == []


def test_a_class_without_a_field_is_refused(fake_moto):
    shapes = [Shape("p", "fake_moto_internal", "Backend", has=("attribute", "_pool"))]
    assert problems(HIGH, shapes) == [f"patch p: fake_moto_internal.Backend has no _pool (moto {HIGH})"]


def test_something_that_is_no_function_any_more_is_refused(fake_moto):
    fake_moto.parse = 42
    assert "is not a function any more" in problems(HIGH, [Shape("p", "fake_moto_internal", "parse", ())])[0]


def test_several_problems_are_one_line_that_counts_the_rest(fake_moto, monkeypatch):
    monkeypatch.delenv(verified.OVERRIDE_VARIABLE, raising=False)
    shapes = [Shape("p", "fake_moto_internal", "gone_one"), Shape("q", "fake_moto_internal", "gone_two")]
    with pytest.raises(UnverifiedEngineError) as refused:
        preflight("9.0.0", shapes)
    assert "(and 2 more)" in str(refused.value)


def test_the_variable_tries_anyway_with_a_warning(fake_moto, monkeypatch):
    monkeypatch.setenv(verified.OVERRIDE_VARIABLE, "1")
    with pytest.warns(UserWarning, match=r"local engine unverified: moto 9\.0\.0 is outside"):
        preflight("9.0.0")


def test_an_engine_that_has_run_still_passes_its_own_check():
    # The second local stack of a process (every test session starts many) checks moto through the
    # patches the first one installed: each patch keeps moto's own function as its __wrapped__.
    from journey_activity_local.stack import LocalEnvironment

    with LocalEnvironment():
        pass
    assert problems() == []


def test_the_local_environment_refuses_to_start(monkeypatch):
    from journey_activity_local.stack import LocalEnvironment

    monkeypatch.delenv(verified.OVERRIDE_VARIABLE, raising=False)
    monkeypatch.setattr(verified, "moto_version", lambda: "9.9.9")
    with pytest.raises(UnverifiedEngineError, match=r"moto 9\.9\.9 is outside"), LocalEnvironment():
        pytest.fail("started")


def test_the_command_refuses_in_one_line(tmp_path):
    # A moto the patches were not verified on, as a fresh interpreter sees it (its version faked).
    script = ("import sys, importlib.metadata as m; real = m.version\n"
              "m.version = lambda name: '9.9.9' if name == 'moto' else real(name)\n"
              "from journey_activity_local.cli import app\n"
              "sys.argv = ['journey-activity', 'run', 'examples/connect-journey.json']\n"
              "app()\n")
    env = {k: v for k, v in __import__("os").environ.items() if k != verified.OVERRIDE_VARIABLE}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env,
                            timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "local engine refused: moto 9.9.9 is outside" in lines[0]
    assert result.stdout == ""
