"""Ingest hazards: encodings, delimiters, headers, dates, numbers, bad rows, hostile names, atomic loads, undo."""

from __future__ import annotations

import datetime as dt
import io
import pathlib
import zipfile

import pandas as pd
import pytest

import engine
from engine import ingest


def write(tmp_path, name: str, content: str | bytes, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def stage(con, tmp_path, name, content, encoding="utf-8", **kw):
    return engine.read_upload(con, write(tmp_path, name, content, encoding), name, **kw)


def orders_csv(n: int = 5, sep: str = ",") -> str:
    rows = [sep.join(["order_id", "customer_id", "order_date", "product_id", "quantity", "amount"])]
    for i in range(n):
        rows.append(
            sep.join([f"O{i}", f"C{i % 3}", f"2024-01-{i % 28 + 1:02d}", f"P{i % 4}", "1", f"{10 + i}.50"])
        )
    return "\n".join(rows) + "\n"


def load_ok(con, staged, table, overrides=None, mode="replace", **kw):
    mapping = engine.suggest_mapping(con, staged, table)
    mapping = engine.apply_overrides(con, mapping, overrides or {}, staged)
    return engine.load(con, staged, mapping, mode, confirm=True, **kw)


# ---------------------------------------------------------------- reading


def test_utf8_bom_header_is_clean(con, tmp_path):
    staged = stage(con, tmp_path, "bom.csv", "\ufeff" + "customer_id,signup_date,city\nC1,2024-01-02,Köln\n")
    assert staged.columns == ["customer_id", "signup_date", "city"]
    assert staged.detected["encoding"] == "UTF-8 with BOM"
    load_ok(con, staged, "customers")
    assert con.execute("SELECT customer_id, city FROM customers").fetchall() == [("C1", "Köln")]


@pytest.mark.parametrize("encoding", ["utf-16", "cp1252"])
def test_utf16_and_cp1252_keep_accents_and_euro(con, tmp_path, encoding):
    text = "customer_id;name;spend\nC1;Müller;1.234,56 €\nC2;Zoë;12,00 €\n"
    staged = stage(con, tmp_path, f"{encoding}.csv", text, encoding=encoding)
    assert staged.columns == ["customer_id", "name", "spend"]
    load_ok(con, staged, "customers")
    assert con.execute("SELECT name, spend FROM customers ORDER BY customer_id").fetchall() == [
        ("Müller", "1.234,56 €"),
        ("Zoë", "12,00 €"),
    ]


def test_semicolon_decimal_comma_over_3000_rows(con, tmp_path):
    lines = ["Bestellnummer;Kunde;Datum;Artikel;Menge;Betrag"]
    for i in range(3200):
        lines.append(f"B{i};K{i % 50};{i % 28 + 1:02d}.{i % 12 + 1:02d}.2024;A{i % 9};1;1.234,{i % 100:02d}")
    staged = stage(con, tmp_path, "de.csv", "\n".join(lines) + "\n")
    assert staged.detected["delimiter"] == "semicolon"
    mapping = engine.suggest_mapping(con, staged, "orders")
    mapping = engine.apply_overrides(
        con,
        mapping,
        {
            "order_id": "Bestellnummer",
            "customer_id": "Kunde",
            "order_date": "Datum",
            "product_id": "Artikel",
            "quantity": "Menge",
            "amount": "Betrag",
        },
        staged,
    )
    assert mapping.decimal_comma["amount"] is True
    assert mapping.date_formats["order_date"] == "dmy"
    report = engine.validate(con, staged, mapping)
    assert report.rows_rejected == 0
    engine.load(con, staged, mapping, confirm=True)
    total = con.execute("SELECT round(sum(amount), 2) FROM orders").fetchone()[0]
    assert total == pytest.approx(sum(1234 + (i % 100) / 100 for i in range(3200)), abs=0.01)
    assert con.execute("SELECT min(order_date) FROM orders").fetchone()[0] == dt.datetime(2024, 1, 1)


def test_headerless_file_gets_column_names_and_content_mapping(con, tmp_path):
    staged = stage(
        con, tmp_path, "plain.csv", "C1,20240105,3,19.99\nC2,20240107,1,5.00\nC1,20240301,2,7.50\n"
    )
    assert staged.columns == ["column0", "column1", "column2", "column3"]
    assert staged.detected["header"] is False
    mapping = engine.suggest_mapping(con, staged, "orders")
    # content alone is only ever a hint: suggested with its evidence, never applied silently
    assert mapping.columns == {}
    hints = {f: s["column"] for f, s in mapping.hints.items()}
    assert hints["order_date"] == "column1"
    assert hints["customer_id"] == "column0"
    assert hints["amount"] == "column3"
    assert all(s["score"] < engine.PRESELECT_SCORE for s in mapping.hints.values())
    assert "content only" in mapping.hints["order_date"]["evidence"][0]
    assert mapping.date_formats["order_date"] == "yyyymmdd"
    with pytest.raises(engine.IngestError, match="order_date"):
        engine.load(con, staged, mapping, confirm=True)
    assert engine.row_count(con, "orders") == 0
    engine.load(con, staged, engine.accept_suggestions(mapping), confirm=True)
    assert engine.row_count(con, "orders") == 3


def test_whitespace_separated_with_yyyymmdd_dates(con, tmp_path):
    text = " customer_id  date number_of_cds  dollar_value\r\n 00001 19970101  1   11.77\r\n 00002 19970112  5   77.00\r\n"
    staged = stage(con, tmp_path, "cdnow.txt", text)
    assert staged.detected["delimiter"] == "runs of spaces"
    assert staged.columns == ["customer_id", "date", "number_of_cds", "dollar_value"]
    load_ok(con, staged, "orders", {"quantity": "number_of_cds"})
    assert con.execute("SELECT customer_id, order_date, amount FROM orders ORDER BY 1").fetchall() == [
        ("00001", dt.datetime(1997, 1, 1), 11.77),
        ("00002", dt.datetime(1997, 1, 12), 77.0),
    ]


def test_epoch_seconds_and_milliseconds(con, tmp_path):
    staged = stage(
        con, tmp_path, "events.csv", "user,item,ts,rating\nu1,i1,1704067200,4\nu2,i1,1704153600,5\n"
    )
    mapping = engine.accept_suggestions(engine.suggest_mapping(con, staged, "interactions"))
    assert mapping.columns["timestamp"] == "ts"
    assert mapping.date_formats["timestamp"] == "epoch_s"
    engine.load(con, staged, mapping, confirm=True)
    assert con.execute("SELECT min(timestamp) FROM interactions").fetchone()[0] == dt.datetime(2024, 1, 1)
    staged = stage(con, tmp_path, "ms.csv", "user,item,ts\nu1,i1,1704067200000\n")
    mapping = engine.suggest_mapping(con, staged, "interactions")
    assert mapping.date_formats["timestamp"] == "epoch_ms"


def test_ambiguous_dates_are_asked_never_guessed(con, tmp_path):
    staged = stage(con, tmp_path, "amb.csv", "customer,date,total\nC1,03/04/2024,10\nC2,05/06/2024,12\n")
    mapping = engine.suggest_mapping(con, staged, "orders")
    assert any("day-first or month-first" in q for q in mapping.questions)
    report = engine.validate(con, staged, mapping)
    assert report.questions
    with pytest.raises(engine.IngestError):
        engine.load(con, staged, mapping, confirm=False)
    answered = engine.apply_overrides(con, mapping, {"order_date__date_format": "dmy"}, staged)
    assert not answered.questions
    engine.load(con, staged, answered, confirm=False)
    assert con.execute("SELECT min(order_date) FROM orders").fetchone()[0] == dt.datetime(2024, 4, 3)


def test_unambiguous_day_first_found_anywhere_in_the_file(con, tmp_path):
    rows = [f"C{i},0{i % 9 + 1}/0{i % 9 + 1}/2024,1" for i in range(30_000)]
    rows.append("C9,25/12/2024,1")  # the only value that decides the order is the very last one
    staged = stage(con, tmp_path, "late.csv", "customer,date,total\n" + "\n".join(rows) + "\n")
    mapping = engine.suggest_mapping(con, staged, "orders")
    assert mapping.date_formats["order_date"] == "dmy"
    assert not any("day-first" in q for q in mapping.questions)


def test_bad_value_at_row_25000_writes_nothing(con, tmp_path):
    first = stage(con, tmp_path, "first.csv", orders_csv(10))
    load_ok(con, first, "orders")
    version = engine.data_version(con)
    rows = orders_csv(30_000).splitlines()
    rows[25_000] = rows[25_000].rsplit(",", 1)[0] + ",twelve"
    staged = stage(con, tmp_path, "bad.csv", "\n".join(rows) + "\n")
    mapping = engine.suggest_mapping(con, staged, "orders")
    report = engine.validate(con, staged, mapping)
    assert report.rows_rejected == 1
    (issue,) = report.issues
    assert issue.column == "amount" and issue.examples == [(25_001, "twelve")]
    assert "line 25001" in issue.describe()
    for mode in ("replace", "append"):
        with pytest.raises(engine.IngestError, match="1 of 30,000 rows would be rejected"):
            engine.load(con, staged, mapping, mode, confirm=True)
    assert engine.row_count(con, "orders") == 10
    assert engine.data_version(con) == version


def test_fifty_good_one_bad_leaves_table_unchanged_then_accepting_skips_it(con, tmp_path):
    load_ok(con, stage(con, tmp_path, "base.csv", orders_csv(7)), "orders")
    rows = orders_csv(51).splitlines()
    rows[51] = rows[51].replace("2024-", "2024-13-")
    staged = stage(con, tmp_path, "51.csv", "\n".join(rows) + "\n")
    mapping = engine.suggest_mapping(con, staged, "orders")
    with pytest.raises(engine.IngestError):
        engine.load(con, staged, mapping, "append", confirm=True)
    assert engine.row_count(con, "orders") == 7
    result = engine.load(con, staged, mapping, "append", confirm=True, accept_rejects=True)
    assert result.rows_rejected == 1
    assert result.rows_skipped_existing == 7  # the first seven lines are already stored
    assert engine.row_count(con, "orders") == 7 + 50 - 7


def test_duplicate_headers_are_reported_and_kept_apart(con, tmp_path):
    staged = stage(con, tmp_path, "dup.csv", "customer_id,amount,amount,order_date\nC1,5,6,2024-01-01\n")
    assert staged.columns == ["customer_id", "amount", "amount_1", "order_date"]
    assert any("appears 2 times" in w for w in staged.warnings)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"customer_id,signup_date\n", "no data rows"),
        (b"   \n\n  \t \n", "blank"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", "program"),
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00", "program"),
    ],
)
def test_unreadable_files_get_a_clear_message(con, tmp_path, content, message):
    with pytest.raises(engine.IngestError, match=message):
        stage(con, tmp_path, "customers.csv", content)


