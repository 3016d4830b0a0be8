"""Tax ids as Polar validates them (server/polar/tax/tax_id.py ``validate_tax_id``).

Polar tries, in order, the formats its ``COUNTRY_TAX_ID_MAP`` lists for the billing
country and keeps the first that validates (``python-stdnum`` plus a few validators of its
own); a country without formats, or a number no format accepts, is "Invalid tax ID.". The
emulator needs no third-party package, so it ports:

- the checksums of the formats most buyers use: ``eu_vat`` for DE, FR, IT, PL and SE,
  ``gb_vat``, ``us_ein``, ``au_abn``;
- Polar's own validators verbatim: ``ae_trn``, ``ge_vat``, ``hk_br``, ``mu_tan``;
- the structure of every other EU VAT number (stdnum ``eu.vat``: the number carries its
  country prefix, ``EL`` for Greece);
- for the remaining countries of the map, a structural check only (5 to 20 letters and
  digits, at least one digit): looser than stdnum, documented in docs/emulator.md.

The result is Polar's ``TaxID``: the compacted number and its format.
"""

from __future__ import annotations

import re

__all__ = ["COUNTRY_TAX_ID_MAP", "InvalidTaxID", "validate_tax_id"]

_EU = ("eu_vat",)
COUNTRY_TAX_ID_MAP: dict[str, tuple[str, ...]] = {
    "AD": ("ad_nrt",),
    "AE": ("ae_trn",),
    "AR": ("ar_cuit",),
    "AT": _EU,
    "AU": ("au_abn", "au_arn"),
    "BE": _EU,
    "BG": _EU,
    "BH": ("bh_vat",),
    "BO": ("bo_tin",),
    "BR": ("br_cnpj", "br_cpf"),
    "CA": ("ca_gst_hst", "ca_pst_bc", "ca_pst_mb", "ca_pst_sk", "ca_qst", "ca_bn"),
    "CH": ("ch_uid", "ch_vat"),
    "CL": ("cl_tin",),
    "CN": ("cn_tin",),
    "CO": ("co_nit",),
    "CR": ("cr_tin",),
    "CY": _EU,
    "CZ": _EU,
    "DE": _EU,
    "DK": _EU,
    "DO": ("do_rcn",),
    "EC": ("ec_ruc",),
    "EE": _EU,
    "EG": ("eg_tin",),
    "ES": _EU,
    "FI": _EU,
    "FR": _EU,
    "GB": ("gb_vat",),
    "GE": ("ge_vat",),
    "GR": _EU,
    "HK": ("hk_br",),
    "HR": _EU,
    "HU": _EU,
    "ID": ("id_npwp",),
    "IE": _EU,
    "IL": ("il_vat",),
    "IN": ("in_gst",),
    "IS": ("is_vat",),
    "IT": _EU,
    "JP": ("jp_cn", "jp_rn", "jp_trn"),
    "KE": ("ke_pin",),
    "KR": ("kr_brn",),
    "KZ": ("kz_bin",),
    "LI": ("li_uid",),
    "LT": _EU,
    "LU": _EU,
    "LV": _EU,
    "MT": _EU,
    "MK": ("mk_vat",),
    "MU": ("mu_tan",),
    "MX": ("mx_rfc",),
    "MY": ("my_frp", "my_itn", "my_sst"),
    "NG": ("ng_tin",),
    "NL": _EU,
    "NO": ("no_vat", "no_voec"),
    "NZ": ("nz_gst",),
    "OM": ("om_vat",),
    "PE": ("pe_ruc",),
    "PH": ("ph_tin",),
    "PL": _EU,
    "PT": _EU,
    "RO": _EU,
    "RS": ("rs_pib",),
    "RU": ("ru_inn", "ru_kpp"),
    "SA": ("sa_vat",),
    "SE": _EU,
    "SG": ("sg_gst", "sg_uen"),
    "SI": _EU,
    "SK": _EU,
    "SV": ("sv_nit",),
    "TH": ("th_vat",),
    "TR": ("tr_tin",),
    "TW": ("tw_vat",),
    "UA": ("ua_vat",),
    "US": ("us_ein",),
    "UY": ("uy_ruc",),
    "VE": ("ve_rif",),
    "VN": ("vn_tin",),
    "ZA": ("za_vat",),
}

# stdnum's per-country EU VAT structure (after the prefix), from each module's validate.
_EU_STRUCTURE: dict[str, str] = {
    "AT": r"U\d{8}",
    "BE": r"[01]\d{9}",
    "BG": r"\d{9,10}",
    "CY": r"\d{8}[A-Z]",
    "CZ": r"\d{8,10}",
    "DE": r"[1-9]\d{8}",
    "DK": r"\d{8}",
    "EE": r"\d{9}",
    "EL": r"\d{9}",
    "ES": r"[A-Z0-9]\d{7}[A-Z0-9]",
    "FI": r"\d{8}",
    "FR": r"[0-9A-HJ-NP-Z]{2}\d{9}",
    "HR": r"\d{11}",
    "HU": r"\d{8}",
    "IE": r"\d{7}[A-W][A-IW]?|\d[A-Z+*]\d{5}[A-W]",
    "IT": r"\d{11}",
    "LT": r"\d{9}|\d{12}",
    "LU": r"\d{8}",
    "LV": r"\d{11}",
    "MT": r"\d{8}",
    "NL": r"\d{9}B\d{2}",
    "PL": r"\d{10}",
    "PT": r"\d{9}",
    "RO": r"\d{2,10}",
    "SE": r"\d{10}01",
    "SI": r"[1-9]\d{7}",
    "SK": r"[1-9]\d{9}",
}
# stdnum us/ein.dat: the IRS campus prefixes never assigned.
_EIN_UNASSIGNED = frozenset(
    {"00", "07", "08", "09", "17", "18", "19", "28", "29", "49", "69", "70", "78", "79", "89"}
    | {"96", "97"}
)


