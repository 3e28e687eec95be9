"""The graph model, linking, neighbor-aware filtering, the embedded store and exports."""
