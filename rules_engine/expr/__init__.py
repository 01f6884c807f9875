"""The expression language: parse (simpleeval's parser, our allow-list) and type-check.

The typed tree is the one object the SQL compiler and the Python evaluator consume.
"""

from .functions import CATALOGUE, FUNCTIONS, Function, Where, lookup
from .nodes import NODE_CLASSES, Node
from .parse import literal_expression, parse_expression
from .typecheck import CODES, Context, Scope, referenced_names, typecheck

__all__ = [
    "CATALOGUE",
    "CODES",
    "FUNCTIONS",
    "NODE_CLASSES",
    "Context",
    "Function",
    "Node",
    "Scope",
    "Where",
    "literal_expression",
    "lookup",
    "parse_expression",
    "referenced_names",
    "typecheck",
]
