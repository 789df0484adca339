"""What a connector's own settings are made of: a frozen dataclass per helpdesk, secrets marked.

Each helpdesk declares its settings next to its code (connectors/<name>/settings.py). The
plugin's configuration finds them through the registry (connectors/__init__.py) and reads
each field `f` of helpdesk `name` as the setting `<name>_<f>`: VIGIL_ZENDESK_URL in the
environment, `zendesk_url` in vigil.toml. Adding a helpdesk adds its settings without an
edit anywhere else. Kept free of vendor clients so reading the configuration stays fast.
"""

from __future__ import annotations

import dataclasses
import functools
import typing
from typing import Any, Mapping

_SECRET = {"secret": True}


def secret(default: str = "") -> Any:
    """A field that holds a credential: redacted in logs and `vigil config`, never printed."""
    return dataclasses.field(default=default, metadata=_SECRET, repr=False)


@functools.lru_cache(maxsize=None)
def secret_fields(cls: type) -> frozenset[str]:
    """The names of the fields of settings class `cls` marked with `secret()`."""
    return frozenset(f.name for f in dataclasses.fields(cls) if f.metadata.get("secret"))


@functools.lru_cache(maxsize=None)
def field_types(cls: type) -> Mapping[str, Any]:
    """Each field of settings class `cls` with its type (str, bool, int or float)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def coerce(name: str, kind: Any, raw: Any) -> Any:
    """`raw` (text from the environment or a TOML value) as `kind`; ValueError names `name`."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"{name}: expected a boolean (1/0, true/false), got {raw!r}")
    try:
        return kind(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected {kind.__name__}, got {raw!r}") from None
