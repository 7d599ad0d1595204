"""Segment builder, saved segments and views, audience files: checked against pandas filters on the sample
and against the platforms' documented normalisation on known inputs."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pandas as pd
import pytest

import engine
from engine import audience
from engine.sample import SAMPLE_DIR


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def sample_frames():
    customers = pd.read_csv(SAMPLE_DIR / "customers.csv")
    orders = pd.read_csv(SAMPLE_DIR / "orders.csv", parse_dates=["order_date"])
    products = pd.read_csv(SAMPLE_DIR / "products.csv")
    return customers, orders, products


def test_definition_equals_a_pandas_filter_on_the_sample(sample_con, sample_frames):
    customers, orders, products = sample_frames
    context = audience.audience_context(sample_con)
    definition = {
        "match": "all",
        "conditions": [
            {"field": "segment", "op": "in", "value": ["Champions", "Loyal", "At Risk"]},
            {
                "match": "any",
                "conditions": [
                    {"field": "region", "op": "in", "value": ["South"]},
                    {"field": "age", "op": ">=", "value": 50},
                ],
            },
            {"field": "bought_category", "op": "any_of", "value": ["Electronics"]},
            {"field": "gender", "op": "not_in", "value": ["female"]},
        ],
    }
    got = audience.audience_members(sample_con, definition, context)

    # independent: segments from the RFM table (tested on its own), the rest from the raw CSVs with pandas
    segments = engine.customer_segments(sample_con)[["customer_id", "segment", "monetary"]]
    frame = segments.merge(customers, on="customer_id", how="left")
    lines = orders[orders["order_date"] < pd.Timestamp(context.as_of) + pd.Timedelta(days=1)]
    lines = lines[lines["amount"] >= 0].merge(products[["product_id", "category"]], on="product_id")
    electronics = set(lines.loc[lines["category"] == "Electronics", "customer_id"])
    expected = frame[
        frame["segment"].isin(["Champions", "Loyal", "At Risk"])
        & ((frame["region"] == "South") | (frame["age"] >= 50))
        & frame["customer_id"].isin(electronics)
        & ~(frame["gender"] == "female")
    ]
    assert len(expected) > 20  # the test means something
    assert list(got["customer_id"]) == sorted(expected["customer_id"])

    summary = audience.audience_summary(sample_con, definition, context)
    assert summary.members == len(expected)
    assert summary.customers == len(frame)
    assert summary.revenue == pytest.approx(expected["monetary"].sum())
    assert summary.revenue_share == pytest.approx(expected["monetary"].sum() / frame["monetary"].sum())


def test_numbers_dates_and_empty_values(sample_con):
    context = audience.audience_context(sample_con)
    rfm = engine.rfm_scores(sample_con)
    definition = {
        "match": "any",
        "conditions": [
            {"field": "monetary", "op": "between", "value": [1000, 200]},  # reversed bounds are swapped
            {"field": "last_order", "op": "on_or_before", "value": "2024-06-30"},
            {"field": "recency_days", "op": "is_empty"},
        ],
    }
    got = audience.audience_members(sample_con, definition, context)
    last = pd.to_datetime(rfm["last_order"]).dt.date
    expected = rfm[
        rfm["monetary"].between(200, 1000) | (last <= dt.date(2024, 6, 30)) | rfm["recency_days"].isna()
    ]
    assert list(got["customer_id"]) == sorted(expected["customer_id"])
    assert audience.audience_summary(sample_con, {"match": "all", "conditions": []}, context).members == len(
        rfm
    )


def test_values_are_parameters_and_names_come_from_the_catalogue(sample_con):
    context = audience.audience_context(sample_con)
    hostile = "x'); DROP TABLE orders; --"
    sql, params = audience.audience_query(
        {"match": "all", "conditions": [{"field": "region", "op": "in", "value": [hostile]}]}, context
    )
    assert hostile not in sql and hostile in params.values()
    assert (
        audience.audience_summary(
            sample_con, {"conditions": [{"field": "region", "op": "in", "value": [hostile]}]}, context
        ).members
        == 0
    )
    with pytest.raises(engine.SchemaError, match="unknown field 'region; DROP'"):
        audience.compile_definition(
            {"conditions": [{"field": "region; DROP", "op": "in", "value": ["a"]}]}, context
        )
    with pytest.raises(engine.SchemaError, match="condition 1 > condition 1: Net spend .* cannot use 'in'"):
        audience.compile_definition(
            {
                "conditions": [
                    {"match": "any", "conditions": [{"field": "monetary", "op": "in", "value": [1]}]}
                ]
            },
            context,
        )
    with pytest.raises(engine.SchemaError, match="needs a number"):
        audience.compile_definition(
            {"conditions": [{"field": "monetary", "op": ">", "value": "lots"}]}, context
        )


def test_saved_segments_and_views_round_trip(sample_copy):
    _, con = sample_copy
    definition = {"match": "all", "conditions": [{"field": "monetary", "op": ">=", "value": 500}]}
    saved = audience.save_named(con, "segment", "Big spenders", definition, "ana@example.com")
    assert saved.definition == definition and saved.saved_by == "ana@example.com"
    with pytest.raises(engine.SchemaError, match="exists already"):
        audience.save_named(con, "segment", " Big   spenders ", definition)
    with pytest.raises(engine.SchemaError, match="name of an RFM segment"):
        audience.save_named(con, "segment", "champions", definition)
    renamed = audience.rename_saved(con, "segment", "Big spenders", "Top spenders")
    assert renamed.name == "Top spenders"
    assert audience.resolve_segment(con, "Top spenders") == definition
    assert audience.resolve_segment(con, "loyal") == audience.segment_definition(["Loyal"])
    with pytest.raises(engine.SchemaError, match="Saved segments: Top spenders"):
        audience.resolve_segment(con, "Nobody")
    view = {"page": "segments", "filters": {"from": "2025-01-01", "to": "2025-03-31", "segment": "Loyal"}}
    audience.save_named(con, "view", "Q1 loyal", view, "ana@example.com")
    assert list(audience.list_saved(con, "view")["name"]) == ["Q1 loyal"]
    assert audience.delete_saved(con, "segment", "Top spenders")
    assert audience.list_saved(con, "segment").empty


def test_view_links_round_trip():
    filters = {
        "from": dt.date(2025, 1, 1),
        "to": dt.date(2025, 3, 31),
        "segment": "At Risk",
        "experiment": "",
    }
    link = audience.view_query("segments", filters)
    assert link == "segments?from=2025-01-01&to=2025-03-31&segment=At+Risk"
    from urllib.parse import parse_qs, urlsplit

    back = audience.filters_from_query(parse_qs(urlsplit(link).query))
    assert back == {"from": dt.date(2025, 1, 1), "to": dt.date(2025, 3, 31), "segment": "At Risk"}
    assert audience.filters_from_query({"from": "not a date", "outcome": "revenue"}) == {"outcome": "revenue"}
    with pytest.raises(engine.SchemaError, match="not a page of this app"):
        audience.view_query("javascript:alert(1)//", {})


# --------------------------------------------------------------------------- normalisation on known inputs


def test_email_is_trimmed_and_lower_cased_before_hashing():
    assert audience.normalise_email(" John.Doe@Example.com ") == "john.doe@example.com"
    members = pd.DataFrame({"customer_id": ["a"], "Email": [" John.Doe@Example.com "]})
    for fmt, column in (("meta", "email"), ("google", "Email")):
        out = audience.audience_file(members, fmt).frame
        assert out.loc[0, column] == hashlib.sha256(b"john.doe@example.com").hexdigest()
    # Customer Match's documented rules have no gmail dot removal (that is enhanced conversions only)
    assert audience.normalise_email("J.Doe@Gmail.com") == "j.doe@gmail.com"
    assert audience.normalise_email("not an address") is None


def test_phone_country_names_and_zip():
    assert audience.normalise_phone("+44 (0)20 7183 8750") == "+442071838750"
    assert audience.normalise_phone("020 7183 8750", "gb") == "+442071838750"
    assert audience.normalise_phone("0044 20 7183 8750") == "+442071838750"
    assert audience.normalise_phone("(657) 777-0000", "us") == "+16577770000"
    assert audience.normalise_phone("020 7183 8750") is None  # no country: cannot be placed
    assert audience.normalise_phone("12", "us") is None
    assert audience.normalise_country("United Kingdom") == "gb"
    assert audience.normalise_country("EIRE") == "ie"
    assert audience.normalise_country("DEU") == "de"
    assert audience.normalise_country("Narnia") is None
    assert audience.normalise_zip("94016-1234", "us") == "94016"
    assert audience.normalise_zip("WC2H 8LG", "gb") == "wc2h8lg"
    assert audience.normalise_zip("WC2H 8LG", "gb", meta=False) == "WC2H 8LG"
    assert audience.normalise_name_meta(" O'Brien-Smith ") == "obriensmith"
    assert audience.normalise_name_meta("Zoë") == "zoë"
    assert audience.normalise_name_google(" Mary Ann ") == "maryann"
    assert audience.normalise_state("Texas", "us") == "tx"


def members_with_identifiers() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "segment": ["Champions", "Loyal", "Lost", "Lost"],
            "monetary": [900.0, 300.0, 10.0, 5.0],
            "E-mail Address": ["Ann@Shop.com", None, "bad", None],
            "Mobile": ["07700 900123", "+1 (657) 777-0000", None, None],
            "First Name": ["Ann", "Bob", "Zoë", "Cy"],
            "Surname": ["O'Neil", "Smith", "Pérez", '=HYPERLINK("x")'],
            "Country": ["United Kingdom", "USA", "Singapore", None],
            "Postcode": ["SW1A 1AA", "94016-1234", "WC2H 8LG", None],
        }
    )


def test_meta_file_hashes_every_key_and_leaves_out_rows_without_identifiers():
    file = audience.audience_file(members_with_identifiers(), "meta")
    assert file.identifiers["email"] == "E-mail Address" and file.identifiers["last_name"] == "Surname"
    assert (file.members, file.rows, file.without_identifier) == (4, 3, 1)  # c4: a name but no location
    frame = file.frame
    assert list(frame.columns) == ["email", "phone", "fn", "ln", "zip", "country"]
    assert frame.loc[0, "email"] == sha("ann@shop.com")
    assert frame.loc[0, "phone"] == sha("447700900123")  # digits only, country code first
    assert frame.loc[1, "phone"] == sha("16577770000")
    assert frame.loc[0, "ln"] == sha("oneil")
    assert frame.loc[1, "zip"] == sha("94016")
    assert frame.loc[2, "fn"] == sha("zoë") and frame.loc[2, "country"] == sha("sg")
    assert pd.isna(frame.loc[2, "email"])  # "bad" is no address
    assert "left out" in file.notes[-1]


def test_google_file_has_english_headers_and_plain_country_and_zip():
    file = audience.audience_file(members_with_identifiers(), "google")
    frame = file.frame
    assert list(frame.columns) == ["Email", "Phone", "First Name", "Last Name", "Country", "Zip"]
    assert (file.rows, file.without_identifier) == (3, 1)
    assert frame.loc[0, "Phone"] == sha("+447700900123")  # E.164 with the plus sign
    assert frame.loc[2, "First Name"] == sha("zoë")
    assert list(frame["Country"]) == ["gb", "us", "sg"]
    assert list(frame["Zip"]) == ["SW1A 1AA", "94016", "WC2H 8LG"]
    data = file.to_csv_bytes()
    assert data.startswith(b"Email,Phone,First Name")  # no byte-order mark before the header


def test_crm_list_keeps_every_member_and_is_formula_safe():
    file = audience.audience_file(members_with_identifiers(), "crm", segment_name="Win back")
    frame = pd.read_csv(io.BytesIO(file.to_csv_bytes()), encoding="utf-8-sig", dtype=str)
    assert list(frame.columns[:5]) == ["email", "first_name", "last_name", "phone", "segment"]
    assert list(frame["segment"]) == ["Win back"] * 4
    assert list(frame["rfm_segment"]) == ["Champions", "Loyal", "Lost", "Lost"]
    assert frame.loc[0, "email"] == "ann@shop.com"
    assert frame.loc[1, "phone"] == "+16577770000"  # an E.164 number stays usable
    assert frame.loc[3, "last_name"].startswith("'=")  # a formula is neutralised
    assert "Country" in frame.columns and "Postcode" in frame.columns
    assert file.without_identifier == 3 and "no usable e-mail" in file.notes[0]


def test_sample_google_file_hashes_each_members_email(sample_con):
    context = audience.audience_context(sample_con)
    members = audience.audience_members(sample_con, audience.segment_definition(["Champions"]), context)
    file = audience.audience_file(members, "google")
    emails = pd.read_csv(SAMPLE_DIR / "customers.csv", dtype=str).set_index("customer_id")["email"]
    expected = sorted(
        hashlib.sha256(e.strip().lower().encode()).hexdigest() for e in emails.loc[members["customer_id"]]
    )
    assert file.without_identifier == 0 and sorted(file.frame["Email"]) == expected


def test_a_store_without_contact_columns_says_so(sample_copy):
    _, con = sample_copy
    con.execute("ALTER TABLE customers DROP COLUMN email")
    context = audience.audience_context(con)
    members = audience.audience_members(con, audience.segment_definition(["Champions"]), context)
    file = audience.audience_file(members, "google")
    assert file.rows == 0 and file.without_identifier == len(members) > 0
    assert "No e-mail, phone or name column" in file.notes[0]


def test_id_overlap_names_the_column_to_check(con):
    con.execute("INSERT INTO customers (customer_id) VALUES ('C0001'), ('C0002')")
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount) VALUES "
        "('1', '12346', TIMESTAMP '2025-01-01', 10), ('2', '12347', TIMESTAMP '2025-01-02', 5)"
    )
    from engine import consistency

    (overlap,) = consistency.id_overlaps(con)
    assert (overlap.ids, overlap.other_ids, overlap.shared, overlap.level) == (2, 2, 0, "none")
    assert consistency.id_warnings(con) == [
        "Orders and customers share 0 ids: check the customer id column (orders use ids like 12346, 12347; "
        "customers like C0001, C0002)."
    ]
    con.execute("INSERT INTO customers (customer_id) VALUES ('12346'), ('X1'), ('X2')")
    con.execute(
        "INSERT INTO orders (order_id, customer_id, order_date, amount) VALUES ('3', 'X9', TIMESTAMP '2025-01-03', 1)"
    )
    (overlap,) = consistency.id_overlaps(con)
    assert (overlap.shared, overlap.ids, overlap.level) == (1, 3, "few")
    assert overlap.message.startswith("Only 1 of 3 customer ids in orders (33%) are in customers")


def test_sample_tables_share_their_ids(sample_con):
    from engine import consistency

    assert consistency.id_warnings(sample_con) == []


def test_segmint_audience_writes_each_format(tmp_path, capsys):
    from engine.cli import main

    customers = tmp_path / "customers.csv"
    customers.write_text(
        "Customer ID,Email,First Name,Last Name,Phone,Country\n"
        "A1, John.Doe@Example.com ,John,Doe,020 7183 8750,United Kingdom\n"
        "A2,,Mary,Major,,Germany\n"
        "A3,=cmd@evil.com,Eve,Hack,,France\n",
        encoding="utf-8",
    )
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_id,customer_id,order_date,amount\n1,A1,2025-01-05,120\n2,A2,2025-02-01,80\n3,A3,2025-03-01,10\n",
        encoding="utf-8",
    )
    db = tmp_path / "cli.duckdb"
    try:
        assert main(["load", str(customers), "--as", "customers", "--db", str(db), "--yes"]) == 0
        assert main(["load", str(orders), "--as", "orders", "--db", str(db), "--yes"]) == 0
        segments = engine.customer_segments(engine.connect(db))
        everyone = sorted(set(segments["segment"]))
        con = engine.connect(db)
        definition = {
            "match": "all",
            "conditions": [
                {"field": "country", "op": "in", "value": ["United Kingdom", "Germany", "France"]}
            ],
        }
        audience.save_named(con, "segment", "Europe", definition, "cli")
        capsys.readouterr()
        out = tmp_path / "meta.csv"
        assert (
            main(["audience", "--segment", "Europe", "--format", "meta", "--out", str(out), "--db", str(db)])
            == 0
        )
        meta = pd.read_csv(out, dtype=str)
        assert len(meta) == 2  # A2 has neither e-mail nor phone nor a postcode/city: left out
        assert meta.loc[0, "email"] == hashlib.sha256(b"john.doe@example.com").hexdigest()
        assert meta.loc[0, "phone"] == sha("442071838750")
        assert "1 of 3 customers have no identifier Meta can match on" in capsys.readouterr().err
        out = tmp_path / "google.csv"
        assert (
            main(
                ["audience", "--segment", "Europe", "--format", "google", "--out", str(out), "--db", str(db)]
            )
            == 0
        )
        google = pd.read_csv(out, dtype=str)
        assert google.loc[0, "Phone"] == sha("+442071838750") and list(google["Country"]) == ["gb", "fr"]
        out = tmp_path / "crm.csv"
        assert (
            main(
                ["audience", "--segment", everyone[0], "--format", "crm", "--out", str(out), "--db", str(db)]
            )
            == 0
        )
        crm = pd.read_csv(out, dtype=str, encoding="utf-8-sig")
        assert set(crm["segment"]) == {everyone[0]}
        capsys.readouterr()
        assert main(["audience", "--list", "--db", str(db)]) == 0
        listed = capsys.readouterr().out
        assert "saved by cli: Country is any of United Kingdom, Germany, France" in listed
        assert (
            main(["audience", "--segment", "Nobody", "--format", "crm", "--out", str(out), "--db", str(db)])
            == 2
        )
        assert "Saved segments: Europe" in capsys.readouterr().err
    finally:
        engine.close_all()


def test_predicted_scores_join_as_fields(sample_copy):
    _, con = sample_copy
    rfm = engine.rfm_scores(con)
    buyers = rfm[rfm["frequency"] > 0].copy()
    # a stored per-customer score table, shaped like the predictions (any stored table with customer_id works)
    buyers["clv"] = buyers["monetary"] * 0.5
    buyers["risk_band"] = ["high" if d > 180 else "low" for d in buyers["recency_days"]]
    table = engine.put_result(con, "test_scores", {}, buyers[["customer_id", "clv", "risk_band"]])
    context = audience.audience_context(con, score_table=table)
    assert (context.fields["clv"].kind, context.fields["risk_band"].kind) == ("number", "category")
    definition = {
        "match": "all",
        "conditions": [
            {"field": "clv", "op": ">=", "value": 300},
            {"field": "risk_band", "op": "in", "value": ["high"]},
        ],
    }
    got = audience.audience_members(con, definition, context)
    expected = buyers[(buyers["clv"] >= 300) & (buyers["risk_band"] == "high")]
    assert list(got["customer_id"]) == sorted(expected["customer_id"]) and len(expected) > 0
    crm = audience.audience_file(got, "crm").frame
    assert list(crm["clv"]) == list(got["clv"])  # the CRM list carries the predicted value


def test_cluster_is_a_field_once_clusters_are_stored(sample_copy):
    _, con = sample_copy
    params = engine.ClusterParams(k=3, sample_size=1000, n_bootstrap=2)
    assert (
        "cluster_name" not in audience.audience_context(con, cluster_params=params).fields
    )  # nothing fitted
    engine.fit_clusters(con, params)
    context = audience.audience_context(con, cluster_params=params)
    labels = engine.cluster_members(con, params)[["customer_id", "cluster_name"]]
    name = labels["cluster_name"].iloc[0]
    got = audience.audience_members(
        con, {"conditions": [{"field": "cluster_name", "op": "in", "value": [name]}]}, context
    )
    assert list(got["customer_id"]) == sorted(labels.loc[labels["cluster_name"] == name, "customer_id"])


def test_stored_predictions_become_fields(sample_copy):
    _, con = sample_copy
    from engine import predict

    assert "clv" not in audience.audience_context(con).fields  # nothing predicted yet: nothing computed here
    prediction = predict.predict_customers(con)
    scores = predict.prediction_scores(con, prediction)
    context = audience.audience_context(con)
    assert (
        context.fields["clv"].label == "Predicted value (CLV)"
        and context.fields["risk_band"].kind == "category"
    )
    assert "purchases" not in context.fields  # inputs the RFM fields already cover are not repeated
    definition = {
        "conditions": [
            {"field": "churn_risk", "op": ">=", "value": 0.5},
            {"field": "clv", "op": ">=", "value": 100},
        ]
    }
    got = audience.audience_members(con, definition, context)
    expected = scores[(scores["churn_risk"] >= 0.5) & (scores["clv"] >= 100)]
    assert list(got["customer_id"]) == sorted(expected["customer_id"]) and len(expected) > 0
