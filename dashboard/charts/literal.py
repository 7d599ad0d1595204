"""Names from uploaded files shown in charts as themselves, never as plotly's pseudo-HTML.

plotly.js reads ``<b>``, ``<i>``, ``<br>``, ``<a href=...>`` and ``<span style=...>`` in every text it draws
(axis ticks, legend entries, hover labels, treemap and sankey labels, annotations) and decodes the entities
``&lt;`` ``&gt;`` ``&amp;`` after it has looked for tags. So a campaign named ``<a href="https://x">click</a>``
would become a live link on the page, in picture downloads and in the PDF; escaped, it reads exactly as typed.

``literal_figure`` is the one walk every chart passes through (``share.chart`` on the pages, the registry's
``figure`` and ``picture`` for slides, pictures and the PDF): it escapes every string a trace carries (x, y,
labels, parents, text, hovertext, customdata, names, ...) and the category text of the axes, and in the texts
we write (hover and text templates, titles, annotations) it neutralises every tag but our own formatting. A
chart that writes a name into a template or an annotation escapes it with ``escape`` itself, so the name
shows literally there too.
"""

from __future__ import annotations

import html
import re

import numpy as np
import plotly.graph_objects as go

# Texts we write ourselves: plotly fills data in at %{...}; only the tags below are our own formatting.
_TEMPLATE_KEYS = frozenset({"hovertemplate", "texttemplate", "hovertemplatefallback", "texttemplatefallback"})
_OUR_TAG = re.compile(r"<(?!/?(?:br|b|i|em|sup|sub|extra)\s*/?>)", re.IGNORECASE)
# Layout keys holding data (category axes); layout keys holding texts we write.
_LAYOUT_DATA_KEYS = frozenset({"ticktext", "tickvals", "categoryarray"})
_LAYOUT_TEXT_KEYS = frozenset({"text", "hovertext"})
_SPECIAL = re.compile(r"[&<>]")
_DONE = "_segmint_literal"


def escape(value: object) -> str:
    """``value`` as text plotly shows literally (``&``, ``<``, ``>`` as entities)."""
    text = str(value)
    return html.escape(text, quote=False) if _SPECIAL.search(text) else text


def unescape(value: object) -> object:
    """A value a chart click reports (escaped like the figure) back as the name in the data."""
    return html.unescape(value) if isinstance(value, str) else value


def our_text(text: str) -> str:
    """A text we write (a template, a title) with every tag except our own formatting made harmless."""
    return _OUR_TAG.sub("&lt;", text)


def _map(value, change):
    """``value`` with ``change`` applied to every string inside it, or None when nothing changed."""
    if isinstance(value, str):
        new = change(value)
        return new if new != value else None
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "OUS":
            return None
        flat = value.ravel()
        new = [_map(v, change) for v in flat]
        if all(v is None for v in new):
            return None
        out = np.array([v if n is None else n for v, n in zip(flat, new, strict=True)], dtype=object)
        return out.reshape(value.shape)
    if isinstance(value, (list, tuple)):
        new = [_map(v, change) for v in value]
        if all(v is None for v in new):
            return None
        return type(value)(
            v if n is None else _merge(v, n) if isinstance(v, dict) else n
            for v, n in zip(value, new, strict=True)
        )
    if isinstance(value, dict):
        changed = {}
        for key, item in value.items():
            if key in _TEMPLATE_KEYS:
                new = _map(item, our_text)
            else:
                new = _map(item, change)
            if new is not None:
                changed[key] = new
        return changed or None
    return None


def _layout_changes(value, key: str = ""):
    """Changes to layout: data keys escaped, text keys limited to our formatting; the template left as is."""
    if isinstance(value, dict):
        changed = {}
        for k, item in value.items():
            if k == "template":
                continue
            new = _layout_changes(item, k)
            if new is not None:
                changed[k] = new
        return changed or None
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, dict) for v in value):
        # annotations, shapes: rewrite the whole list when one item changes
        new = [_layout_changes(v, key) for v in value]
        if all(n is None for n in new):
            return None
        return [_merge(v, n) for v, n in zip(value, new, strict=True)]
    if key in _LAYOUT_DATA_KEYS:
        return _map(value, escape)
    if key in _LAYOUT_TEXT_KEYS:
        return _map(value, our_text)
    return None


def _merge(base: dict, changes: dict | None) -> dict:
    if not changes:
        return base
    out = dict(base)
    for key, value in changes.items():
        out[key] = (
            _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
        )
    return out


def literal_figure(fig: go.Figure) -> go.Figure:
    """``fig`` (changed in place and returned) with every user-supplied string shown as itself.

    Safe to call more than once: a figure already walked is returned as it is (escaping twice would show
    ``&amp;`` where the data has ``&``).
    """
    if getattr(fig, _DONE, False):
        return fig
    for trace in fig.data:
        changes = _map(trace.to_plotly_json(), escape)
        if changes:
            changes.pop("type", None)
            trace.update(changes)
    layout = _layout_changes(fig.layout.to_plotly_json())
    if layout:
        fig.update_layout(layout)
    setattr(fig, _DONE, True)
    return fig
