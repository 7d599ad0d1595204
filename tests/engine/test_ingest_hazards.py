"""Hostile and unlucky uploads: a huge line, a diluted workbook bomb, debris of abandoned uploads, a full disk,
a header that reads like SQL, mixed encodings; and the suggestion rules (evidence, confidence, guards)."""

from __future__ import annotations

import errno
import gc
import io
import os
import time
import zipfile

import pandas as pd
import pytest

import engine


def _reader():
    from engine.ingest import read

    return read


def write(tmp_path, name: str, content: str | bytes, encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode(encoding))
    return path


def staging_leftovers(con) -> tuple[list[str], list[str]]:
    folder = engine.staging_dir(con)
    return sorted(p.name for p in folder.iterdir()), _reader().staged_relations(con)


# ---------------------------------------------------------------- a huge line


def test_a_huge_line_is_refused_by_number_and_leaves_nothing(con, tmp_path):
    rows = ["order_id,customer_id,order_date,amount"] + [f"O{i},C{i},2024-01-01,1" for i in range(30_000)]
    path = tmp_path / "huge.csv"
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(rows) + "\n")
        fh.write("O-x,C-x,2024-01-01," + "9" * (6 * 1024 * 1024) + "\n")
        fh.write("O-y,C-y,2024-01-02,2\n")
    with pytest.raises(engine.IngestError, match=r"line 30,002 is longer than the limit"):
        engine.read_upload(con, path, "huge.csv")
    assert staging_leftovers(con) == ([], [])


# ---------------------------------------------------------------- workbook bombs


