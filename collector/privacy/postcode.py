"""Postcode coarsening: keep only the outward code (or its equivalent area), never the full code.

``coarse_area(value, country)`` returns the area, uppercase without spaces, or ``None`` for any
input it cannot vouch for. It never guesses: no free-text extraction, no O/0 or I/1 correction.

Normalisation (all countries): Unicode NFKC (so full-width digits become ASCII), uppercase,
surrounding whitespace dropped; a separator (a run of whitespace or ASCII hyphens) is accepted
only where the country's format places one (GB: before the inward code; US: after the 5-digit
ZIP; CA, IE: after the first 3 characters; NL: after the 4 digits), so ``1234-56789`` is not a
ZIP; anything left that is not ASCII A-Z / 0-9 -> None.

Rules and their sources
-----------------------
GB, and the Crown dependencies GG / JE / IM (Royal Mail PAF "Programmers' Guide", the UK
Government Data Standards Catalogue "Postcode" standard, and Wikipedia "Postcodes in the
United Kingdom" §Formatting, which summarise them):

* The inward code is always the last 3 characters: a digit and two letters, the letters never
  C I K M O V. So the split is made from the right: ``W1A0AX`` -> ``W1A``.
* Outward code formats: A9, A99, AA9, AA99, A9A, AA9A, where letter positions obey: 1st never
  Q V X; 2nd never I J Z; 3rd (A9A) only A B C D E F G H J K P S T U W; 4th (AA9A) only
  A B E H M N P R V W X Y.
* The area (leading letters) must be one of the 124 postcode areas (121 in Great Britain and
  Northern Ireland, plus GY, JE, IM) or BX (non-geographic) / BF (British Forces).
* An outward code alone (``SW1A``) is accepted.
* Special cases: ``GIR 0AA`` (Girobank) -> ``GIR``; ``BFPO`` + 1-4 digits -> ``BFPO``;
  British Overseas Territories (ASCN, STHL, TDCU, BBND, BIQQ, FIQQ, PCRN, SIQQ, TKCA, each with
  inward ``1ZZ``; Gibraltar ``GX11 1AA``) -> their 4-character outward code.
* GG accepts area GY only, JE only JE, IM only IM; GB accepts every area.
* The British Overseas Territories are also recognised under their own ISO 3166-1 codes
  (and the exceptionally reserved AC, TA), each accepting only its own outward code: AC ASCN,
  SH STHL / ASCN / TDCU (ISO's "Saint Helena, Ascension and Tristan da Cunha"), TA TDCU,
  FK FIQQ, GS SIQQ, PN PCRN, TC TKCA, IO BBND, AQ BIQQ (British Antarctic Territory), GI GX11.

US (USPS Publication 28, "Postal Addressing Standards"): ZIP (5 digits) or ZIP+4 (9 digits,
the hyphen removed by normalisation) -> the 5-digit ZIP; ``00000`` is not a ZIP. Optional ZIP3
mode (``zip3=True``): the first 3 digits, with the restricted low-population prefixes of the
HIPAA Safe Harbor rule (45 CFR 164.514(b)(2)(i)(B); HHS de-identification guidance, 2000
census list of 17 prefixes) mapped to ``000``.

CA (Canada Post, "Addressing Guidelines" §5.6): postal code ``A9A 9A9``; the forward sortation
area (first 3 characters) is kept. Letters D F I O Q U never appear; W and Z never first.
The FSA alone is accepted.

NL (PostNL; Wikipedia "Postal codes in the Netherlands"): ``1234 AB`` -> ``1234``; the first
digit is 1-9 and the letter pairs SA, SD, SS are not used. A bare 4-digit input is rejected
(it could be anything).

IE (Eircode, "Eircode Address Database" technical guide): a 3-character routing key (a letter
and two digits, or the special ``D6W``) and a 4-character unique identifier, letters from
A C D E F H K N P R T V W X Y. The routing key is kept; a routing key alone is accepted.

Every other country: None (add a rule here, with its source, before storing anything).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["coarse_area", "normalise", "SUPPORTED_COUNTRIES"]

MAX_INPUT_CHARS = 32  # real postcodes are <= 10 characters with spaces; longer is not a postcode

# fmt: off
GB_AREAS = frozenset("""
AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY
E EC EH EN EX FK FY G GL GU HA HD HG HP HR HS HU HX IG IP IV KA KT KW KY L LA LD LE LL LN LS
LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL SM SN SO
SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE
GY JE IM
""".split())
# fmt: on
GB_NON_GEOGRAPHIC_AREAS = frozenset({"BX", "BF"})
OVERSEAS_TERRITORIES = frozenset({"ASCN", "STHL", "TDCU", "BBND", "BIQQ", "FIQQ", "PCRN", "SIQQ", "TKCA"})
CROWN_DEPENDENCY_AREA = {"GG": "GY", "JE": "JE", "IM": "IM"}
TERRITORY_OUTWARD = {
    "AC": {"ASCN"}, "SH": {"STHL", "ASCN", "TDCU"}, "TA": {"TDCU"}, "FK": {"FIQQ"}, "GS": {"SIQQ"},
    "PN": {"PCRN"}, "TC": {"TKCA"}, "IO": {"BBND"}, "AQ": {"BIQQ"}, "GI": {"GX11"},
}
HIPAA_RESTRICTED_ZIP3 = frozenset(
    "036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893".split()
)

_GB_INWARD = re.compile(r"[0-9][ABD-HJLNP-UW-Z]{2}")
# Outward code: A9, A99, AA9, AA99 | A9A | AA9A, with the positional letter rules
# (1st never Q V X; 2nd never I J Z; 3rd of A9A and 4th of AA9A from their own short lists).
_GB_OUTWARD = re.compile(
    r"(?P<a>[A-PR-UWYZ][A-HK-Y]?)[0-9][0-9]?"
    r"|(?P<b>[A-PR-UWYZ])[0-9][ABCDEFGHJKPSTUW]"
    r"|(?P<c>[A-PR-UWYZ][A-HK-Y])[0-9][ABEHMNPRVWXY]"
)
_LEADING_LETTERS = re.compile(r"[A-Z]+")
_CA_FSA = re.compile(r"[ABCEGHJ-NPRSTVXY][0-9][ABCEGHJ-NPRSTV-Z]")
_CA_LDU = re.compile(r"[0-9][ABCEGHJ-NPRSTV-Z][0-9]")
_NL = re.compile(r"([1-9][0-9]{3})([A-Z]{2})")
_NL_UNUSED_LETTERS = frozenset({"SA", "SD", "SS"})
_IE_ROUTING = re.compile(r"[ACDEFHKNPRTVWXY][0-9]{2}|D6W")
_IE_UNIQUE = re.compile(r"[0-9ACDEFHKNPRTVWXY]{4}")
_ASCII_ALNUM = re.compile(r"[A-Z0-9]+")
_SEPARATOR = re.compile(r"[\s-]+")
_US = re.compile(r"[0-9]{5}(?:[0-9]{4})?")

SUPPORTED_COUNTRIES = frozenset({"GB", "UK", "GG", "JE", "IM", "US", "CA", "NL", "IE", *TERRITORY_OUTWARD})


def _parse(value: object) -> tuple[str, frozenset[int]] | None:
    """(the code without separators, the positions in it where a separator stood), or None
    unless only ASCII A-Z/0-9 and separators remain after NFKC and uppercasing."""
    if not isinstance(value, str) or len(value) > MAX_INPUT_CHARS:
        return None
    parts = _SEPARATOR.split(unicodedata.normalize("NFKC", value).upper().strip())
    code = "".join(parts)
    if len(parts) > 1 and not all(parts):
        return None  # a separator at either end separates nothing
    if not code or len(code) > MAX_INPUT_CHARS or not _ASCII_ALNUM.fullmatch(code):
        return None
    positions, at = set(), 0
    for part in parts[:-1]:
        at += len(part)
        positions.add(at)
    return code, frozenset(positions)


def normalise(value: object) -> str | None:
    """NFKC, uppercase, without separators; None unless only ASCII A-Z/0-9 remain."""
    parsed = _parse(value)
    return parsed[0] if parsed else None


def _gb_separators(code: str) -> frozenset[int]:
    """Where a UK-style code may have its space: before the inward code (BFPO: before its number)."""
    return frozenset({4}) if code.startswith("BFPO") else frozenset({len(code) - 3}) if len(code) >= 5 else frozenset()


# Where each other country's format places its separator (index into the compact code).
_SEPARATOR_AT = {"US": frozenset({5}), "CA": frozenset({3}), "NL": frozenset({4}), "IE": frozenset({3})}


def _gb_outward(outward: str) -> str | None:
    if outward in OVERSEAS_TERRITORIES:
        return outward
    match = _GB_OUTWARD.fullmatch(outward)
    if not match:
        return None
    area = match.group("a") or match.group("b") or match.group("c")
    if area not in GB_AREAS and area not in GB_NON_GEOGRAPHIC_AREAS:
        return None
    return outward


def _gb(code: str) -> str | None:
    if code in ("GIR0AA", "GIR"):
        return "GIR"
    if code.startswith("BFPO") and 5 <= len(code) <= 8 and code[4:].isdigit():
        return "BFPO"
    if code in ("GX111AA", "GX11"):
        return "GX11"
    if len(code) >= 5 and _GB_INWARD.fullmatch(code[-3:]):
        outward = code[:-3]
        if outward in OVERSEAS_TERRITORIES:
            return outward if code[-3:] == "1ZZ" else None
        return _gb_outward(outward)
    return _gb_outward(code)  # an outward code alone


def _us(code: str, zip3: bool) -> str | None:
    if not _US.fullmatch(code) or code[:5] == "00000":
        return None
    if not zip3:
        return code[:5]
    return "000" if code[:3] in HIPAA_RESTRICTED_ZIP3 else code[:3]


def _ca(code: str) -> str | None:
    if len(code) == 3 and _CA_FSA.fullmatch(code):
        return code
    if len(code) == 6 and _CA_FSA.fullmatch(code[:3]) and _CA_LDU.fullmatch(code[3:]):
        return code[:3]
    return None


def _nl(code: str) -> str | None:
    match = _NL.fullmatch(code)
    if not match or match.group(2) in _NL_UNUSED_LETTERS:
        return None
    return match.group(1)


def _ie(code: str) -> str | None:
    if len(code) == 3 and _IE_ROUTING.fullmatch(code):
        return code
    if len(code) == 7 and _IE_ROUTING.fullmatch(code[:3]) and _IE_UNIQUE.fullmatch(code[3:]):
        return code[:3]
    return None


def coarse_area(value: object, country: object = "GB", *, zip3: bool = False) -> str | None:
    """The outward code / area of ``value`` for ``country`` (ISO 3166-1 alpha-2), or None."""
    parsed = _parse(value)
    if parsed is None or not isinstance(country, str):
        return None
    code, separators = parsed
    country = country.strip().upper()
    allowed = _SEPARATOR_AT.get(country) or _gb_separators(code)
    if not separators <= allowed:
        return None  # a space or hyphen where the format has none
    if country in ("GB", "UK"):
        return _gb(code)
    if country in CROWN_DEPENDENCY_AREA:
        area = _gb(code)
        letters = _LEADING_LETTERS.match(area) if area is not None else None
        if letters is None or letters.group() != CROWN_DEPENDENCY_AREA[country]:
            return None
        return area
    if country in TERRITORY_OUTWARD:
        area = _gb(code)
        return area if area in TERRITORY_OUTWARD[country] else None
    if country == "US":
        return _us(code, zip3)
    if country == "CA":
        return _ca(code)
    if country == "NL":
        return _nl(code)
    if country == "IE":
        return _ie(code)
    return None
