"""Audience files the ad platforms and CRMs accept, written offline (no API calls): Meta Custom Audiences
and Google Customer Match customer lists, with each identifier normalised as the platform documents and
then SHA-256 hashed, and a plain CRM/ESP list.

The rules, as the platforms document them (checked 2026-12):

- **Meta** (Marketing API, "Customer File Custom Audiences", hashing and normalisation table). Every key
  is hashed. ``email``: trim, lower-case. ``phone``: digits only (symbols, letters and leading zeros
  removed) with the country code. ``fn``/``ln``: lower-case letters only, no punctuation (accented
  letters kept, UTF-8). ``ct``: lower-case letters only, no spaces or punctuation. ``st``: the 2-letter
  code for US states, lower-case; elsewhere lower-case letters only. ``zip``: lower-case, no spaces or
  dashes; the first 5 digits in the US. ``country``: ISO 3166-1 alpha-2, lower-case. ``gen``: ``m``/``f``.
- **Google** (Google Ads help "Format your customer data file" and "Formatting guidelines for uploading
  hashed data"). Headers ``Email, Phone, First Name, Last Name, Country, Zip`` in English. Email and names
  lower-cased with every space removed, then hashed; phone in E.164 (``+`` and country code) then
  hashed; Country (ISO 2-letter) and Zip are not hashed. Address matching needs First Name, Last Name,
  Country and Zip together. (The rule that removes dots before ``@gmail.com`` is documented for enhanced
  conversions, not for Customer Match, so it is not applied.)

A row with no identifier the platform can match on is counted and left out. Phone numbers are parsed with
``phonenumbers`` (Google's libphonenumber rules); a number without ``+`` gets the calling code of the
customer's country when one is known, and is dropped otherwise. Country names become codes with
``pycountry``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from engine.export import safe_frame
from engine.schema import normalize_header

AUDIENCE_FORMATS = ("meta", "google", "crm")

# Customer columns that hold an identifier, recognised by their header (compared after normalize_header).
IDENTIFIER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "emailaddress", "mail", "emailid", "customeremail", "contactemail", "useremail"),
    "phone": (
        "phone",
        "phonenumber",
        "mobile",
        "mobilephone",
        "mobilenumber",
        "telephone",
        "tel",
        "cell",
        "cellphone",
        "msisdn",
    ),
    "first_name": ("firstname", "givenname", "fname", "forename"),
    "last_name": ("lastname", "surname", "familyname", "lname"),
    "country": ("country", "countrycode", "countryname", "billingcountry", "shippingcountry"),
    "zip": ("zip", "zipcode", "postcode", "postalcode", "postal", "billingzip", "shippingzip"),
    "city": ("city", "town", "billingcity", "shippingcity"),
    "state": ("state", "province", "stateprovince", "billingstate", "shippingstate"),
    "gender": ("gender", "sex"),
}

# Spellings found in real exports that are not ISO names (the Online Retail log writes EIRE and RSA).
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "gb",
    "england": "gb",
    "scotland": "gb",
    "wales": "gb",
    "northern ireland": "gb",
    "great britain": "gb",
    "britain": "gb",
    "eire": "ie",
    "rsa": "za",
    "usa": "us",
    "america": "us",
    "united states of america": "us",
    "holland": "nl",
    "the netherlands": "nl",
    "south korea": "kr",
    "korea": "kr",
    "russia": "ru",
    "czech republic": "cz",
    "vietnam": "vn",
    "iran": "ir",
    "taiwan": "tw",
    "turkey": "tr",
}

EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
E164_PATTERN = re.compile(r"^\+[1-9]\d{6,14}$")


def sha256_hex(text: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 text (the digest every platform asks for)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def normalise_email(value: Any) -> str | None:
    """Trimmed, lower-cased address with inner spaces removed; None when it is not an address."""
    text = _text(value)
    if text is None:
        return None
    text = re.sub(r"\s+", "", text).lower()
    return text if EMAIL_PATTERN.match(text) else None


def normalise_country(value: Any) -> str | None:
    """ISO 3166-1 alpha-2, lower-case (``"United Kingdom"`` -> ``"gb"``); None when not recognised."""
    import pycountry

    text = _text(value)
    if text is None:
        return None
    key = " ".join(text.lower().replace(".", "").split())
    if key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[key]
    found = None
    if len(key) == 2:
        found = pycountry.countries.get(alpha_2=key.upper())
    elif len(key) == 3:
        found = pycountry.countries.get(alpha_3=key.upper())
    if found is None:
        try:
            found = pycountry.countries.lookup(text)
        except LookupError:
            return None
    return found.alpha_2.lower()


def normalise_phone(value: Any, country: str | None = None) -> str | None:
    """E.164 (``+442071838750``), or None when the number is not a possible phone number.

    A number written without ``+`` (or ``00``) is read as a national number of ``country`` (ISO
    alpha-2); with no country it cannot be placed and gives None.
    """
    import phonenumbers

    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    if text.startswith("00"):
        text = "+" + text[2:]
    region = country.upper() if country and not text.startswith("+") else None
    if not text.startswith("+") and region is None:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    formatted = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return formatted if E164_PATTERN.match(formatted) else None


def _letters(text: str) -> str:
    """Lower-case letters (and their accents) only: no spaces, punctuation, digits or symbols."""
    return "".join(ch for ch in text.lower() if unicodedata.category(ch)[0] in ("L", "M"))


def normalise_name_meta(value: Any) -> str | None:
    """Meta ``fn``/``ln``/``ct``: lower-case letters only, accents kept (``"O'Brien-Smith"`` ->
    ``"obriensmith"``)."""
    text = _text(value)
    return (_letters(text) or None) if text else None


def normalise_name_google(value: Any) -> str | None:
    """Google First/Last Name: lower-case with every space removed (``" Mary Ann "`` -> ``"maryann"``)."""
    text = _text(value)
    return (re.sub(r"\s+", "", text).lower() or None) if text else None


def normalise_zip(value: Any, country: str | None = None, *, meta: bool = True) -> str | None:
    """Postal code: the first 5 digits in the US; elsewhere Meta's lower-case without spaces or dashes
    (``meta=True``) or the code as written, trimmed (Google)."""
    text = _text(value)
    if text is None:
        return None
    if country == "us":
        digits = re.sub(r"\D", "", text)
        return digits[:5] if len(digits) >= 5 else None
    if meta:
        return re.sub(r"[\s-]+", "", text).lower() or None
    return " ".join(text.split())


def normalise_state(value: Any, country: str | None = None) -> str | None:
    """Meta ``st``: a US state as its 2-letter code, lower-case; elsewhere lower-case letters only."""
    import pycountry

    text = _text(value)
    if text is None:
        return None
    if country == "us" and len(text) > 2:
        for subdivision in pycountry.subdivisions.get(country_code="US") or []:
            if subdivision.name.lower() == text.lower():
                return subdivision.code.split("-")[1].lower()
    return _letters(text) or None


def normalise_gender(value: Any) -> str | None:
    """Meta ``gen``: ``m`` or ``f``; anything else None."""
    text = _text(value)
    if text is None:
        return None
    key = text.lower()
    if key in ("m", "male", "man", "mr"):
        return "m"
    if key in ("f", "female", "woman", "mrs", "ms", "miss"):
        return "f"
    return None


def identifier_columns(columns: Sequence[str]) -> dict[str, str]:
    """Which customer columns hold which identifier (``{"email": "E-mail Address", ...}``); the first
    column matching each identifier's header spellings wins."""
    found: dict[str, str] = {}
    for role, aliases in IDENTIFIER_ALIASES.items():
        for column in columns:
            if normalize_header(str(column)) in aliases:
                found[role] = str(column)
                break
    return found


