"""The README's configuration reference lists every setting, with its real default."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic_core import PydanticUndefined

from bot.settings import Settings

README = Path(__file__).resolve().parents[1] / "README.md"
_ROW = re.compile(r"^\| `([A-Z0-9_]+)` \| ([^|]+) \|")


def documented_settings() -> dict[str, str]:
    section = README.read_text().split("## Configuration reference", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2).strip() for line in section.splitlines() if (m := _ROW.match(line))}


def shown_default(value: object) -> str:
    """How the README writes a default: `unset`, `empty`, or the value in backticks."""
    if value is None:
        return "unset"
    if isinstance(value, list):
        return f"`{', '.join(map(str, value))}`" if value else "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def test_every_setting_is_documented_once_with_its_default() -> None:
    documented = documented_settings()
    expected = {}
    for name, field in Settings.model_fields.items():
        default = (
            field.get_default(call_default_factory=True)
            if field.default is PydanticUndefined
            else field.default
        )
        expected[name.upper()] = shown_default(default)

    assert sorted(documented) == sorted(expected), "README configuration reference and bot/settings.py differ"
    assert documented == expected
