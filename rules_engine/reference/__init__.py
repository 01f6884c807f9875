"""The rule set evaluated in Python, one customer at a time: the oracle the SQL is tested
against (`oracle`), and `explain`, which shows one customer's values, reasons and decision."""