@dataclass(frozen=True)
class AudienceFile:
    """An audience file ready to write, and how it was made.

    Attributes
    ----------
    format : ``meta``, ``google`` or ``crm``.
    frame : the rows to write (hashed identifiers for the ad platforms).
    members : members of the segment.
    without_identifier : members left out (ad platforms) or lacking an e-mail (CRM, kept) .
    identifiers : identifier -> the customer column it came from.
    notes : plain sentences for the page and the command line.
    """

    format: str
    frame: pd.DataFrame
    members: int
    without_identifier: int
    identifiers: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.frame)

    def to_csv_bytes(self) -> bytes:
        """UTF-8 CSV. Platform files carry no byte-order mark (Google reads headers literally) and hold
        only hex digests, codes and digits; the CRM list is neutralised against spreadsheet formulas,
        except E.164 phone numbers, which are inert (a plus sign followed by digits only)."""
        if self.format in ("meta", "google"):
            return self.frame.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
        out = safe_frame(self.frame)
        if "phone" in self.frame.columns:
            out["phone"] = self.frame["phone"]
        return ("\ufeff" + out.to_csv(index=False, lineterminator="\r\n")).encode("utf-8")


def _column(members: pd.DataFrame, found: Mapping[str, str], role: str) -> list[Any]:
    column = found.get(role)
    return list(members[column]) if column else [None] * len(members)


