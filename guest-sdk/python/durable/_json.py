"""Payloads are JSON text on the wire; these convert them as the Rust SDK does."""

from __future__ import annotations

import json
from typing import Any


def to_json(value: Any) -> str:
    """JSON text as serde_json writes it (compact, UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json(text: str) -> Any:
    """Payloads are JSON text; text that is not JSON is taken as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text
