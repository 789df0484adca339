"""Offline measures (the `eval` extra): labelled sets, grounding on real conversations, the learning loop, the report."""
