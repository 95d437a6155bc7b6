"""Chunking along the syntax tree: definitions keep their symbols, big ones are split, every line is covered."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.knowledge_base.chunking import TARGET_CHARS, chunk_file

SERVICE_PY = '''import os
import sys

CONSTANT = 1


class Service:
    """Doc."""

    retries = 3

    @staticmethod
    def start(port: int) -> None:
        print(port)

    def stop(self) -> None:
        pass


def helper(x):
    return x * 2
'''


def test_small_python_file_keeps_one_chunk_per_definition() -> None:
    chunks = chunk_file("app/service.py", SERVICE_PY)
    assert [(c.symbol, c.kind, c.start_line, c.end_line) for c in chunks] == [
        ("Service", "class", 1, 17),
        ("helper", "function", 20, 21),
    ]
    assert chunks[0].header == "# file: app/service.py\n# definition: class Service:"
    assert chunks[1].content.startswith("# file: app/service.py\n# definition: def helper(x):\ndef helper")


def test_a_big_class_is_split_into_its_methods_with_class_and_signature_headers() -> None:
    methods = "".join(
        f"    def m{i}(self):\n" + "".join(f"        x{j} = {j} * {i}\n" for j in range(15)) + "        return 1\n\n"
        for i in range(12)
    )
    chunks = chunk_file("big.py", "class Big:\n" + methods)
    assert [c.symbol for c in chunks] == [f"Big.m{i}" for i in range(12)]
    assert all(len(c.text) <= TARGET_CHARS for c in chunks)
    assert chunks[3].header == "# file: big.py\n# class: Big\n# definition: def m3(self):"


def test_a_big_function_is_split_into_windows_that_repeat_its_signature() -> None:
    body = "".join(f"    value_{i} = compute({i}, 'some text to make the line longer')\n" for i in range(80))
    chunks = chunk_file("long.py", "def long_one(a, b):\n" + body)
    assert len(chunks) > 1
    assert {c.symbol for c in chunks} == {"long_one"}
    assert all(c.header.endswith("# definition: def long_one(a, b):") for c in chunks)


@pytest.mark.parametrize(
    ("path", "code", "expected"),
    [
        (
            "a.ts",
            "import x from 'y';\nclass A {\n  foo(a) { return a; }\n}\n"
            "const f = (q) => q + 1;\nfunction g() { return 2; }\n",
            [("A", "class"), ("f", "function"), ("g", "function")],
        ),
        ("a.js", "function add(a, b) {\n  return a + b;\n}\n", [("add", "function")]),
        ("A.java", "class A {\n  void f() {}\n  int g() { return 1; }\n}\n", [("A", "class")]),
        (
            "a.go",
            "package x\n\ntype S struct{ a int }\n\nfunc (s *S) Foo(a int) int {\n  return a\n}\n",
            [("S", "class"), ("Foo", "function")],
        ),
    ],
)
def test_other_languages(path: str, code: str, expected: list[tuple[str, str]]) -> None:
    assert [(c.symbol, c.kind) for c in chunk_file(path, code)] == expected


def test_text_and_unparsable_files_fall_back_to_line_windows() -> None:
    assert [(c.kind, c.language) for c in chunk_file("README.md", "# t\n\ntext\n")] == [("text", "text")]
    broken = chunk_file("broken.py", "def f(:\n    pass\n")
    assert [(c.kind, c.start_line, c.end_line) for c in broken] == [("text", 1, 2)]
    assert chunk_file("empty.py", "") == []


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from([*SERVICE_PY.splitlines(), "", "x = 1", "class C:", "    def m(self): pass"]), max_size=60)
)
def test_every_non_blank_line_is_in_exactly_one_chunk(lines: list[str]) -> None:
    text = "\n".join(lines)
    chunks = chunk_file("gen.py", text)
    covered = [n for c in chunks for n in range(c.start_line, c.end_line + 1)]
    assert len(covered) == len(set(covered)), "chunks never overlap"
    non_blank = {n for n, line in enumerate(text.splitlines(), 1) if line.strip()}
    assert non_blank <= set(covered)
