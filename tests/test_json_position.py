"""`value_column`: the column a payload error names is where the value is written."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from linepress.validate.json_position import value_column

_KEYS = st.text(alphabet='ab"\\\u6625 ,:{}[]', max_size=4)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='x"\\{}[],: \u6625', max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=3),
    max_leaves=12,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _at(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


@settings(max_examples=200, deadline=None)
@given(body=_JSON, spaced=st.booleans(), ascii_only=st.booleans())
def test_the_column_is_where_the_value_at_the_path_is_written(
    body: Any, spaced: bool, ascii_only: bool
) -> None:
    separators = (", ", ": ") if spaced else (",", ":")
    line = json.dumps(body, separators=separators, ensure_ascii=ascii_only)
    for path in _paths(body):
        column = value_column(line, path)
        assert column is not None, (line, path)
        value, _ = json.JSONDecoder().raw_decode(line[column - 1 :])
        assert value == _at(body, path), (line, path, column)


def test_a_key_is_found_at_its_key_and_a_missing_path_is_none() -> None:
    line = '{"from": "A", "x": {"y": [1, {"z": 2}]}}'
    assert line[value_column(line, ["x"], key=True) - 1 :].startswith('"x"')  # type: ignore[operator]
    assert line[value_column(line, ["x", "y", 1, "z"]) - 1 :].startswith("2}")  # type: ignore[operator]
    assert value_column(line, ["nope"]) is None
    assert value_column(line, ["x", "y", 5]) is None
    assert value_column("not json", ["a"]) is None