def _workbook(sheet_xml: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>',
        )
        z.writestr(
            "xl/workbook.xml",
            '<workbook xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            '<sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        z.writestr(
            "xl/_rels/workbook.xml.rels",
            '<Relationships><Relationship Id="rId1" Target="worksheets/sheet1.xml"/></Relationships>',
        )
        z.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return out.getvalue()


def test_a_workbook_declaring_too_many_cells_is_refused_before_reading(con, tmp_path, monkeypatch):
    sheet = b'<worksheet><dimension ref="A1:K541910"/><sheetData><row r="1"><c r="A1"/></row></sheetData></worksheet>'
    path = write(tmp_path, "retail.xlsx", _workbook(sheet))

    def never(*args, **kwargs):
        raise AssertionError("the workbook was read")

    monkeypatch.setattr(pd, "read_excel", never)
    with pytest.raises(engine.IngestError, match=r"541,910 rows x 11 columns = 5,961,010 cells"):
        engine.read_upload(con, path, "retail.xlsx")
    assert staging_leftovers(con) == ([], [])


def test_a_diluted_workbook_bomb_is_refused_by_its_uncompressed_size(con, tmp_path, monkeypatch):
    # 110 MB of sheet XML that packs only ~60x (random text mixed in): the ratio check alone lets it pass
    filler = os.urandom(1024 * 1024).hex().encode()[: 1024 * 1024]
    body = (filler + b" " * (58 * 1024 * 1024)) * 2
    path = write(
        tmp_path, "diluted.xlsx", _workbook(b"<worksheet><sheetData>" + body + b"</sheetData></worksheet>")
    )
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        assert sum(i.file_size for i in infos) / sum(i.compress_size for i in infos) < 120
    monkeypatch.setattr(pd, "read_excel", lambda *a, **k: (_ for _ in ()).throw(AssertionError("read")))
    with pytest.raises(engine.IngestError, match=r"expands to 1\d\d MB"):
        engine.read_upload(con, path, "diluted.xlsx")
    assert staging_leftovers(con) == ([], [])


# ---------------------------------------------------------------- debris


@pytest.mark.parametrize(
    ("content", "limits", "message"),
    [
        ("customer_id,city\n", engine.DEFAULT_LIMITS, "no data rows"),
        ("a,b,c\n1,2,3\n", engine.Limits(max_columns=2), "over the limit"),
        ("a,b\n" + "1,2\n" * 50, engine.Limits(max_rows=10), "over the limit"),
    ],
)
def test_a_refused_read_leaves_no_staged_file_or_view(con, tmp_path, content, limits, message):
    path = write(tmp_path, "refused.csv", content)
    with pytest.raises(engine.IngestError, match=message):
        engine.read_upload(con, path, "refused.csv", limits=limits)
    assert staging_leftovers(con) == ([], [])


def test_discard_removes_the_typed_tables_of_a_validated_upload(con, tmp_path):
    path = write(tmp_path, "o.csv", "order_id,customer_id,order_date,amount\nO1,C1,2024-01-01,5\n")
    staged = engine.read_upload(con, path, "o.csv")
    engine.validate(con, staged, engine.suggest_mapping(con, staged, "orders"))
    assert any(r.startswith("_typed_") for r in staging_leftovers(con)[1])
    engine.discard(con, staged)
    assert staging_leftovers(con) == ([], [])


def test_the_start_up_sweep_removes_day_old_debris_and_keeps_live_uploads(con, tmp_path):
    path = write(tmp_path, "o.csv", "order_id,customer_id,order_date,amount\nO1,C1,2024-01-01,5\n")
    live = engine.read_upload(con, path, "o.csv")
    engine.validate(con, live, engine.suggest_mapping(con, live, "orders"))
    # what a killed process left two days ago: a staged file, its view and a typed table
    old = f"{int(time.time()) - 2 * 86400:08x}abcdef"
    folder = engine.staging_dir(con)
    (folder / f"{old}.csv").write_text("a\n1\n")
    con.execute(f'CREATE VIEW "_src_{old}" AS SELECT 1 AS a')
    con.execute(f'CREATE TABLE "_typed_{old}_0123456789ab" AS SELECT 1 AS a')
    # and an old temporary upload file of the Data page (its age is its modification time)
    stray = folder / "tmpabc.upload"
    stray.write_text("x")
    os.utime(stray, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    assert engine.sweep_staging(con) == 4
    files, relations = staging_leftovers(con)
    assert files == [os.path.basename(live.staged_path)]
    assert relations and all(live.token in r for r in relations)
    engine.discard(con, live)


def test_a_closed_session_releases_its_upload(con, tmp_path):
    """The Data page keeps a guard beside the staged upload in the session state; when Streamlit drops the
    session (a closed tab) the state goes, and the guard takes the staging with it."""
    from dashboard.staging import StagingGuard

    path = write(tmp_path, "o.csv", "order_id,customer_id,order_date,amount\nO1,C1,2024-01-01,5\n")
    staged = engine.read_upload(con, path, "o.csv")
    engine.validate(con, staged, engine.suggest_mapping(con, staged, "orders"))
    session_state = {"staged": staged, "staged_guard": StagingGuard(con.cursor(), staged)}
    assert staging_leftovers(con) != ([], [])
    del session_state
    gc.collect()
    assert staging_leftovers(con) == ([], [])


# ---------------------------------------------------------------- a full disk


def test_a_full_disk_while_staging_is_said_and_the_half_copy_removed(con, tmp_path, monkeypatch):
    path = write(
        tmp_path, "o.csv", "order_id,customer_id,order_date,amount\n" + "O1,C1,2024-01-01,5\n" * 5000
    )

    def no_link(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    def half_copy(src, dst, *args, **kwargs):
        with open(dst, "wb") as fh:
            fh.write(b"order_id,customer_id,order_date,amount\nO1,C1")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_reader().os, "link", no_link)
    monkeypatch.setattr(_reader().shutil, "copyfile", half_copy)
    with pytest.raises(engine.IngestError, match=r"The disk is full \([\d,]+ MB free\)"):
        engine.read_upload(con, path, "o.csv")
    assert staging_leftovers(con) == ([], [])


def test_a_full_disk_while_transcoding_is_said_and_the_half_copy_removed(con, tmp_path, monkeypatch):
    path = write(tmp_path, "o.csv", "customer_id;name\n" + "C1;Müller\n" * 5000, encoding="cp1252")

    def half_copy(fin, fout, *args, **kwargs):
        fout.write(fin.read(100))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_reader().shutil, "copyfileobj", half_copy)
    with pytest.raises(engine.IngestError, match=r"The disk is full \([\d,]+ MB free\)"):
        engine.read_upload(con, path, "o.csv")
    assert staging_leftovers(con) == ([], [])


def test_a_full_disk_during_validation_says_so_instead_of_blaming_the_delimiter(con, tmp_path, monkeypatch):
    import duckdb

    path = write(tmp_path, "o.csv", "order_id,customer_id,order_date,amount\n" + "O1,C1,2024-01-01,5\n" * 500)
    staged = engine.read_upload(con, path, "o.csv")
    mapping = engine.suggest_mapping(con, staged, "orders")

    def store_full(*args, **kwargs):  # the store's file cannot grow: what DuckDB raises then
        raise duckdb.IOException('Could not write file "store.duckdb": No space left on device')

    monkeypatch.setattr(engine.store, "row_count", store_full)
    with pytest.raises(engine.IngestError, match=r"The disk is full \([\d,]+ MB free\)"):
        engine.validate(con, staged, mapping)
    monkeypatch.undo()
    assert not [r for r in staging_leftovers(con)[1] if r.startswith("_typed_")]
    engine.discard(con, staged)


# ---------------------------------------------------------------- encodings


def test_latin1_after_64kb_is_detected_from_the_whole_file(con, tmp_path):
    lines = ["product_id|name"] + [f"{i}|Movie {i}" for i in range(8_000)] + ["8000|Misérables, Les (1995)"]
    path = write(tmp_path, "items.txt", "\n".join(lines) + "\n", encoding="latin-1")
    assert path.stat().st_size > 100_000
    staged = engine.read_upload(con, path, "items.txt")
    assert staged.detected["encoding"] == "Windows-1252"
    mapping = engine.suggest_mapping(con, staged, "products")
    engine.load(con, staged, mapping, confirm=True)
    assert con.execute("SELECT name FROM products WHERE product_id = '8000'").fetchone()[0] == (
        "Misérables, Les (1995)"
    )


def test_a_file_mixing_utf8_and_latin1_names_the_line_and_the_byte(con, tmp_path):
    text = "customer_id,city\n" + "".join(f"C{i},Köln\n" for i in range(200))
    raw = text.encode("utf-8") + "C999,Münster\n".encode("latin-1")
    path = write(tmp_path, "mixed.csv", raw)
    with pytest.raises(engine.IngestError, match=r"line 202 .* byte 0xFC \('ü' in Windows-1252\)"):
        engine.read_upload(con, path, "mixed.csv")
    assert staging_leftovers(con) == ([], [])


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_utf16_and_bom_files_still_read(con, tmp_path, encoding):
    path = write(tmp_path, "c.csv", "customer_id,city\nC1,Zürich\n", encoding=encoding)
    staged = engine.read_upload(con, path, "c.csv")
    engine.load(con, staged, engine.suggest_mapping(con, staged, "customers"), confirm=True)
    assert con.execute("SELECT city FROM customers").fetchone()[0] == "Zürich"


# ---------------------------------------------------------------- suggestions


def test_a_sql_looking_header_is_never_a_strong_suggestion(con, tmp_path):
    header = '"""; DROP TABLE orders; --",customer_id,order_date,amount\n'
    path = write(tmp_path, "sql.csv", header + "".join(f"X{i},C{i},2024-01-01,5\n" for i in range(50)))
    staged = engine.read_upload(con, path, "sql.csv")
    mapping = engine.suggest_mapping(con, staged, "orders")
    assert "order_id" not in mapping.columns
    hint = mapping.suggestions.get("order_id")
    assert hint is None or (
        hint["score"] < engine.PRESELECT_SCORE and "does not read like a column name" in hint["evidence"][0]
    )
    engine.load(con, staged, mapping, confirm=True)
    assert engine.row_count(con, "orders") == 50


def test_every_suggestion_carries_evidence_and_one_rule_decides(con, tmp_path):
    text = "Cust ID,Invoice Date,Total (EUR),visit,recency\n" + "".join(
        f"K{i % 40},2024-03-{i % 28 + 1:02d},{i}.50,{i % 2},{i % 12 + 1}\n" for i in range(400)
    )
    staged = engine.read_upload(con, write(tmp_path, "shop.csv", text), "shop.csv")
    mapping = engine.suggest_mapping(con, staged, "orders")
    for fname, suggestion in mapping.suggestions.items():
        assert suggestion["evidence"], fname
        assert (fname in mapping.columns) == (suggestion["score"] >= engine.PRESELECT_SCORE)
    assert mapping.columns == {
        "customer_id": "Cust ID",
        "order_date": "Invoice Date",
        "amount": "Total (EUR)",
    }
    assert "usual name" in mapping.suggestions["customer_id"]["evidence"][0]
    assert "contains 'total'" in mapping.suggestions["amount"]["evidence"][0]


def test_counts_never_take_flags_and_ids_never_take_a_few_small_numbers(con, tmp_path):
    text = "recency,segment,visit,conversion\n" + "".join(
        f"{i % 12 + 1},{['Mens', 'Womens', 'None'][i % 3]},{i % 2},{int(i % 7 == 0)}\n" for i in range(6000)
    )
    staged = engine.read_upload(con, write(tmp_path, "email.csv", text), "email.csv")
    mapping = engine.suggest_mapping(con, staged, "experiments")
    assert "customer_id" not in mapping.suggestions
    assert "exposures" not in mapping.suggestions and "conversions" not in mapping.suggestions
    assert mapping.columns["converted"] == "conversion"


def test_ids_are_never_names_categories_or_dimensions(con, tmp_path):
    text = (
        "ad_id,xyz_campaign_id,fb_campaign_id,age,Impressions,Spent,Total_Conversion,Approved_Conversion\n"
        + (
            "".join(
                f"{700000 + i},{[916, 936][i % 2]},{103916 + i // 2},30-34,{1000 + i},{i}.5,{i % 5},{i % 2}\n"
                for i in range(300)
            )
        )
    )
    staged = engine.read_upload(con, write(tmp_path, "ads.csv", text), "ads.csv")
    mapping = engine.suggest_mapping(con, staged, "campaigns")
    assert mapping.columns["campaign_id"] == "xyz_campaign_id"
    assert "campaign_name" not in mapping.columns and "channel" not in mapping.columns
    engine.load(con, staged, mapping, confirm=True)
    assert engine.campaign_dimensions(con) == ["age"]


# ---------------------------------------------------------------- guest orders


def test_guest_orders_load_count_in_revenue_and_stay_out_of_customer_analyses(con, tmp_path):
    lines = ["InvoiceNo,CustomerID,InvoiceDate,Amount"]
    lines += [
        f"5{i:05d},{'' if i % 4 == 0 else 12000 + i % 30},2024-0{i % 9 + 1}-15,{i % 50 + 1}.25"
        for i in range(800)
    ]
    path = write(tmp_path, "guests.csv", "\n".join(lines) + "\n")
    report, result = engine.load_file(con, path, "orders", confirm=True)
    expected = pd.read_csv(path, dtype={"CustomerID": str})
    guests = expected["CustomerID"].isna()
    assert result is not None and result.rows_loaded == 800 and report.rows_rejected == 0
    stored = con.execute(
        "SELECT count(*) FILTER (WHERE customer_id IS NULL), sum(amount) FROM orders"
    ).fetchone()
    assert stored == (guests.sum(), pytest.approx(expected["Amount"].sum()))
    scores = engine.rfm_scores(con)
    assert scores["customer_id"].notna().all()
    assert len(scores) == expected.loc[~guests, "CustomerID"].nunique()
    cohorts = engine.cohort_retention(con)
    first_months = cohorts[cohorts["months_since"] == 0]
    assert first_months["customers"].sum() == expected.loc[~guests, "CustomerID"].nunique()


# ---------------------------------------------------------------- physical line numbers


def _crm_export(bad_at: set[int], blank_line: bool = False) -> tuple[str, list[int]]:
    """A CRM-style export whose address field holds line breaks in some rows; the rows in ``bad_at`` carry an
    unreadable signup date. Returns the text and, by counting the line breaks written before each bad
    record, the physical lines on which those records start."""
    text = "customer_id,signup_date,address\n"
    starts = []
    for i in range(40):
        address = (
            '"12 High St\nFlat 3\nLeeds"' if i % 3 == 0 else ('"1 Main Rd\nYork"' if i % 5 == 0 else "Bath")
        )
        date = "not a date" if i in bad_at else f"2024-01-{i % 28 + 1:02d}"
        if i in bad_at:
            starts.append(text.count("\n") + 1)
        text += f"C{i},{date},{address}\n"
        if blank_line and i == 2:
            text += "\n"
    return text, starts


def test_messages_name_the_physical_line_when_fields_hold_line_breaks(con, tmp_path):
    text, starts = _crm_export({4, 17, 31})
    staged = engine.read_upload(con, write(tmp_path, "crm.csv", text), "crm.csv")
    mapping = engine.suggest_mapping(con, staged, "customers")
    mapping.columns["signup_date"] = "signup_date"
    report = engine.validate(con, staged, mapping)
    (issue,) = [i for i in report.issues if i.field == "signup_date"]
    assert [line for line, _ in issue.examples] == starts
    # the lines named hold the bad value on the file as a user opens it in an editor
    lines = text.split("\n")
    assert all(lines[n - 1].startswith(f"C{i},not a date") for n, i in zip(starts, (4, 17, 31), strict=True))
    engine.discard(con, staged)


def test_when_lines_cannot_be_told_apart_messages_give_the_data_row(con, tmp_path):
    text, _ = _crm_export({17}, blank_line=True)
    staged = engine.read_upload(con, write(tmp_path, "crm.csv", text), "crm.csv")
    mapping = engine.suggest_mapping(con, staged, "customers")
    mapping.columns["signup_date"] = "signup_date"
    report = engine.validate(con, staged, mapping)
    (issue,) = [i for i in report.issues if i.field == "signup_date"]
    shown = issue.describe()
    # the 18th record (C17) is data row 18, said as such rather than as a wrong line number
    assert [line for line, _ in issue.examples] == ["data row 18"] and "data row 18: 'not a date'" in shown
    engine.discard(con, staged)