def _normalised(members: pd.DataFrame, found: Mapping[str, str]) -> dict[str, list[Any]]:
    """Every identifier of every member, normalised once (the platform-specific parts come later)."""
    countries = [normalise_country(v) for v in _column(members, found, "country")]
    return {
        "country": countries,
        "email": [normalise_email(v) for v in _column(members, found, "email")],
        "phone": [
            normalise_phone(v, c) for v, c in zip(_column(members, found, "phone"), countries, strict=True)
        ],
        "first_raw": _column(members, found, "first_name"),
        "last_raw": _column(members, found, "last_name"),
        "zip_raw": _column(members, found, "zip"),
        "city": [normalise_name_meta(v) for v in _column(members, found, "city")],
        "state": [
            normalise_state(v, c) for v, c in zip(_column(members, found, "state"), countries, strict=True)
        ],
        "gender": [normalise_gender(v) for v in _column(members, found, "gender")],
    }


def _hashed(values: list[str | None]) -> list[str | None]:
    return [sha256_hex(v) if v else None for v in values]


def _meta(members: pd.DataFrame, found: Mapping[str, str]) -> tuple[pd.DataFrame, pd.Series]:
    n = _normalised(members, found)
    first = [normalise_name_meta(v) for v in n["first_raw"]]
    last = [normalise_name_meta(v) for v in n["last_raw"]]
    zips = [normalise_zip(v, c, meta=True) for v, c in zip(n["zip_raw"], n["country"], strict=True)]
    plain = {
        "email": n["email"],
        "phone": [p[1:] if p else None for p in n["phone"]],  # Meta: digits only, country code first
        "fn": first,
        "ln": last,
        "zip": zips,
        "ct": n["city"],
        "st": n["state"],
        "country": n["country"],
        "gen": n["gender"],
    }
    frame = pd.DataFrame({key: _hashed(values) for key, values in plain.items()})
    located = frame[["zip", "ct"]].notna().any(axis=1)  # a name with only a country is too broad to match
    usable = (
        frame["email"].notna()
        | frame["phone"].notna()
        | (frame["fn"].notna() & frame["ln"].notna() & located)
    )
    return frame, usable


def _google(members: pd.DataFrame, found: Mapping[str, str]) -> tuple[pd.DataFrame, pd.Series]:
    n = _normalised(members, found)
    first = [normalise_name_google(v) for v in n["first_raw"]]
    last = [normalise_name_google(v) for v in n["last_raw"]]
    zips = [normalise_zip(v, c, meta=False) for v, c in zip(n["zip_raw"], n["country"], strict=True)]
    frame = pd.DataFrame(
        {
            "Email": _hashed(n["email"]),
            "Phone": _hashed(n["phone"]),
            "First Name": _hashed(first),
            "Last Name": _hashed(last),
            "Country": n["country"],  # not hashed: ISO 2-letter code
            "Zip": zips,  # not hashed
        }
    )
    address = frame[["First Name", "Last Name", "Country", "Zip"]].notna().all(axis=1)
    usable = frame["Email"].notna() | frame["Phone"].notna() | address
    return frame, usable


# The member columns a CRM list leads with, then every other uploaded attribute.
CRM_LEADING = ("customer_id", "segment", "recency_days", "frequency", "monetary", "last_order")
SCORE_COLUMNS = ("clv", "predicted_clv", "churn_risk", "churn_probability")


