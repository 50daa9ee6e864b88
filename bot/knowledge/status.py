"""The wait-status arithmetic: why `exit(-1)` shows up as 255 and `exit(256)` as 0.

A parent only ever sees the low 8 bits of what a process passed to `exit()` (`status & 0xFF`), so any
integer maps to `n mod 256`. Users paste numbers of any size; this module turns the digits into that
status without ever building an integer Python refuses to print (CPython limits int↔str conversion to
4300 digits), using the fact that 10**8 is a multiple of 256: the last 8 digits decide the remainder.
"""

from __future__ import annotations

from dataclasses import dataclass

STATUS_MODULUS = 256
_MAX_EXACT_DIGITS = 4000  # below CPython's default int/str conversion limit of 4300 digits
_MAX_SHOWN_DIGITS = 40
_DECIDING_DIGITS = 8  # 10**8 % 256 == 0


@dataclass(frozen=True, slots=True)
class WrappedStatus:
    """An integer as typed, and the exit status a process calling `exit()` with it would end with."""

    value: int | None  # None only for numbers too long to hold exactly (thousands of digits)
    shown: str
    normalized: int
    abbreviated: bool = False  # `shown` elides digits (`12345678…87654321 (5000 digits)`)

    @property
    def wrapped(self) -> bool:
        return self.value is None or not 0 <= self.value < STATUS_MODULUS

    @property
    def arithmetic(self) -> str | None:
        """`-1 → 255 (-1 mod 256)`, or None when the number already is an exit status."""
        if not self.wrapped:
            return None
        if self.abbreviated:
            return f"{self.shown} → {self.normalized} (mod {STATUS_MODULUS})"
        return f"{self.shown} → {self.normalized} ({self.shown} mod {STATUS_MODULUS})"


def wrap_digits(negative: bool, digits: str) -> WrappedStatus:
    """The status for a sign and a run of ASCII digits of any length."""
    digits = digits.lstrip("0") or "0"
    if len(digits) <= _MAX_EXACT_DIGITS:
        return wrap_int(-int(digits) if negative else int(digits))
    tail = int(digits[-_DECIDING_DIGITS:]) % STATUS_MODULUS
    normalized = (-tail) % STATUS_MODULUS if negative else tail
    return WrappedStatus(None, _abbreviate(negative, digits), normalized, abbreviated=True)


def wrap_int(value: int) -> WrappedStatus:
    """The status for a Python integer (any size)."""
    normalized = value % STATUS_MODULUS
    if 0 <= value < STATUS_MODULUS:
        return WrappedStatus(value, str(value), normalized)
    if value.bit_length() > _MAX_EXACT_DIGITS * 3:  # too long to print in decimal; say how big instead
        return WrappedStatus(value, f"a {value.bit_length()}-bit integer", normalized, abbreviated=True)
    digits = str(abs(value))
    shown = _abbreviate(value < 0, digits)
    return WrappedStatus(value, shown, normalized, abbreviated=len(digits) > _MAX_SHOWN_DIGITS)


def _abbreviate(negative: bool, digits: str) -> str:
    sign = "-" if negative else ""
    if len(digits) <= _MAX_SHOWN_DIGITS:
        return sign + digits
    return f"{sign}{digits[:8]}…{digits[-8:]} ({len(digits)} digits)"