def test_text_named_xlsx_is_read_by_content(con, tmp_path):
    staged = stage(con, tmp_path, "customers.xlsx", "customer_id,region\nC1,North\n")
    assert staged.format == "csv"
    assert any("plain text" in w for w in staged.warnings)


def test_real_xlsx_and_parquet(con, tmp_path):
    frame = pd.DataFrame(
        {"Customer ID": ["C1", "C2"], "Signup": pd.to_datetime(["2024-01-05", "2024-02-06"]), "Age": [31, 45]}
    )
    xlsx = tmp_path / "c.xlsx"
    frame.to_excel(xlsx, index=False)
    staged = engine.read_upload(con, xlsx, "c.xlsx")
    assert staged.format == "xlsx" and staged.columns == ["Customer ID", "Signup", "Age"]
    load_ok(con, staged, "customers")
    assert con.execute("SELECT customer_id, signup_date, age FROM customers ORDER BY 1").fetchall() == [
        ("C1", dt.date(2024, 1, 5), "31"),
        ("C2", dt.date(2024, 2, 6), "45"),
    ]
    pq = tmp_path / "c.parquet"
    frame.to_parquet(pq)
    staged = engine.read_upload(con, pq, "c.parquet")
    assert staged.format == "parquet"
    load_ok(con, staged, "customers", mode="append")
    assert engine.row_count(con, "customers") == 2  # same keys: append skipped them