def _crm(members: pd.DataFrame, found: Mapping[str, str], segment_name: str | None) -> pd.DataFrame:
    n = _normalised(members, found)
    first_col, last_col = found.get("first_name"), found.get("last_name")
    out = pd.DataFrame(
        {
            "email": n["email"],
            "first_name": [(_text(v) or None) for v in _column(members, found, "first_name")],
            "last_name": [(_text(v) or None) for v in _column(members, found, "last_name")],
            "phone": n["phone"],
        }
    )
    if segment_name:
        out["segment"] = segment_name
    elif "segment" in members.columns:
        out["segment"] = members["segment"].to_numpy()
    if segment_name and "segment" in members.columns:
        out["rfm_segment"] = members["segment"].to_numpy()
    for column in SCORE_COLUMNS:
        if column in members.columns:
            out[column] = members[column].to_numpy()
    used = {found.get("email"), found.get("phone"), first_col, last_col, "segment", *SCORE_COLUMNS}
    for column in CRM_LEADING:
        if column in members.columns and column not in used:
            out[column] = members[column].to_numpy()
            used.add(column)
    rfm_rest = ("r_score", "f_score", "m_score", "fm_score", "tenure_days", "aov", "first_order")
    for column in members.columns:
        if column not in used and column not in out.columns and column not in rfm_rest:
            out[column] = members[column].to_numpy()
    if not out["phone"].notna().any():
        out = out.drop(columns="phone")
    return out


def audience_file(members: pd.DataFrame, fmt: str, segment_name: str | None = None) -> AudienceFile:
    """The audience file of ``members`` (rows of ``audience_members``) in format ``fmt``.

    Parameters
    ----------
    members : one row per customer with the uploaded customer columns (identifiers are found by header).
    fmt : ``meta`` (Meta Custom Audiences customer list), ``google`` (Google Customer Match) or ``crm``
        (plain list for a CRM or e-mail tool: email, first name, segment, CLV when predicted, every
        uploaded attribute).
    segment_name : written in the CRM list's ``segment`` column (default: each member's RFM segment).
    """
    if fmt not in AUDIENCE_FORMATS:
        from engine.errors import SchemaError

        raise SchemaError(f"Audience format {fmt!r} is not one of {', '.join(AUDIENCE_FORMATS)}.")
    found = identifier_columns(list(members.columns))
    total = len(members)
    if fmt == "crm":
        frame = _crm(members, found, segment_name)
        missing = int(frame["email"].isna().sum())
        notes = []
        if "email" not in found:
            notes.append(
                "No e-mail column was found among the customer columns, so the e-mail column is empty."
            )
        elif missing:
            notes.append(
                f"{missing:,} of {total:,} customers have no usable e-mail address (kept in the list)."
            )
        return AudienceFile(fmt, frame.reset_index(drop=True), total, missing, found, tuple(notes))
    frame, usable = (_meta if fmt == "meta" else _google)(members, found)
    kept = frame[usable.to_numpy()].reset_index(drop=True)
    kept = kept.loc[:, kept.notna().any(axis=0)] if len(kept) else kept.iloc[:, :0]
    left_out = int((~usable).sum())
    platform = "Meta" if fmt == "meta" else "Google"
    notes = []
    if not found.keys() & {"email", "phone", "first_name"}:
        notes.append(
            f"No e-mail, phone or name column was found among the customer columns, so {platform} has nothing "
            "to match on. Upload customers with an e-mail or phone column (any of: email, e-mail address, "
            "phone, mobile ...)."
        )
    if left_out:
        notes.append(
            f"{left_out:,} of {total:,} customers have no identifier {platform} can match on and are left out."
        )
    return AudienceFile(fmt, kept, total, left_out, found, tuple(notes))


__all__ = [
    "AUDIENCE_FORMATS",
    "IDENTIFIER_ALIASES",
    "COUNTRY_ALIASES",
    "AudienceFile",
    "sha256_hex",
    "normalise_email",
    "normalise_country",
    "normalise_phone",
    "normalise_name_meta",
    "normalise_name_google",
    "normalise_zip",
    "normalise_state",
    "normalise_gender",
    "identifier_columns",
    "audience_file",
]
