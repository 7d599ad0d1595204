"""Personas page on the sample data: one card per segment with facts, action and evidence; the
side-by-side table and its CSV; cards per cluster."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import engine
from tests.dashboard.test_app_pages import APP


def _in_words(trait: str) -> str:
    """How the page words an attribute trait: ``loyalty_member = true`` -> ``Loyalty member: yes``."""
    if " = " not in trait:
        return trait[:1].upper() + trait[1:]
    column, value = trait.split(" = ", 1)
    value = {"true": "yes", "false": "no"}.get(value.lower(), value)
    return f"{column.replace('_', ' ').capitalize()}: {value}"


def test_personas_page_shows_cards_with_evidence(app_db):
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    at.switch_page("app_pages/personas.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Personas"
    con = engine.connect(app_db)
    cards = engine.persona_cards(con)
    assert at.multiselect(key="personas_chosen_segment").value == [c.group for c in cards]
    # values from the data are shown as plain text (markdown characters escaped): read the page unescaped
    text = " ".join(m.value for m in at.markdown).replace("\\", "")
    champions = next(c for c in cards if c.group == "Champions")
    # attribute traits are shown in words ("Loyalty member: yes"), not as column = value
    described = champions.description
    for raw in champions.traits.loc[champions.traits["kind"] == "attribute", "trait"]:
        described = described.replace(raw, _in_words(raw))
    assert described in text
    assert " = " not in described
    actions = " ".join(s.value for s in at.success)
    assert all(c.action in actions for c in cards)
    # claimed traits are listed, small groups say why none are claimed
    trait = champions.top("attribute").iloc[0]
    assert f"**{_in_words(trait.trait)}**" in text
    captions = " ".join(c.value for c in at.caption)
    small = [c for c in cards if c.customers < engine.MIN_GROUP]
    assert all(c.evidence_note in captions for c in small)
    table = at.dataframe[0].value
    assert table["group"].tolist() == [c.group for c in cards]
    assert {"dl_persona_table", "dl_persona_evidence"} <= {d.key for d in at.download_button}

    at.multiselect(key="personas_chosen_segment").set_value(["Champions", "At Risk"]).run()
    assert at.dataframe[0].value["group"].tolist() == ["Champions", "At Risk"]

    at.segmented_control(key="personas_by").set_value("cluster").run()
    assert not at.exception, [e.value for e in at.exception]
    captions = " ".join(c.value for c in at.caption)
    assert "Cluster repeatability" in captions
    assert "automatic k" in captions
