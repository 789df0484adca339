"""Vigil for helpdesks: proactive internal notes for support analysts."""

__version__ = "0.1.0"
