"""CDNOW's order log through the real paths: ``segmint load`` into a store holding the sample (a newcomer's
first contact), then ``segmint predict``: the published BG/NBD fit and worked example come out."""

from __future__ import annotations

import json

import pandas as pd
import pytest

PAPER = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}


def test_cdnow_loaded_as_a_file_predicts_the_published_figures(
    cdnow_sample_file, sample_store, cli, tmp_path
):
    raw = pd.read_csv(
        cdnow_sample_file,
        sep=r"\s+",
        header=None,
        names=["master_id", "customer_id", "date", "cds", "dollars"],
        dtype=str,
    )
    export = tmp_path / "cdnow_orders.csv"
    raw[["customer_id", "date", "cds", "dollars"]].to_csv(export, index=False)  # 19970101-style dates
    code, out, _ = cli("load", str(export), "--as", "orders", "--db", sample_store, "--yes")
    assert code == 0, out
    assert "6,919" in out and "the sample data was removed" in out
    result = tmp_path / "clv.csv"
    code, out, err = cli(
        "predict", "--db", sample_store, "--as-of", "1997-09-30", "--horizon-days", "273",
        "--out", str(result), "--json",
    )  # fmt: skip
    assert code == 0, err
    figures = json.loads(out)
    assert figures["customers"] == 2357 and figures["repeat_buyers"] == 946
    for name, published in PAPER.items():
        assert figures["params"][name] == pytest.approx(published, rel=2e-3), name
    assert figures["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    scores = pd.read_csv(result, encoding="utf-8-sig", dtype={"customer_id": str}).set_index("customer_id")
    assert scores.loc["0001", "expected_purchases"] == pytest.approx(1.226, abs=2e-3)
    assert len(scores) == 2357
