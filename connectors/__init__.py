"""Helpdesk connectors: one folder per helpdesk, each the only code that knows its vendor's JSON."""
