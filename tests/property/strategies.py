"""What the property modules share: how hard each property is tried, and arbitrary JSON."""

from __future__ import annotations

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

EXAMPLES = 1000
PROPERTY = settings(max_examples=EXAMPLES, deadline=None,
                    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink],
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Every code point: controls, private use, unassigned and lone surrogates (the JSON ``"\ud800"``
# escape, which json.loads accepts and the Lambda runtime passes on as it is).
any_char = st.characters(exclude_categories=())
any_text = st.text(any_char, max_size=40)
json_scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
                | any_text)


def json_values(max_size: int, max_leaves: int) -> SearchStrategy[object]:
    """Any JSON document ``json.loads`` could return (and then some: NaN, lone surrogates)."""
    return st.recursive(
        json_scalars,
        lambda children: st.lists(children, max_size=max_size) | st.dictionaries(any_text, children,
                                                                                   max_size=max_size),
        max_leaves=max_leaves,
    )
