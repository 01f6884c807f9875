"""Rule files to a checked rule set: load (YAML with positions) → schema (JSON Schema) →
resolve (references, types, calendar checks) → model (the frozen rule set); `check` runs them
all and collects every problem."""
