"""One module per dashboard tab: ``build(ctx)`` lays the tab out and wires its callbacks."""
