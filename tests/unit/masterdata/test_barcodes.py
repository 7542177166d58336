"""Tests for GTIN check digits and barcode validation."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from retailcore.masterdata.barcodes import gtin_check_digit, is_valid_gtin, validate_barcode

# Published examples: EAN-13 (Wikipedia, GS1), ISBN-13, UPC-A, EAN-8 and GS1 GTIN-14.
KNOWN_VALID = [
    "4006381333931",
    "5901234123457",
    "9780306406157",
    "036000291452",
    "96385074",
    "73513537",
    "10614141000415",
    "00012345600012",
]


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_known_gtins_are_valid(code: str) -> None:
    assert is_valid_gtin(code)
    assert validate_barcode(code) == code


def test_check_digit_of_known_bodies() -> None:
    assert gtin_check_digit("400638133393") == "1"
    assert gtin_check_digit("03600029145") == "2"
    assert gtin_check_digit("9638507") == "4"
    assert gtin_check_digit("0001234560001") == "2"


def test_check_digit_zero_case() -> None:
    assert gtin_check_digit("590123412345") == "7"
    assert gtin_check_digit("000000000055") == "0"
    # A weighted sum that is a multiple of 10 needs check digit 0; a naive "10 - sum % 10" gives "10".
    assert gtin_check_digit("000000000000") == "0"
    assert is_valid_gtin("0000000000000")


def test_upc_a_keeps_check_digit_when_zero_padded() -> None:
    # Weights are anchored on the right, so leading zeros do not change the check digit.
    assert is_valid_gtin("036000291452")
    assert is_valid_gtin("0036000291452")
    assert is_valid_gtin("00036000291452")


@pytest.mark.parametrize("code", ["4006381333932", "4006381333921", "036000291453", "96385075"])
def test_wrong_check_digit_is_invalid(code: str) -> None:
    assert not is_valid_gtin(code)
    with pytest.raises(ValueError, match="invalid GTIN check digit"):
        validate_barcode(code)


def test_flipped_body_digit_is_invalid() -> None:
    # 4006381333931 with its 5th digit changed from 3 to 8.
    assert not is_valid_gtin("4006881333931")
    with pytest.raises(ValueError, match="invalid GTIN check digit"):
        validate_barcode("4006881333931")


@pytest.mark.parametrize(
    "code",
    [
        "",
        "400638133393",
        "40063813339311",
        "400638133393A",
        " 4006381333931",
        "4006381333931\n",
        "٤٠٠٦٣٨١٣٣٣٩٣١",
    ],
)
def test_is_valid_gtin_rejects_malformed(code: str) -> None:
    assert not is_valid_gtin(code)


@pytest.mark.parametrize("body", ["", "12a4", " 123", "١٢٣"])
def test_check_digit_rejects_non_ascii_digit_bodies(body: str) -> None:
    with pytest.raises(ValueError, match="ASCII digits"):
        gtin_check_digit(body)


def test_validate_barcode_strips_whitespace() -> None:
    assert validate_barcode("  4006381333931\n") == "4006381333931"
    assert validate_barcode("\tSHELF-0042 ") == "SHELF-0042"


@pytest.mark.parametrize(
    "code",
    [
        "A",
        "SHELF-0042",
        "legacy_sku.17",
        "12345",
        "1234567890",
        "123456789012345",
        "X" * 48,
        "2000000000000ABC",
    ],
)
def test_internal_codes_are_accepted(code: str) -> None:
    # Digits-only codes whose length is not a GTIN length are internal codes.
    assert validate_barcode(code) == code


def test_internal_code_too_long() -> None:
    with pytest.raises(ValueError, match="at most 48"):
        validate_barcode("X" * 49)


@pytest.mark.parametrize("code", ["SHELF 42", "café", "a/b", "abc#", "ean:4006381333931"])
def test_internal_code_bad_characters(code: str) -> None:
    with pytest.raises(ValueError, match=r"\[A-Za-z0-9\._-\]"):
        validate_barcode(code)


@pytest.mark.parametrize("code", ["", "   ", "\n"])
def test_empty_barcode_rejected(code: str) -> None:
    with pytest.raises(ValueError, match="empty"):
        validate_barcode(code)


def test_non_ascii_digits_are_not_a_gtin() -> None:
    # Arabic-Indic digits of a valid EAN-13: neither a GTIN nor an acceptable internal code.
    with pytest.raises(ValueError, match="characters outside"):
        validate_barcode("٤٠٠٦٣٨١٣٣٣٩٣١")


gtin_bodies = st.sampled_from([7, 11, 12, 13]).flatmap(
    lambda n: st.text(alphabet="0123456789", min_size=n, max_size=n)
)


@given(gtin_bodies)
def test_appending_check_digit_gives_valid_gtin(body: str) -> None:
    code = body + gtin_check_digit(body)
    assert is_valid_gtin(code)
    assert validate_barcode(code) == code


@given(gtin_bodies, st.data())
def test_any_single_digit_substitution_is_detected(body: str, data: st.DataObject) -> None:
    # Weights 1 and 3 are both coprime with 10, so mod-10 catches every single-digit error.
    code = body + gtin_check_digit(body)
    position = data.draw(st.integers(min_value=0, max_value=len(code) - 1))
    replacement = data.draw(st.sampled_from([d for d in "0123456789" if d != code[position]]))
    corrupted = code[:position] + replacement + code[position + 1 :]
    assert not is_valid_gtin(corrupted)
