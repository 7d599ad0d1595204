"""Fixtures of the real-export conformance suite: the generated files (once per run) and sample stores."""

from __future__ import annotations

import shutil

import pytest

import engine
from engine.cli import main as segmint
from tests.conformance import shapes


@pytest.fixture(scope="session")
def exports(tmp_path_factory):
    """Every real-export shape, written once per test run: name -> path."""
    folder = tmp_path_factory.mktemp("exports")
    return {
        "u.data": shapes.ratings_udata(folder / "u.data"),
        "u.item": shapes.catalogue_uitem(folder / "u.item"),
        "email": shapes.email_test_hillstrom(folder / "Kevin_Hillstrom_MineThatData_E-MailAnalytics.csv"),
        "ads": shapes.facebook_ads_kag(folder / "KAG_conversion_data.csv"),
        "retail": shapes.online_retail(folder / "Online Retail.csv"),
        "crm": shapes.crm_customers(folder / "crm_export.csv"),
        "placeholders": shapes.orders_with_placeholders(folder / "orders_2024.csv"),
        "nul": shapes.orders_with_nul_bytes(folder / "orders_nul.csv"),
    }


@pytest.fixture
def sample_store(sample_db_file, tmp_path):
    """A private copy of the sample store (the state a newcomer's first real load meets)."""
    path = tmp_path / "first_contact.duckdb"
    shutil.copy(sample_db_file, path)
    yield path
    engine.close_all()


@pytest.fixture
def cli(capsys):
    """Run ``segmint`` in this process; returns (exit code, standard output, standard error)."""

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = segmint([str(a) for a in argv])
        finally:
            engine.close_all()
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def stored(db, sql: str):
    """Rows of a query on the store after the command has finished (a fresh connection)."""
    con = engine.connect(db, shared=False)
    try:
        return con.execute(sql).df()
    finally:
        con.close()
