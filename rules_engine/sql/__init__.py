"""A checked rule set as SQL programs on the store: `compile` (every customer's metrics and
segments) and `audience` (channel lifecycle, channel states, each offer's audience)."""
