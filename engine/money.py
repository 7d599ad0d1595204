"""The store's currency symbol and the one way money is written with it (cards, tables, charts, PDF).

The symbol is a store setting (``_meta`` key ``currency``), set on the Data page; "$" until someone
sets it. Pages, the command line and the PDF write money through
``money_text`` and chart formats through ``money_axis``, which read the symbol in use for this run: the
dashboard and the command line call ``use_currency(currency_setting(con))`` once per run. It lives in a
context variable, so two browser sessions (two script threads) never see each other's choice mid-run.
"""

from __future__ import annotations

import html
import unicodedata
from contextvars import ContextVar, Token

from engine import store
from engine.errors import EngineError
from engine.store import Connection

DEFAULT_CURRENCY = "$"
# The common choices, offered first; anything else is free text of at most MAX_CURRENCY_LENGTH characters.
CURRENCY_CHOICES: dict[str, str] = {
    "$": "Dollar ($)",
    "£": "Pound (£)",
    "€": "Euro (€)",
    "¥": "Yen / yuan (¥)",
    "CHF ": "Swiss franc (CHF)",
}
MAX_CURRENCY_LENGTH = 4
_META_KEY = "currency"

_current: ContextVar[str] = ContextVar("currency", default=DEFAULT_CURRENCY)


class CurrencyError(EngineError):
    """A currency symbol that cannot be shown as written."""


def _allowed(ch: str) -> bool:
    # currency signs and letters (any script) plus a space or a dot ("CHF ", "kr.", "R$"): nothing markdown,
    # HTML or a chart's format string would read as an instruction
    return unicodedata.category(ch) in ("Sc", "Lu", "Ll", "Lt", "Lo") or ch in " ."


def validate_currency(text: str) -> str:
    """``text`` as a currency symbol, or ``CurrencyError`` saying what is wrong.

    Leading spaces are dropped; one trailing space is kept, so a code reads "CHF 1,200" and a sign "£1,200".
    """
    symbol = str(text).lstrip()
    if symbol.endswith("  "):
        symbol = symbol.rstrip() + " "
    if not symbol.strip():
        raise CurrencyError("The currency symbol is empty: type a sign such as £ or € or a code such as CHF.")
    if len(symbol) > MAX_CURRENCY_LENGTH:
        raise CurrencyError(
            f"The currency symbol {symbol!r} is {len(symbol)} characters long; use at most "
            f"{MAX_CURRENCY_LENGTH} (a sign such as £ or a code such as 'CHF ')."
        )
    bad = [ch for ch in symbol if not _allowed(ch)]
    if bad:
        raise CurrencyError(
            f"The currency symbol {symbol!r} contains {''.join(dict.fromkeys(bad))!r}: use currency signs, "
            "letters, a dot or a space only."
        )
    return symbol


def currency_setting(con: Connection) -> str:
    """The store's currency symbol ("$" until someone sets one)."""
    value = store.get_meta(con, _META_KEY)
    if not value:
        return DEFAULT_CURRENCY
    try:
        return validate_currency(value)
    except CurrencyError:  # written by hand into the file: show the default rather than the text
        return DEFAULT_CURRENCY


def set_currency_setting(con: Connection, symbol: str) -> str:
    """Validate and keep ``symbol`` as the store's currency; returns the symbol as stored."""
    symbol = validate_currency(symbol)
    with store.transaction(con) as tx:
        store.set_meta(tx, _META_KEY, symbol)
    return symbol


def use_currency(symbol: str) -> Token[str]:
    """Write money with ``symbol`` for the rest of this run (thread / context); the token undoes it."""
    return _current.set(validate_currency(symbol))


def currency() -> str:
    """The currency symbol in use for this run."""
    return _current.get()


def money_text(value: float, digits: int = 0) -> str:
    """``value`` as money: "£1,234", "-£5.50", "CHF 1,234"."""
    symbol = currency()
    text = f"{symbol}{abs(value):,.{digits}f}"
    return f"-{text}" if value < 0 else text


def money_axis(fmt: str = ",.0f") -> dict[str, str]:
    """Plotly axis settings for money: ``tickprefix`` with the symbol and ``tickformat`` without d3's "$".

    d3's "$" in a format always means the locale's dollar sign, so the symbol goes in ``tickprefix``.
    """
    return {"tickprefix": chart_symbol(), "tickformat": fmt.replace("$", "")}


def chart_symbol() -> str:
    """The symbol for plotly text (hover, labels, ticks), which reads a little HTML."""
    return html.escape(currency())


def hover_money(field: str, fmt: str = ",.0f") -> str:
    """A hovertemplate fragment for a money field: ``£%{y:,.0f}``."""
    return f"{chart_symbol()}%{{{field}:{fmt.replace('$', '')}}}"


__all__ = [
    "CURRENCY_CHOICES",
    "DEFAULT_CURRENCY",
    "MAX_CURRENCY_LENGTH",
    "CurrencyError",
    "chart_symbol",
    "currency",
    "currency_setting",
    "hover_money",
    "money_axis",
    "money_text",
    "set_currency_setting",
    "use_currency",
    "validate_currency",
]
