"""The plan JSON is written row by row; the bytes are those of one `json.dumps` of the whole."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.report.render import write_json

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),  # line breaks, quotes, control and non-ASCII characters included
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(st.text(max_size=6), values, max_size=5),
    st.dictionaries(st.text(max_size=6), st.lists(values, max_size=4), max_size=3),
)
def test_streamed_json_is_the_json_of_the_whole(
    document: dict[str, Any], rows: dict[str, list[Any]]
) -> None:
    document = {k: v for k, v in document.items() if k not in rows}
    out = io.StringIO()
    write_json(out, document, {k: iter(v) for k, v in rows.items()})
    whole = {**document, **rows}
    assert out.getvalue() == json.dumps(whole, ensure_ascii=False, sort_keys=True, indent=1)
    assert json.loads(out.getvalue()) == whole
