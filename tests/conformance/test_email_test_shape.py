"""An e-mail A/B test shaped like the MineThatData (Hillstrom) file, loaded through ``segmint load``: no
customer ids, three segments named 'Mens E-Mail', 'Womens E-Mail', 'No E-Mail', 0/1 visit and conversion
columns and a spend column. Expected figures come from pandas and scipy on the generated file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

import engine
from engine.cli import main as segmint

SEGMENTS = {"Mens E-Mail": (0.18, 0.0125), "Womens E-Mail": (0.15, 0.0088), "No E-Mail": (0.106, 0.0057)}


@pytest.fixture(scope="module")
def email_test(tmp_path_factory):
    rng = np.random.default_rng(2008)
    n = 3000 * len(SEGMENTS)
    segment = rng.choice(list(SEGMENTS), n)
    visit_rate = np.array([SEGMENTS[s][0] for s in segment])
    conversion_rate = np.array([SEGMENTS[s][1] for s in segment]) * 3  # more conversions for a small file
    visit = (rng.random(n) < visit_rate).astype(int)
    conversion = ((rng.random(n) < conversion_rate / visit_rate) & (visit == 1)).astype(int)
    spend = np.where(conversion == 1, np.round(rng.gamma(2.0, 60.0, n), 2), 0)
    frame = pd.DataFrame(
        {
            "recency": rng.integers(1, 13, n),
            "history": np.round(rng.gamma(2, 120, n), 2),
            "mens": rng.integers(0, 2, n),
            "channel": rng.choice(["Phone", "Web", "Multichannel"], n),
            "segment": segment,
            "visit": visit,
            "conversion": conversion,
            "spend": spend,
        }
    )
    folder = tmp_path_factory.mktemp("email")
    path = folder / "email_test.csv"
    frame.to_csv(path, index=False)
    db = folder / "store.duckdb"
    code = segmint(
        [
            "load", str(path), "--as", "experiments", "--db", str(db),
            "--map", "experiment_id=:email", "--map", "variant=segment", "--map", "converted=conversion",
            "--map", "revenue=spend", "--map", "customer_id=", "--map", "exposures=", "--yes",
        ]
    )  # fmt: skip
    assert code == 0
    con = engine.connect(db, shared=False)
    yield frame, con
    con.close()


def test_control_is_the_no_email_group_with_its_evidence(email_test):
    _, con = email_test
    result = engine.analyse_experiment(con, "email")
    assert result.control == "No E-Mail"
    assert result.control_choice.rule == "named" and "no e-mail" in result.control_choice.evidence
    assert result.variants.iloc[0]["variant"] == "No E-Mail"


def test_every_row_is_a_unit_and_rates_match_pandas(email_test):
    frame, con = email_test
    result = engine.analyse_experiment(con, "email", outcomes=["converted", "visit", "revenue"])
    assert result.unit == "row"
    assert any("each counts as one exposed unit" in note for note in result.notes)
    res = result.results.set_index(["outcome", "variant"])
    rates = frame.groupby("segment")[["conversion", "visit", "spend"]].mean()
    sizes = frame.groupby("segment").size()
    for segment in SEGMENTS:
        assert res.loc[("converted", segment), "units"] == sizes[segment]
        assert res.loc[("converted", segment), "value"] == pytest.approx(rates.loc[segment, "conversion"])
        assert res.loc[("visit", segment), "value"] == pytest.approx(rates.loc[segment, "visit"])
        assert res.loc[("revenue", segment), "value"] == pytest.approx(rates.loc[segment, "spend"])
    for segment in ("Mens E-Mail", "Womens E-Mail"):
        lift = rates.loc[segment, "conversion"] / rates.loc["No E-Mail", "conversion"] - 1
        assert res.loc[("converted", segment), "rel_lift"] == pytest.approx(lift)


def test_welch_per_row_and_one_correction_over_variants_and_outcomes(email_test):
    frame, con = email_test
    result = engine.analyse_experiment(con, "email", outcomes=["visit", "converted", "revenue"])
    assert result.outcome == "visit" and result.comparisons == 6
    assert "6 comparisons" in result.correction and "3 outcomes" in result.correction
    res = result.results.set_index(["outcome", "variant"])
    control = frame[frame["segment"] == "No E-Mail"]
    raw = []
    for outcome, column in (("visit", "visit"), ("converted", "conversion"), ("revenue", "spend")):
        for segment in ("Mens E-Mail", "Womens E-Mail"):
            arm = frame[frame["segment"] == segment]
            if outcome == "revenue":
                ref = stats.ttest_ind(arm[column], control[column], equal_var=False)
                assert res.loc[(outcome, segment), "p_value"] == pytest.approx(ref.pvalue, rel=1e-6)
                raw.append(ref.pvalue)
            else:
                x1, n1, x2, n2 = arm[column].sum(), len(arm), control[column].sum(), len(control)
                pooled = (x1 + x2) / (n1 + n2)
                z = (x1 / n1 - x2 / n2) / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
                p = 2 * stats.norm.sf(abs(z))
                assert res.loc[(outcome, segment), "p_value"] == pytest.approx(p, rel=1e-6)
                raw.append(p)
    adjusted = multipletests(raw, method="holm")[1]
    got = [
        res.loc[(o, s), "p_value_adjusted"]
        for o in ("visit", "converted", "revenue")
        for s in ("Mens E-Mail", "Womens E-Mail")
    ]
    assert got == pytest.approx(list(adjusted), rel=1e-6)


def test_outcome_columns_on_offer(email_test):
    _, con = email_test
    names = [o.name for o in engine.experiment_outcomes(con, "email")]
    assert names[:3] == ["converted", "revenue", "visit"]  # outcome-like names before other 0/1 columns
    assert "mens" in names and "recency" in names and "channel" not in names
    with pytest.raises(engine.SchemaError, match="channel"):
        engine.analyse_experiment(con, "email", outcomes=["channel"])
