"""Barcode validation for product master data.

Products carry two kinds of codes:

* GS1 GTINs (GTIN-8, GTIN-12/UPC-A, GTIN-13/EAN-13, GTIN-14) printed by suppliers.
  Their last digit is a GS1 mod-10 check digit, so a mistyped or misread code is
  caught at data entry instead of silently creating a second, unscannable product.
* Store-internal codes (shelf labels, legacy SKUs, scale labels) that follow no
  standard. They are accepted as long as they are short, printable ASCII without
  spaces, so they survive CSV exports, URLs and label printers unchanged.
"""

from __future__ import annotations

import re

__all__ = [
    "GTIN_LENGTHS",
    "MAX_INTERNAL_CODE_LENGTH",
    "gtin_check_digit",
    "is_valid_gtin",
    "validate_barcode",
]

#: Lengths of the GTIN family. A digits-only code of one of these lengths is always
#: treated as a GTIN, never as an internal code, so its check digit is enforced.
GTIN_LENGTHS: frozenset[int] = frozenset({8, 12, 13, 14})

MAX_INTERNAL_CODE_LENGTH = 48

# Explicit ASCII classes: str.isdigit() and \d also accept non-ASCII digits
# (e.g. Arabic-Indic or superscript digits) that no scanner will ever emit.
_DIGITS = re.compile(r"[0-9]+")
_INTERNAL_CODE = re.compile(r"[A-Za-z0-9._-]+")


def gtin_check_digit(body: str) -> str:
    """Return the GS1 mod-10 check digit for ``body`` (a GTIN without its check digit).

    Weights alternate 3, 1, 3, ... starting from the rightmost digit of the body.
    Anchoring on the right is what lets one algorithm serve every GTIN length
    (and GTIN-12 codes keep their check digit when left-padded to GTIN-13/14).

    >>> gtin_check_digit("400638133393")
    '1'
    """
    if not body or _DIGITS.fullmatch(body) is None:
        raise ValueError(f"GTIN body must be a non-empty string of ASCII digits, got {body!r}")
    total = 0
    for position, char in enumerate(reversed(body)):
        weight = 3 if position % 2 == 0 else 1
        total += int(char) * weight
    return str((10 - total % 10) % 10)


def is_valid_gtin(code: str) -> bool:
    """Tell whether ``code`` is a GTIN-8/12/13/14 with a correct check digit.

    The code is taken as-is (no whitespace stripping): this is a predicate for
    already-normalized values; use :func:`validate_barcode` for user input.
    """
    if not isinstance(code, str) or len(code) not in GTIN_LENGTHS:
        return False
    if _DIGITS.fullmatch(code) is None:
        return False
    return gtin_check_digit(code[:-1]) == code[-1]


def validate_barcode(code: str) -> str:
    """Validate a barcode entered for a product and return its normalized form.

    Surrounding whitespace is stripped (scanners and spreadsheets often add a
    trailing newline or space). A digits-only code of length 8, 12, 13 or 14 must
    be a valid GTIN; anything else must be a store-internal code of 1 to 48
    characters from ``[A-Za-z0-9._-]``.

    Raises ``ValueError`` explaining why the code was rejected.
    """
    if not isinstance(code, str):
        raise ValueError(f"barcode must be a string, got {type(code).__name__}")
    normalized = code.strip()
    if not normalized:
        raise ValueError("barcode must not be empty")

    if len(normalized) in GTIN_LENGTHS and _DIGITS.fullmatch(normalized) is not None:
        expected = gtin_check_digit(normalized[:-1])
        if normalized[-1] != expected:
            raise ValueError(
                f"invalid GTIN check digit in {normalized!r}: expected {expected}, got {normalized[-1]}"
            )
        return normalized

    if len(normalized) > MAX_INTERNAL_CODE_LENGTH:
        raise ValueError(
            f"internal barcode is {len(normalized)} characters long, "
            f"at most {MAX_INTERNAL_CODE_LENGTH} are allowed"
        )
    if _INTERNAL_CODE.fullmatch(normalized) is None:
        bad = sorted({ch for ch in normalized if _INTERNAL_CODE.fullmatch(ch) is None})
        raise ValueError(
            f"internal barcode {normalized!r} contains characters outside [A-Za-z0-9._-]: {bad!r}"
        )
    return normalized
