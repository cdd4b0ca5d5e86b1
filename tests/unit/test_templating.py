"""Rendering an activity's ``Data`` for one endpoint: Pinpoint's message variables, sandboxed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journey_activity.errors import TemplateError
from journey_activity.templating import MAX_RENDERED_CHARS, parse_template, render

PROFILE: dict[str, Any] = {
    "ChannelType": "EMAIL",
    "Address": "ana@example.com",
    "Attributes": {"CohortId": ["7"], "Hobbies": ["chess", "go", "tennis"], "Empty": []},
    "User": {"UserId": "u-1", "UserAttributes": {"FirstName": ["Ana"], "Pets": ["Rex", "Tom"]}},
    "Location": {"City": "Lisbon", "Latitude": 38.7},
    "Metrics": {"Visits": 3.0, "Score": 2.5},
    "Id": "e1",
}


# -- Pinpoint placeholders ------------------------------------------------------------------


def test_pinpoint_placeholders():
    text = "Hi {{User.UserAttributes.FirstName}}, cohort {{Attributes.CohortId}}, to {{Address}}."
    assert render(text, PROFILE) == "Hi Ana, cohort 7, to ana@example.com."


def test_spaces_inside_the_braces_are_ignored():
    assert render("{{ User.UserAttributes.FirstName }}|{{ Attributes.City | Seattle }}", PROFILE) == "Ana|Seattle"


def test_default_when_missing():
    assert render("{{Attributes.City|Seattle}}", PROFILE) == "Seattle"
    assert render("{{Attributes.City|New York}}", PROFILE) == "New York"
    assert render("{{Attributes.Empty|none}}", PROFILE) == "none"


def test_default_not_used_when_present():
    assert render("{{Attributes.CohortId|0}}", PROFILE) == "7"


def test_missing_without_default_renders_empty():
    assert render("[{{Attributes.City}}]", PROFILE) == "[]"
    assert render("[{{Nope.Not.There}}]", PROFILE) == "[]"
    assert render("[{{Attributes.City}}]", {}) == "[]"


def test_multi_valued_attribute_is_joined():
    assert render("{{Attributes.Hobbies}}", PROFILE) == "chess, go, tennis"
    assert render("{{User.UserAttributes.Pets}}", PROFILE) == "Rex, Tom"


def test_numbers_render_plainly():
    assert render("{{Metrics.Visits}} {{Metrics.Score}} {{Location.Latitude}}", PROFILE) == "3 2.5 38.7"


def test_text_without_placeholders_is_unchanged():
    text = "Plain text with { braces } and a single {brace} and }} and {{"
    assert render(text, PROFILE) == text


def test_none_data_renders_empty():
    assert render(None, PROFILE) == ""


# -- JSON Data ------------------------------------------------------------------------------


def test_json_data_stays_json():
    data = json.dumps(
        {
            "subject": "Hello {{User.UserAttributes.FirstName}}",
            "priority": 3,
            "ratio": 0.5,
            "urgent": True,
            "nothing": None,
            "to": ["{{Address}}", "{{Attributes.Backup|ops@example.com}}"],
            "nested": {"cohort": "{{Attributes.CohortId}}", "count": 10},
        }
    )
    rendered = render(data, PROFILE)
    assert rendered == {
        "subject": "Hello Ana",
        "priority": 3,
        "ratio": 0.5,
        "urgent": True,
        "nothing": None,
        "to": ["ana@example.com", "ops@example.com"],
        "nested": {"cohort": "7", "count": 10},
    }
    assert isinstance(rendered["priority"], int)


def test_json_array_data_stays_json():
    assert render('  ["{{Address}}", 1]  ', PROFILE) == ["ana@example.com", 1]


def test_a_placeholder_inside_a_json_string_cannot_break_the_structure():
    profile = {"Attributes": {"Name": ['"}, "admin": true, "x": {"']}}
    rendered = render('{"greeting": "Hi {{Attributes.Name}}"}', profile)
    assert rendered == {"greeting": 'Hi "}, "admin": true, "x": {"'}
    assert set(rendered) == {"greeting"}


def test_text_starting_with_a_brace_stays_text():
    text = "{{User.UserAttributes.FirstName}}, your code is ready"
    assert parse_template(text) == text
    assert render(text, PROFILE) == "Ana, your code is ready"
    assert render("{not json} {{Address}}", PROFILE) == "{not json} ana@example.com"
    assert render('{"a": 1} trailing {{Address}}', PROFILE) == '{"a": 1} trailing ana@example.com'


def test_scalar_json_text_stays_text():
    assert render("42", PROFILE) == "42"
    assert render('"quoted {{Address}}"', PROFILE) == '"quoted ana@example.com"'


# -- sandboxing -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "{{Attributes.* }}",
        "{{Attributes.*}}",
        "{{length(@)}}",
        "{{@}}",
        "{{__import__('os')}}",
        "{{__import__('os').system('touch /tmp/pwned')}}",
        "{{Attributes.Hobbies[0]}}",
        "{{Attributes.Hobbies[*]}}",
        "{{Attributes.[CohortId]}}",
        '{{`"literal"`}}',
        "{{'raw'}}",
        "{{keys(Attributes)}}",
        "{{Attributes.CohortId && Address}}",
        "{{to_string(@)}}",
    ],
)
def test_expressions_are_literal_names(template):
    assert render(template, PROFILE) == ""
    assert render(f"<{template[:-2]}|fallback}}}}>", PROFILE) == "<fallback>"


def test_a_pipe_is_only_ever_the_default_separator():
    # In jmespath `User.UserAttributes.Pets | [0]` would select "Rex"; here "[0]" is a default.
    assert render("{{User.UserAttributes.Pets | [0]}}", PROFILE) == "Rex, Tom"
    assert render("{{User.UserAttributes | [0]}}", {"User": {"UserId": "u"}}) == "[0]"
    assert render("{{User.UserAttributes | [0]}}", {}) == "[0]"
    # `||` is jmespath's "or"; here the first bar starts the default, the rest is its text.
    assert render("{{Attributes.City || Address}}", PROFILE) == "| Address"
    assert render("{{Attributes.CohortId || Address}}", PROFILE) == "7"


@pytest.mark.parametrize("template", ["{{.}}", "{{ }}", "{{Attributes..CohortId}}", "{{.Address}}", "{{Address.}}"])
def test_an_empty_name_names_nothing(template):
    assert render(template, PROFILE) == ""
    assert render(template[:-2] + "|fallback}}", PROFILE) == "fallback"


def test_a_name_with_a_star_is_looked_up_literally():
    assert render("{{Attributes.*}}", {"Attributes": {"*": ["star"]}}) == "star"
    assert render("{{length(@)}}", {"length(@)": "literal"}) == "literal"


def test_a_default_is_text_not_a_placeholder():
    assert render("{{Attributes.City|{{Address}}}}", PROFILE) != "ana@example.com"


def test_python_format_and_dunder_are_inert():
    text = "{0.__class__} {Address} %(Address)s ${Address}"
    assert render(text, PROFILE) == text


# -- limits and robustness ------------------------------------------------------------------


def test_over_long_output_is_a_template_error():
    profile = {"Attributes": {"Big": ["x" * 1000]}}
    with pytest.raises(TemplateError, match="characters"):
        render("{{Attributes.Big}}" * (MAX_RENDERED_CHARS // 1000 + 1), profile)
    with pytest.raises(TemplateError):
        render(json.dumps({"k": "{{Attributes.Big}}" * (MAX_RENDERED_CHARS // 1000 + 1)}), profile)


def test_output_at_the_limit_is_fine():
    assert len(render("x" * MAX_RENDERED_CHARS, {})) == MAX_RENDERED_CHARS


json_leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    json_leaves,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
names = st.sampled_from(
    ["Address", "Attributes", "User", "UserAttributes", "FirstName", "*", "@", "[0]", "length(@)", ""]
) | st.text(max_size=12)
placeholders = st.builds(
    lambda path, default: "{{" + ".".join(path) + ("" if default is None else "|" + default) + "}}",
    st.lists(names, min_size=1, max_size=4),
    st.none() | st.text(max_size=8),
)
templates = st.lists(st.text(max_size=30) | placeholders, max_size=8).map("".join) | st.text()
profiles = st.dictionaries(st.text(max_size=12) | names, json_values, max_size=6)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(templates, profiles)
def test_rendering_never_raises(template, profile):
    # These inputs render far below MAX_RENDERED_CHARS, so no exception at all is allowed here;
    # the one TemplateError (over-long output) is tested above.
    rendered = render(template, profile)
    assert isinstance(rendered, str | list | dict)
    if isinstance(rendered, str) and "{{" not in template:
        assert rendered == template


@settings(max_examples=200)
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=5), profiles)
def test_json_data_keeps_its_shape(document, profile):
    rendered = render(json.dumps(document), profile)
    assert isinstance(rendered, dict)
    assert len(rendered) <= len(document)
    for key, value in document.items():
        if "{{" not in key and not isinstance(value, str | list | dict):
            assert rendered[key] == value
