"""The loader: values as marketers mean them, positions for everything, problems not crashes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules_engine.errors import InputError
from rules_engine.rules.files import discover
from rules_engine.rules.load import CODES, load_file, load_paths, load_text


def assert_problems(text: str, *expected: tuple[str, int, int]) -> None:
    _, problems = load_text(text, "rules.yaml")
    assert [(p.code, p.span.line, p.span.col) for p in problems] == list(expected)


def data(text: str) -> object:
    doc, problems = load_text(text)
    assert problems == [] and doc is not None
    return doc.data


def test_values_are_read_as_marketers_mean_them() -> None:
    loaded = data(
        "send_at: 10:00\nfrom: 2026-11-01\nat: 2026-11-05T20:00\nflag: yes\noff: no\n"
        "mode: 0755\nbig: 1e3\ncost: 0.02\nn: -12\nhex: 0x1F\nok: true\nnone: ~\nempty:\n"
        'quoted: "10:00"\nword: True\n'
    )
    assert loaded == {
        "send_at": "10:00",
        "from": "2026-11-01",
        "at": "2026-11-05T20:00",
        "flag": "yes",
        "off": "no",
        "mode": "0755",
        "big": 1000.0,
        "cost": 0.02,
        "n": -12,
        "hex": 31,
        "ok": True,
        "none": None,
        "empty": None,
        "quoted": "10:00",
        "word": True,
    }


def test_integer_keys_stay_integers() -> None:
    assert data("1: a\non: b\n") == {1: "a", "on": "b"}


def test_duplicate_key_reported_at_the_second() -> None:
    assert_problems("offers:\n  a:\n    priority: 1\n    priority: 2\n", ("duplicate-key", 4, 5))
    doc, problems = load_text("a: 1\na: 2\n")
    assert doc is not None and doc.data == {"a": 1}
    assert "line 1" in problems[0].message


def test_spans_of_keys_and_values_after_chinese_text() -> None:
    doc, _ = load_text('segments:\n  上海客户: {where: city == "上海", description: 高价值}\n')
    assert doc is not None
    where = doc.span(("segments", "上海客户", "where"))
    assert (where.line, where.col) == (2, 17)
    key = doc.key_span(("segments", "上海客户", "description"))
    assert (key.line, key.col) == (2, 31)
    assert doc.span(("segments", "missing", "x")) == doc.span(("segments",))


def test_locate_inside_plain_and_quoted_values() -> None:
    doc, _ = load_text('a: city == "上海" and x > 5\nb: "x  and  y"\n')
    assert doc is not None
    text = doc.data["a"]  # type: ignore[index]
    x = text.index("x")
    span = doc.locate(("a",), x, x + 1)
    assert (span.line, span.col, span.end_col) == (1, 4 + x, 5 + x)
    y = doc.locate(("b",), 8, 9)
    assert (y.line, y.col) == (2, 13)


def test_locate_inside_block_scalars() -> None:
    doc, _ = load_text("a: |\n  x > 1 and\n    y < 2\nb: >\n  foo and\n  bar\n")
    assert doc is not None
    literal = doc.data["a"]  # type: ignore[index]
    y = doc.locate(("a",), literal.index("y"), literal.index("y") + 1)
    assert (y.line, y.col) == (3, 5)
    folded = doc.data["b"]  # type: ignore[index]
    bar = doc.locate(("b",), folded.index("bar"), folded.index("bar") + 3)
    assert (bar.line, bar.col) == (6, 3)


def test_merge_keys() -> None:
    assert data("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\n")["c"] == {"y": 3, "x": 1}  # type: ignore[index]


def test_python_tags_are_refused() -> None:
    assert_problems("a: !!python/object/apply:os.system [ls]\n", ("yaml-tag", 1, 4))
    assert_problems("a: !custom x\n", ("yaml-tag", 1, 4))


def test_complex_key() -> None:
    assert_problems("? [a, b]\n: 1\n", ("yaml-complex-key", 1, 3))


def test_syntax_error_position_and_hint() -> None:
    assert_problems("a:\n  b: [1, 2\nc: 3\n", ("yaml-syntax", 3, 2))
    _, problems = load_text("a: b: c\n")
    assert problems[0].code == "yaml-syntax" and problems[0].hint is not None


def test_multiple_documents() -> None:
    assert_problems("a: 1\n---\nb: 2\n", ("yaml-multiple-documents", 2, 1))


def test_empty_and_comment_only_files() -> None:
    assert_problems("", ("file-empty", 1, 1))
    assert_problems("# just a comment\n", ("file-empty", 1, 1))


def test_top_level_must_be_a_mapping() -> None:
    assert_problems("- a\n- b\n", ("not-a-mapping", 1, 1))


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi", strict=True)
)


def test_alias_bomb_refused_quickly() -> None:
    started = time.perf_counter()
    assert_problems(BOMB, ("yaml-too-many-aliases", 1, 1))
    assert time.perf_counter() - started < 0.5


def test_files_that_cannot_be_read(tmp_path: Path) -> None:
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("a: 1\nb: caf\xe9\n".encode("latin-1"))
    assert [(p.code, p.span.line, p.span.col) for p in load_file(latin)[1]] == [
        ("file-not-utf8", 2, 7)
    ]
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (5 * 1024 * 1024) + b"\n")
    assert [p.code for p in load_file(big)[1]] == ["file-too-large"]
    folder = tmp_path / "folder.yaml"
    folder.mkdir()
    assert [p.code for p in load_file(folder)[1]] == ["file-unreadable"]


def test_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbfa: 1\n")
    doc, problems = load_file(path)
    assert problems == [] and doc is not None and doc.data == {"a": 1}


def test_discover_directories_and_missing_paths(tmp_path: Path) -> None:
    (tmp_path / "offers").mkdir()
    (tmp_path / ".hidden").mkdir()
    for name in ("b.yaml", "a.yml", "offers/c.yaml", "notes.txt", ".hidden/d.yaml"):
        (tmp_path / name).write_text("a: 1\n")
    found = discover([tmp_path, tmp_path / "b.yaml"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.yml",
        "b.yaml",
        "offers/c.yaml",
    ]
    with pytest.raises(InputError, match="nope"):
        discover([tmp_path / "nope"])


def test_load_paths_goes_on_after_a_bad_file(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a: [\n")
    (tmp_path / "b.yaml").write_text("b: 1\n")
    docs, problems = load_paths([tmp_path])
    assert [Path(d.path).name for d in docs] == ["b.yaml"]
    assert [p.code for p in problems] == ["yaml-syntax"]


def test_every_code_is_documented() -> None:
    doc = (Path(__file__).parents[1] / "docs" / "problems" / "load.md").read_text()
    for code in CODES:
        assert f"## {code}" in doc


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_a_document_or_problems(text: str) -> None:
    doc, problems = load_text(text)
    assert doc is not None or problems


@settings(max_examples=100, deadline=None)
@given(st.binary())
def test_any_bytes_give_a_document_or_problems(
    tmp_path_factory: pytest.TempPathFactory, raw: bytes
) -> None:
    path = tmp_path_factory.mktemp("bytes") / "rules.yaml"
    path.write_bytes(raw)
    doc, problems = load_file(path)
    assert doc is not None or problems