def test_xlsx_zip_bomb_rejected_before_parsing(con, tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/worksheets/sheet1.xml", b"0" * (400 * 1024 * 1024))
    with pytest.raises(engine.IngestError, match="expands to"):
        stage(con, tmp_path, "bomb.xlsx", buf.getvalue())


def test_caps_are_enforced(con, tmp_path):
    limits = ingest.Limits(max_bytes=10_000, max_rows=3, max_columns=3)
    with pytest.raises(engine.IngestError, match="over the limit of 3"):
        stage(con, tmp_path, "rows.csv", orders_csv(5), limits=limits)
    with pytest.raises(engine.IngestError, match="columns, over the limit"):
        stage(con, tmp_path, "cols.csv", "a,b,c,d\n1,2,3,4\n", limits=limits)
    with pytest.raises(engine.IngestError, match="MB limit"):
        stage(con, tmp_path, "big.csv", orders_csv(1000), limits=limits)


def test_hostile_column_and_file_names_never_reach_sql_raw(con, tmp_path):
    hostile = 'amt"; DROP TABLE customers;--'
    long = "x" * 300
    header = f'customer_id,"{hostile.replace(chr(34), chr(34) * 2)}",😀 emoji,{long},Region,region'
    staged = stage(con, tmp_path, "../../secrets.toml.csv", header + "\nC1,1,2,3,North,south\n")
    assert staged.file_name == "secrets.toml.csv"
    assert engine.staging_dir(con) in __import__("pathlib").Path(staged.staged_path).parents
    load_ok(con, staged, "customers")
    assert engine.table_exists(con, "customers")
    extras = engine.extra_columns(con, "customers")
    assert len(extras) == 5 and len(set(extras)) == 5
    assert all(c.replace("_", "").isalnum() and len(c) <= 64 for c in extras)
    assert con.execute("SELECT region, region_1 FROM customers").fetchall() == [("North", "south")]
    assert any("'region' appears 2 times" in w for w in staged.warnings)


def test_ten_defects_reported_in_one_pass(con, tmp_path):
    text = (
        "order_id,customer_id,order_date,product_id,quantity,amount,campaign_id\n"
        "O1,C1,2024-01-01,P1,1,10,X\n"
        "O2,,2024-01-02,P1,1,10,X\n"  # a guest order: loads
        "O3,C1,notadate,P1,1,10,X\n"  # 2 bad date
        "O4,C1,2024-01-04,P1,one,10,X\n"  # 3 bad quantity
        "O5,C1,2024-01-05,P1,1,ten,X\n"  # 4 bad amount
        "O6,C1,,P1,1,10,X\n"  # 5 missing date
        "O7,C1,2024-01-07,P1,1,,X\n"  # 6 missing amount
        "O8,C1,2024-02-30,P1,1,10,X\n"  # 7 impossible date
        "O9,C1,2024-01-09,P1,1.5.5,10,X\n"  # 8 bad quantity format
        "O10,C1,2024-01-10,P1,1,1O.00,X\n"  # 9 letter O in amount
        "O11,  ,2024-01-11,P1,1,10,X\n"  # another guest order (blank customer)
        "O12,C1,9999-12-31,P1,1,10,X\n"  # 9 placeholder date
        "O13,C1,2024-01-13,P1,1,NaN,X\n"  # 10 not a finite amount
    )
    staged = stage(con, tmp_path, "ten.csv", text)
    report = engine.validate(con, staged, engine.suggest_mapping(con, staged, "orders"))
    assert report.rows_rejected == 10
    assert report.rows_valid == 3
    assert sum(i.rows for i in report.issues) == 10
    lines = sorted(line for i in report.issues for line, _ in i.examples)
    assert lines == [4, 5, 6, 7, 8, 9, 10, 11, 13, 14]
    # the money of rejected rows whose amount is readable: O3, O4, O6, O8, O9, O12 at 10 each
    assert report.rejected_money == {"amount": 60.0}


def test_order_total_repeated_on_each_line_is_counted_once(con, tmp_path):
    lines = ["Name,Email,Created at,Lineitem sku,Lineitem quantity,Lineitem price,Total"]
    for i in range(20):
        lines.append(f"#{1000 + i},c{i}@x.com,2024-03-{i + 1:02d} 10:00:00,SKU-A,1,10.00,35.00")
        lines.append(f"#{1000 + i},c{i}@x.com,2024-03-{i + 1:02d} 10:00:00,SKU-B,1,25.00,35.00")
    staged = stage(con, tmp_path, "shopify.csv", "\n".join(lines) + "\n")
    mapping = engine.suggest_mapping(con, staged, "orders")
    assert mapping.columns["order_id"] == "Name"
    assert mapping.columns["customer_id"] == "Email"
    assert mapping.amount_rule == "quantity_x_unit_price"
    assert any("order total" in q for q in mapping.questions)
    engine.load(con, staged, mapping, confirm=True)
    assert con.execute("SELECT sum(amount) FROM orders").fetchone()[0] == pytest.approx(20 * 35.0)


def test_order_total_without_line_prices_is_split(con, tmp_path):
    lines = ["order,customer,date,sku,total"]
    for i in range(12):
        for sku in ("A", "B", "C"):
            lines.append(f"{i},C{i},2024-05-{i + 1:02d},{sku},90")
    staged = stage(con, tmp_path, "totals.csv", "\n".join(lines) + "\n")
    mapping = engine.suggest_mapping(con, staged, "orders")
    assert mapping.amount_rule == "split_order_total"
    engine.load(con, staged, mapping, confirm=True)
    assert con.execute("SELECT sum(amount) FROM orders").fetchone()[0] == pytest.approx(12 * 90.0)


def test_amount_derived_and_returns_flagged(con, tmp_path):
    staged = stage(
        con,
        tmp_path,
        "lines.csv",
        "InvoiceNo,CustomerID,InvoiceDate,StockCode,Quantity,UnitPrice\n"
        "1,C1,12/1/2010 8:26,A,6,2.55\n1,C1,12/1/2010 8:26,B,-2,3.39\n",
    )
    mapping = engine.suggest_mapping(con, staged, "orders")
    assert mapping.amount_rule == "quantity_x_unit_price"
    assert mapping.date_formats["order_date"] == "mdy"  # 12/1 could be either; 8:26 ... decided below
    mapping = engine.apply_overrides(con, mapping, {"order_date__date_format": "mdy"}, staged)
    engine.load(con, staged, mapping, confirm=True)
    assert con.execute("SELECT amount, is_return FROM orders ORDER BY amount").fetchall() == [
        (pytest.approx(-6.78), True),
        (pytest.approx(15.3), False),
    ]
    assert con.execute("SELECT min(order_date) FROM orders").fetchone()[0] == dt.datetime(2010, 12, 1, 8, 26)


def test_constant_for_missing_required_field_and_count_form(con, tmp_path):
    staged = stage(con, tmp_path, "ab.csv", "group,visitors,conversions\ncontrol,1000,100\nB,1000,130\n")
    mapping = engine.suggest_mapping(con, staged, "experiments")
    assert "experiment_id" not in mapping.columns
    report = engine.validate(con, staged, mapping)
    assert any("experiment_id" in b for b in report.blocking)
    mapping = engine.apply_overrides(con, mapping, {"experiment_id": ":spring_test"}, staged)
    engine.load(con, staged, mapping, confirm=True)
    assert con.execute(
        "SELECT experiment_id, variant, exposures, conversions FROM experiments ORDER BY variant DESC"
    ).fetchall() == [("spring_test", "control", 1000, 100), ("spring_test", "B", 1000, 130)]


def test_mapping_is_saved_and_reused_for_the_same_headers(con, tmp_path):
    staged = stage(con, tmp_path, "a.csv", "who,when,paid\nC1,2024-01-01,5\n")
    mapping = engine.suggest_mapping(con, staged, "orders")
    mapping = engine.apply_overrides(
        con, mapping, {"customer_id": "who", "order_date": "when", "amount": "paid"}, staged
    )
    engine.load(con, staged, mapping, confirm=True)
    again = stage(con, tmp_path, "b.csv", "who,when,paid\nC2,2024-02-01,7\n")
    reused = engine.suggest_mapping(con, again, "orders")
    assert reused.columns == {"customer_id": "who", "order_date": "when", "amount": "paid"}
    assert set(reused.confidence.values()) == {"saved"}


def test_duplicate_customer_ids_rejected_after_the_first(con, tmp_path):
    staged = stage(con, tmp_path, "c.csv", "customer_id,region\nC1,N\nC2,S\nC1,E\n")
    report = engine.validate(con, staged, engine.suggest_mapping(con, staged, "customers"))
    assert report.rows_rejected == 1
    assert report.issues[0].problem == "a duplicate key" and report.issues[0].examples == [(4, "C1")]


def test_out_of_range_rating_rejected(con, tmp_path):
    staged = stage(con, tmp_path, "r.csv", "user,item,rating\nu1,i1,4\nu1,i2,-3\n")
    report = engine.validate(con, staged, engine.suggest_mapping(con, staged, "interactions"))
    assert [(i.problem, i.examples) for i in report.issues] == [("a value out of range", [(3, "-3")])]


def test_undo_restores_replace_and_append(con, tmp_path):
    load_ok(con, stage(con, tmp_path, "one.csv", orders_csv(4)), "orders")
    before = con.execute("SELECT * EXCLUDE (_load_id) FROM orders ORDER BY order_id").fetchall()
    load_ok(con, stage(con, tmp_path, "two.csv", orders_csv(9)), "orders", mode="append")
    assert engine.row_count(con, "orders") == 9
    engine.undo_last_load(con)
    assert con.execute("SELECT * EXCLUDE (_load_id) FROM orders ORDER BY order_id").fetchall() == before
    load_ok(con, stage(con, tmp_path, "three.csv", orders_csv(2)), "orders")
    assert engine.row_count(con, "orders") == 2
    engine.undo_last_load(con)
    assert con.execute("SELECT * EXCLUDE (_load_id) FROM orders ORDER BY order_id").fetchall() == before
    history = engine.load_history(con)
    assert history["undone"].tolist() == [True, True, False]


def test_failure_inside_the_load_transaction_rolls_back_everything(con, tmp_path, monkeypatch):
    load_ok(con, stage(con, tmp_path, "one.csv", orders_csv(4)), "orders")
    before = con.execute("SELECT * FROM orders ORDER BY order_id").fetchall()
    version = engine.data_version(con)
    staged = stage(con, tmp_path, "two.csv", orders_csv(6))
    mapping = engine.suggest_mapping(con, staged, "orders")

    def disk_full(connection):
        raise OSError("No space left on device")

    # the new rows are already inserted and the old table renamed when this step fails
    monkeypatch.setattr(ingest.store, "bump_data_version", disk_full)
    for mode in ("replace", "append"):
        with pytest.raises(OSError):
            engine.load(con, staged, mapping, mode, confirm=True)
        assert con.execute("SELECT * FROM orders ORDER BY order_id").fetchall() == before
        assert engine.data_version(con) == version
        assert len(engine.load_history(con)) == 1
        assert not engine.table_exists(con, "_undo_2_orders")


def test_cdnow_real_transaction_log(con, cdnow_file):
    """The CDNOW master file (shipped inside the Lifetimes wheel): 69,659 lines, 23,570 customers."""
    report, result = engine.load_file(
        con, cdnow_file, "orders", confirm=True, overrides={"quantity": "number_of_cds"}
    )
    assert report.rows_rejected == 0
    assert result.rows_loaded == 69_659
    customers, lo, hi, total = con.execute(
        "SELECT count(DISTINCT customer_id), min(order_date)::DATE, max(order_date)::DATE, round(sum(amount), 2) "
        "FROM orders"
    ).fetchone()
    assert customers == 23_570
    assert (lo, hi) == (dt.date(1997, 1, 1), dt.date(1998, 6, 30))
    assert total == pytest.approx(2_500_315.63)


def test_spaces_around_numbers_and_blank_cells(con, tmp_path):
    staged = stage(
        con,
        tmp_path,
        "sp.csv",
        "customer_id,order_date,amount,quantity\n C1 ,2024-01-01, 12.50 , 2\nC2,2024-01-02,   ,1\n"
        "C3,2024-01-03,(7.25),\n",
    )
    report = engine.validate(con, staged, engine.suggest_mapping(con, staged, "orders"))
    assert [(i.field, i.problem, [line for line, _ in i.examples]) for i in report.issues] == [
        ("amount", "a missing value", [3])
    ]
    assert report.totals["amount"] == pytest.approx(12.5 - 7.25)


def test_a_large_upload_is_staged_without_a_second_copy_and_the_original_is_kept(con, tmp_path):
    src = write(tmp_path, "orders.csv", orders_csv(50))
    before = src.read_bytes()
    staged = engine.read_upload(con, src)
    staged_path = pathlib.Path(staged.staged_path)
    assert staged_path.parent == engine.staging_dir(con) and staged_path.name != src.name
    if staged_path.stat().st_dev == src.stat().st_dev:  # one file system: a hard link, not a copy
        assert staged_path.stat().st_ino == src.stat().st_ino
    load_ok(con, staged, "orders")
    engine.discard(con, staged)
    assert not staged_path.exists() and src.read_bytes() == before
