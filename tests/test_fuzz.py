"""The layout parser either returns a valid Layout or raises LayoutError — never anything else."""

import json
import warnings

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdwidgets import Layout, LayoutError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=6), children, max_size=5),
    max_leaves=20,
)
numbers = st.integers() | st.sampled_from([10**400, -(10**400), 2**63]) | st.floats(allow_nan=True, allow_infinity=True)
regions = st.fixed_dictionaries(
    {"prompt": st.text(max_size=10) | json_values},
    optional={
        "box": st.lists(numbers | json_values, max_size=5) | json_values,
        "mask": st.text(max_size=20) | json_values,
        "negative_prompt": st.text(max_size=5) | json_values,
        "guidance_scale": numbers | json_values,
        "seed": numbers | json_values,
        "feather": numbers | json_values,
    },
)
layouts = st.fixed_dictionaries(
    {"mdwidgets_layout": st.just(1) | json_values},
    optional={
        "width": numbers | json_values,
        "height": numbers | json_values,
        "background": st.text(max_size=10) | json_values,
        "negative_prompt": st.text(max_size=5) | json_values,
        "regions": st.lists(regions, max_size=4) | json_values,
    },
)


def check(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            layout = Layout.from_dict(data)
        except LayoutError:
            return
    assert isinstance(layout, Layout)
    assert Layout.from_json(layout.to_json()) == layout


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts)
def test_structured_fuzz(data):
    check(data)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_any_json_value(data):
    check(data)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64) | st.text(max_size=64))
def test_any_text(text):
    try:
        Layout.from_json(text)
    except LayoutError:
        pass


def test_valid_layouts_survive(root):
    for path in (root / "mdwidgets" / "examples").glob("*.json"):
        check(json.loads(path.read_text()))