class InvalidTaxID(Exception):
    """tax/tax_id.py ``InvalidTaxID``: no format of the country accepts the number."""


def _compact(number: str, strip: str = " -./,") -> str:
    return "".join(c for c in number if c not in strip).strip().upper()


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _eu_vat(number: str) -> str:
    number = _compact(number)
    prefix, rest = number[:2], number[2:]
    pattern = _EU_STRUCTURE.get(prefix)
    if pattern is None or not re.fullmatch(pattern, rest):
        raise InvalidTaxID
    if prefix == "DE":  # stdnum de.vat: ISO 7064 Mod 11, 10
        check = 5
        for c in rest:
            check = (((check or 10) * 2) % 11 + int(c)) % 10
        if check != 1:
            raise InvalidTaxID
    elif prefix == "FR":  # stdnum fr.tva: a Luhn-valid SIREN and its numeric key
        siren = rest[2:]
        if siren[:3] != "000" and not _luhn(siren):
            raise InvalidTaxID
        if rest[:2].isdigit() and int(rest[:2]) != int(siren + "12") % 97:
            raise InvalidTaxID
    elif prefix == "IT":  # stdnum it.iva: Luhn over the 11 digits
        if rest[:7] == "0000000" or not _luhn(rest):
            raise InvalidTaxID
    elif prefix == "PL":  # stdnum pl.nip
        weights = (6, 5, 7, 2, 3, 4, 5, 6, 7, -1)
        if sum(w * int(c) for w, c in zip(weights, rest, strict=True)) % 11 != 0:
            raise InvalidTaxID
    elif prefix == "SE" and not _luhn(rest[:10]):  # stdnum se.vat: orgnr Luhn + "01"
        raise InvalidTaxID
    return number


def _gb_vat(number: str) -> str:
    number = _compact(number)
    if number.startswith("GB"):
        number = number[2:]
    if len(number) == 12:
        number = number[:9] if number[9:] else number  # a branch suffix
    if not re.fullmatch(r"\d{9}", number):
        raise InvalidTaxID
    weights = (8, 7, 6, 5, 4, 3, 2, 10, 1)
    # stdnum gb.vat checksum: 0 (mod 97) or 55 (the 9755 scheme).
    if sum(w * int(c) for w, c in zip(weights, number, strict=True)) % 97 not in (0, 55):
        raise InvalidTaxID
    return number


def _us_ein(number: str) -> str:
    number = _compact(number, " -")
    if not re.fullmatch(r"\d{9}", number) or number[:2] in _EIN_UNASSIGNED:
        raise InvalidTaxID
    return number


def _au_abn(number: str) -> str:
    number = _compact(number)
    if not re.fullmatch(r"\d{11}", number):
        raise InvalidTaxID
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    digits = [int(c) for c in number]
    digits[0] -= 1
    if sum(w * d for w, d in zip(weights, digits, strict=True)) % 89 != 0:
        raise InvalidTaxID
    return number


def _ae_trn(number: str) -> str:  # tax_id.py AETRNValidator
    number = number.replace(" ", "").replace("-", "").replace(".", "").strip()
    if len(number) != 15 or not number.isdigit():
        raise InvalidTaxID
    return number


def _ge_vat(number: str) -> str:  # tax_id.py GEVATValidator
    number = number.replace(" ", "").replace("-", "").replace(".", "").strip()
    if number.upper().startswith("GE"):
        number = number[2:]
    if len(number) not in (9, 11) or not number.isdigit():
        raise InvalidTaxID
    return number


def _hk_br(number: str) -> str:  # tax_id.py HKBRValidator
    number = re.sub(r"[\s.()-]", "", number)
    if len(number) != 8 or not number.isdigit():
        raise InvalidTaxID
    return number


def _mu_tan(number: str) -> str:  # tax_id.py MUTANValidator
    number = number.replace(" ", "").replace("-", "").replace(".", "").strip()
    if len(number) != 8 or not number.isdigit() or number[0] not in ("2", "3"):
        raise InvalidTaxID
    return number


def _structural(number: str) -> str:
    number = _compact(number)
    if not re.fullmatch(r"[A-Z0-9]{5,20}", number) or not any(c.isdigit() for c in number):
        raise InvalidTaxID
    return number


_VALIDATORS = {
    "eu_vat": _eu_vat,
    "gb_vat": _gb_vat,
    "us_ein": _us_ein,
    "au_abn": _au_abn,
    "ae_trn": _ae_trn,
    "ge_vat": _ge_vat,
    "hk_br": _hk_br,
    "mu_tan": _mu_tan,
}


def validate_tax_id(number: str, country: str) -> tuple[str, str]:
    """``(compacted number, format)`` for the first of the country's formats that accepts
    ``number``; ``InvalidTaxID`` otherwise (also for a country without tax ids)."""
    formats = COUNTRY_TAX_ID_MAP.get(country)
    if not formats:
        raise InvalidTaxID
    ported = [f for f in formats if f in _VALIDATORS]
    for tax_format in ported:
        try:
            return _VALIDATORS[tax_format](number), tax_format
        except InvalidTaxID:
            continue
    if ported:
        raise InvalidTaxID
    return _structural(number), formats[0]
