"""Deciding: what a message says (signals, thread), the rules (rulebook, engine), and the pipeline that turns an event into decisions."""
