"""The decisions that depend on what was allocated before: send times, and the allocation in
priority order, over arrays per offer (`allocate_arrays`) and one candidate at a time
(`allocate`, the reference the first is held to)."""
