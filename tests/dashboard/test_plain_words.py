"""Plain words on the page, the technical name in its help: no page shows a statistician's term as a label
or sentence (outside its "How these numbers are computed" notes), and the help still names the method."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import words
from tests.dashboard.test_app_pages import APP

TECHNICAL = [
    "hypergeometric",
    "Benjamini",
    "silhouette",
    "Cluster stability",
    "Component 1",
    "epochs",
    "Learning rate",
    "GridSearchCV",
    "RMSE",
    "NDCG",
    "MAP@",
    "Novelty (bits)",
    "Holm",
    "Bonferroni",
    "Welch",
    "Chi-square",
    "chi-square",
]
METHOD_NOTES = "How these numbers are computed"


def visible_text(at: AppTest) -> str:
    """What a reader sees without hovering: titles, text, captions, card labels, buttons, choices."""
    notes = {e.value for x in at.expander if x.label == METHOD_NOTES for e in x.markdown}
    parts = [e.value for e in at.markdown if e.value not in notes]
    parts += [e.value for e in [*at.caption, *at.title, *at.header, *at.subheader]]
    parts += [m.label for m in at.metric] + [b.label for b in at.button]
    parts += [s.label for s in at.slider] + [o for r in at.radio for o in r.options]
    return "\n".join(str(p) for p in parts)


def help_text(at: AppTest) -> str:
    return "\n".join(str(getattr(e, "help", "") or "") for e in [*at.caption, *at.metric])


@pytest.mark.parametrize("page", ["personas", "segments", "experiments"])
def test_no_technical_term_on_the_page_but_in_its_help(app_db, page):
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    at.switch_page(f"app_pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    shown = visible_text(at)
    found = [term for term in TECHNICAL if term in shown]
    assert not found, f"{page} shows {found}"
    helps = help_text(at)
    if page == "personas":
        assert "hypergeometric" in helps and "Benjamini-Hochberg" in helps
    if page == "experiments":
        assert "chi-square" in helps


def test_every_term_has_plain_words_and_names_its_method():
    for key, term in words.TERMS.items():
        assert term.label and term.meaning, key
        assert term.technical.lower() not in term.label.lower(), key
        assert term.technical in words.explain(key)


def test_the_clusters_tab_speaks_plainly_and_keeps_the_method_in_help(app_db):
    from tests.dashboard.test_segments_page import open_segments, open_tab

    at = open_tab(open_segments(), "clusters")
    shown = visible_text(at)
    assert "Separation" in shown and "Repeatability" in shown
    assert [term for term in TECHNICAL if term in shown] == []
    assert "silhouette" in help_text(at)
