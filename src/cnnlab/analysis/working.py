"""The working students write in table cells ("(3*3*3)*64 = 1792"): split it from the value and evaluate it safely.

Only numbers (``1792``, ``1,792``, ``2.5``), ``+ - * / ( )``, ``x``/``×``/``·`` for times and spaces are read;
a small recursive-descent parser computes exact fractions, so nothing a table holds is ever run as code.
"""

from __future__ import annotations

import re
from fractions import Fraction

from cnnlab.errors import echoed

__all__ = ["MAX_DIGITS", "WorkingError", "evaluate", "split_working"]

MAX_DIGITS = 30  # no layer counts 10**30 of anything: a longer number is a slip (and Python's int() refuses 4,300)

_TOKEN = re.compile(r"\s*(?:(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)|(?P<op>[-+*/()x×·−]))", re.I)
_TIMES = {"*", "x", "X", "×", "·"}


class WorkingError(ValueError):
    """Working that is not plain arithmetic; the message says what could not be read."""


def split_working(text: str) -> tuple[list[str], str]:
    """'5*5*6+6 = 150+6 = 156' -> (['5*5*6+6', '150+6'], '156'); text without '=' -> ([], text)."""
    *working, value = text.split("=")
    return [w.strip() for w in working if w.strip()], value.strip()


def evaluate(expr: str) -> Fraction:
    """The exact value of `expr`; WorkingError for anything but numbers, + - * / ( ) and spaces."""
    if re.search(r"\*\s*\*", expr):
        raise WorkingError("'**' (a power) is not one of + - * / ( ); write the product out, 5*5 for 5**2")
    tokens = _tokens(expr)
    if not tokens:
        raise WorkingError("it is empty")
    if len(tokens) > 400:
        raise WorkingError("it is longer than 400 numbers and signs")
    value, pos = _sum(tokens, 0)
    if pos != len(tokens):
        raise WorkingError(f"unexpected {tokens[pos]!r}")
    if abs(value) >= 10**MAX_DIGITS:
        raise WorkingError(f"its value has over {MAX_DIGITS} digits")
    return value


def _tokens(expr: str) -> list[str]:
    out: list[str] = []
    pos = 0
    text = expr.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            bad = re.match(r"\w+|\S", text[pos:].lstrip())
            raise WorkingError(f"{echoed(bad[0] if bad else text[pos:])} is not a number or one of + - * / ( )")
        op = m["op"]
        if m["num"] and len(re.sub(r"\D", "", m["num"])) > MAX_DIGITS:
            raise WorkingError(f"{echoed(m['num'])} has over {MAX_DIGITS} digits")
        out.append("*" if op in _TIMES else "-" if op == "−" else op or m["num"].replace(",", ""))
        pos = m.end()
    return out


def _sum(tokens: list[str], pos: int) -> tuple[Fraction, int]:
    value, pos = _product(tokens, pos)
    while pos < len(tokens) and tokens[pos] in "+-":
        op = tokens[pos]
        rhs, pos = _product(tokens, pos + 1)
        value = value + rhs if op == "+" else value - rhs
    return value, pos


def _product(tokens: list[str], pos: int) -> tuple[Fraction, int]:
    value, pos = _factor(tokens, pos)
    while pos < len(tokens) and tokens[pos] in ("*", "/"):
        op = tokens[pos]
        rhs, pos = _factor(tokens, pos + 1)
        if op == "/" and rhs == 0:
            raise WorkingError("it divides by zero")
        value = value * rhs if op == "*" else value / rhs
    return value, pos


def _factor(tokens: list[str], pos: int) -> tuple[Fraction, int]:
    if pos >= len(tokens):
        raise WorkingError("it ends where a number should be")
    tok = tokens[pos]
    if tok in ("+", "-"):
        value, pos = _factor(tokens, pos + 1)
        return (-value if tok == "-" else value), pos
    if tok == "(":
        value, pos = _sum(tokens, pos + 1)
        if pos >= len(tokens) or tokens[pos] != ")":
            raise WorkingError("a bracket is not closed")
        return value, pos + 1
    if tok[0].isdigit() or tok[0] == ".":
        return Fraction(tok), pos + 1
    raise WorkingError(f"unexpected {tok!r}")
