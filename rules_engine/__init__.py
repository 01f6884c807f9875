"""Campaign rules engine: YAML campaign rules, checked, planned and run against a customer store.

The pipeline, in reading order: errors (one Problem shape), load (YAML with positions),
schema (JSON Schema), expr (the expression language), store (the customer store), compile,
execute, audit, report, cli.
"""

__version__ = "0.1.0"
