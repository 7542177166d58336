"""ISO 4217 currency codes and their minor units.

The minor unit is the number of decimal places a currency is normally quoted and settled in
(EUR 2: cents, JPY 0: no subunit in use, BHD 3: fils, CLF 4). Money rounding, allocation and
formatting all depend on it, so it lives in one table that the rest of the code consults instead
of assuming "two decimals" anywhere.

Scope of the table:

* Active codes of ISO 4217 "List One", including the fund codes (BOV, CHE, CHW, CLF, COU, MXV,
  USN, UYI, UYW) because they appear on real settlement and pricing documents.
* Codes that ISO lists with minor unit "N.A." (precious metals XAU/XAG/XPT/XPD, XDR, XSU, XUA,
  the European bond units XBA-XBD, the test code XTS and "no currency" XXX) are deliberately left
  out: an amount in them has no minor unit to round to, and a retail system has no reason to hold
  one.
* Withdrawn codes (e.g. HRK, LTL, MRO, STD, VEF, BYR) are left out so that stale data fails loudly.
  Codes that are being phased out while their successor circulates alongside them (ANG/XCG,
  SLL/SLE, ZWL/ZWG, CUC) are kept together with the successor: during a changeover both appear
  on real receipts, and refusing one would reject legitimate data.

Lookups are exact: codes must be three uppercase ASCII letters. "eur" is not silently accepted,
because normalising case at this level would hide bad upstream data instead of surfacing it.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Final

__all__ = ["MINOR_UNITS", "UnknownCurrency", "is_currency", "minor_unit"]


class UnknownCurrency(ValueError):
    """Raised for a currency code that is not an active ISO 4217 code known to this table."""


MINOR_UNITS: Final[dict[str, int]] = {
    "AED": 2,  # UAE dirham
    "AFN": 2,  # Afghani
    "ALL": 2,  # Lek
    "AMD": 2,  # Armenian dram
    "ANG": 2,  # Netherlands Antillean guilder (being replaced by XCG)
    "AOA": 2,  # Kwanza
    "ARS": 2,  # Argentine peso
    "AUD": 2,  # Australian dollar
    "AWG": 2,  # Aruban florin
    "AZN": 2,  # Azerbaijan manat
    "BAM": 2,  # Convertible mark
    "BBD": 2,  # Barbados dollar
    "BDT": 2,  # Taka
    "BGN": 2,  # Bulgarian lev
    "BHD": 3,  # Bahraini dinar
    "BIF": 0,  # Burundi franc
    "BMD": 2,  # Bermudian dollar
    "BND": 2,  # Brunei dollar
    "BOB": 2,  # Boliviano
    "BOV": 2,  # Mvdol (fund code)
    "BRL": 2,  # Brazilian real
    "BSD": 2,  # Bahamian dollar
    "BTN": 2,  # Ngultrum
    "BWP": 2,  # Pula
    "BYN": 2,  # Belarusian ruble
    "BZD": 2,  # Belize dollar
    "CAD": 2,  # Canadian dollar
    "CDF": 2,  # Congolese franc
    "CHE": 2,  # WIR euro (fund code)
    "CHF": 2,  # Swiss franc
    "CHW": 2,  # WIR franc (fund code)
    "CLF": 4,  # Unidad de Fomento (fund code)
    "CLP": 0,  # Chilean peso
    "CNY": 2,  # Yuan renminbi
    "COP": 2,  # Colombian peso
    "COU": 2,  # Unidad de Valor Real (fund code)
    "CRC": 2,  # Costa Rican colon
    "CUC": 2,  # Peso convertible (being phased out)
    "CUP": 2,  # Cuban peso
    "CVE": 2,  # Cabo Verde escudo
    "CZK": 2,  # Czech koruna
    "DJF": 0,  # Djibouti franc
    "DKK": 2,  # Danish krone
    "DOP": 2,  # Dominican peso
    "DZD": 2,  # Algerian dinar
    "EGP": 2,  # Egyptian pound
    "ERN": 2,  # Nakfa
    "ETB": 2,  # Ethiopian birr
    "EUR": 2,  # Euro
    "FJD": 2,  # Fiji dollar
    "FKP": 2,  # Falkland Islands pound
    "GBP": 2,  # Pound sterling
    "GEL": 2,  # Lari
    "GHS": 2,  # Ghana cedi
    "GIP": 2,  # Gibraltar pound
    "GMD": 2,  # Dalasi
    "GNF": 0,  # Guinean franc
    "GTQ": 2,  # Quetzal
    "GYD": 2,  # Guyana dollar
    "HKD": 2,  # Hong Kong dollar
    "HNL": 2,  # Lempira
    "HTG": 2,  # Gourde
    "HUF": 2,  # Forint
    "IDR": 2,  # Rupiah
    "ILS": 2,  # New Israeli sheqel
    "INR": 2,  # Indian rupee
    "IQD": 3,  # Iraqi dinar
    "IRR": 2,  # Iranian rial
    "ISK": 0,  # Iceland krona
    "JMD": 2,  # Jamaican dollar
    "JOD": 3,  # Jordanian dinar
    "JPY": 0,  # Yen
    "KES": 2,  # Kenyan shilling
    "KGS": 2,  # Som
    "KHR": 2,  # Riel
    "KMF": 0,  # Comorian franc
    "KPW": 2,  # North Korean won
    "KRW": 0,  # Won
    "KWD": 3,  # Kuwaiti dinar
    "KYD": 2,  # Cayman Islands dollar
    "KZT": 2,  # Tenge
    "LAK": 2,  # Lao kip
    "LBP": 2,  # Lebanese pound
    "LKR": 2,  # Sri Lanka rupee
    "LRD": 2,  # Liberian dollar
    "LSL": 2,  # Loti
    "LYD": 3,  # Libyan dinar
    "MAD": 2,  # Moroccan dirham
    "MDL": 2,  # Moldovan leu
    "MGA": 2,  # Malagasy ariary
    "MKD": 2,  # Denar
    "MMK": 2,  # Kyat
    "MNT": 2,  # Tugrik
    "MOP": 2,  # Pataca
    "MRU": 2,  # Ouguiya
    "MUR": 2,  # Mauritius rupee
    "MVR": 2,  # Rufiyaa
    "MWK": 2,  # Malawi kwacha
    "MXN": 2,  # Mexican peso
    "MXV": 2,  # Mexican Unidad de Inversion (fund code)
    "MYR": 2,  # Malaysian ringgit
    "MZN": 2,  # Mozambique metical
    "NAD": 2,  # Namibia dollar
    "NGN": 2,  # Naira
    "NIO": 2,  # Cordoba oro
    "NOK": 2,  # Norwegian krone
    "NPR": 2,  # Nepalese rupee
    "NZD": 2,  # New Zealand dollar
    "OMR": 3,  # Rial Omani
    "PAB": 2,  # Balboa
    "PEN": 2,  # Sol
    "PGK": 2,  # Kina
    "PHP": 2,  # Philippine peso
    "PKR": 2,  # Pakistan rupee
    "PLN": 2,  # Zloty
    "PYG": 0,  # Guarani
    "QAR": 2,  # Qatari rial
    "RON": 2,  # Romanian leu
    "RSD": 2,  # Serbian dinar
    "RUB": 2,  # Russian ruble
    "RWF": 0,  # Rwanda franc
    "SAR": 2,  # Saudi riyal
    "SBD": 2,  # Solomon Islands dollar
    "SCR": 2,  # Seychelles rupee
    "SDG": 2,  # Sudanese pound
    "SEK": 2,  # Swedish krona
    "SGD": 2,  # Singapore dollar
    "SHP": 2,  # Saint Helena pound
    "SLE": 2,  # Leone (redenominated)
    "SLL": 2,  # Leone (being replaced by SLE)
    "SOS": 2,  # Somali shilling
    "SRD": 2,  # Surinam dollar
    "SSP": 2,  # South Sudanese pound
    "STN": 2,  # Dobra
    "SVC": 2,  # El Salvador colon
    "SYP": 2,  # Syrian pound
    "SZL": 2,  # Lilangeni
    "THB": 2,  # Baht
    "TJS": 2,  # Somoni
    "TMT": 2,  # Turkmenistan new manat
    "TND": 3,  # Tunisian dinar
    "TOP": 2,  # Pa'anga
    "TRY": 2,  # Turkish lira
    "TTD": 2,  # Trinidad and Tobago dollar
    "TWD": 2,  # New Taiwan dollar
    "TZS": 2,  # Tanzanian shilling
    "UAH": 2,  # Hryvnia
    "UGX": 0,  # Uganda shilling
    "USD": 2,  # US dollar
    "USN": 2,  # US dollar next day (fund code)
    "UYI": 0,  # Uruguay peso en unidades indexadas (fund code)
    "UYU": 2,  # Peso uruguayo
    "UYW": 4,  # Unidad previsional (fund code)
    "UZS": 2,  # Uzbekistan sum
    "VED": 2,  # Bolivar soberano (digital)
    "VES": 2,  # Bolivar soberano
    "VND": 0,  # Dong
    "VUV": 0,  # Vatu
    "WST": 2,  # Tala
    "XAF": 0,  # CFA franc BEAC
    "XCD": 2,  # East Caribbean dollar
    "XCG": 2,  # Caribbean guilder (successor of ANG)
    "XOF": 0,  # CFA franc BCEAO
    "XPF": 0,  # CFP franc
    "YER": 2,  # Yemeni rial
    "ZAR": 2,  # Rand
    "ZMW": 2,  # Zambian kwacha
    "ZWG": 2,  # Zimbabwe gold (successor of ZWL)
    "ZWL": 2,  # Zimbabwe dollar (being replaced by ZWG)
}


def is_currency(code: object) -> bool:
    """Tell whether ``code`` is a known ISO 4217 code, exactly as spelled (uppercase)."""
    # The isinstance guard keeps unhashable or odd inputs from raising: this is a predicate.
    return isinstance(code, str) and code in MINOR_UNITS


def minor_unit(code: str) -> int:
    """Return the number of decimal places of ``code``; raise :class:`UnknownCurrency` if unknown."""
    if not is_currency(code):
        hint = ""
        if isinstance(code, str) and code.upper() in MINOR_UNITS:
            hint = f" (codes are case-sensitive; did you mean {code.upper()!r}?)"
        raise UnknownCurrency(f"unknown ISO 4217 currency code: {code!r}{hint}")
    return MINOR_UNITS[code]


_MINOR_UNIT_AMOUNTS: Final = {code: Decimal(1).scaleb(-places) for code, places in MINOR_UNITS.items()}


def round_to_currency(value: Decimal, code: str) -> Decimal:
    """``value`` rounded half-up to the minor unit of ``code`` (the receipt and posting rule)."""
    # Called per line and per payment on the POS hot path: the quantum is looked up, not rebuilt.
    quantum = _MINOR_UNIT_AMOUNTS.get(code) if isinstance(code, str) else None
    if quantum is None:
        minor_unit(code)  # raises UnknownCurrency with its hint
    return value.quantize(quantum, rounding=ROUND_HALF_UP)
