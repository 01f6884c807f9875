"""Every part of the expression language has both of its forms: SQL for whole stores, Python
for `explain` and the reference oracle. A node class or catalogue function added with only
one of them fails here, not on the first rule that uses it."""

from __future__ import annotations

import inspect

from rules_engine.expr import evaluate, nodes, sqlgen
from rules_engine.expr.functions import CATALOGUE, Where
from rules_engine.sql import audience, compile

NODE_CLASSES = {
    cls
    for _, cls in inspect.getmembers(nodes, inspect.isclass)
    if issubclass(cls, nodes.Node) and cls is not nodes.Node
}


def test_every_node_class_has_a_sql_and_a_python_handler() -> None:
    assert len(NODE_CLASSES) >= 11
    assert NODE_CLASSES - set(sqlgen.HANDLERS) == set()
    assert NODE_CLASSES - set(evaluate.HANDLERS) == set()


def test_every_catalogue_function_has_a_sql_and_a_python_form() -> None:
    source_of_lifecycle = inspect.getsource(audience.lifecycle_statement)
    source_of_compile = inspect.getsource(compile)
    source_of_python_call = inspect.getsource(evaluate._call)
    missing = []
    for function in CATALOGUE:
        name = function.name
        if function.where is Where.ROW:
            sql = name in sqlgen.FUNCTIONS
            python = name in evaluate.ROW_FUNCTIONS
        elif function.where is Where.AGGREGATE:
            sql = name in compile._AGGREGATE_NAMES
            python = name in evaluate.AGGREGATES
        elif function.where is Where.DERIVED:
            sql = f'hooks["{name}"]' in source_of_compile
            python = f'node.func == "{name}"' in source_of_python_call
        else:
            sql = f'"{name}": {name}' in source_of_lifecycle
            python = f'node.func == "{name}"' in source_of_python_call
        if not (sql and python):
            missing.append((name, function.where.value, sql, python))
    assert missing == []
