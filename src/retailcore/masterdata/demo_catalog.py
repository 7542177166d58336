"""Deterministic demo catalog and store network.

Used by demo data loaders, tests and benchmarks that need a realistic-looking
product range without shipping fixture files. Everything is computed from a
seed with a private ``random.Random`` instance, so two calls with the same
arguments return equal data (on a given Python version) and the global random
state is left alone.

Money is only ever built from integers and strings: a float would bring binary
rounding noise into prices and costs, which is exactly what the ledger must
never see.

The fictional company is a French-style retailer (EUR, VAT "standard" and
"reduced" rates). Its barcodes use a GS1-France-looking company prefix that is
made up for the demo; they are valid EAN-13 codes but identify no real product.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from retailcore.masterdata.barcodes import gtin_check_digit

__all__ = [
    "DEMO_COMPANY_NAME",
    "DEMO_COMPANY_PREFIX",
    "DEMO_CURRENCY",
    "MAX_DEMO_PRODUCTS",
    "demo_products",
    "demo_stores",
]

DEMO_COMPANY_NAME = "Maison Lumière SAS"
DEMO_CURRENCY = "EUR"

#: 7-digit fictional company prefix in GS1 France's 300-379 range; with a
#: 5-digit item reference and the check digit it yields EAN-13 codes.
DEMO_COMPANY_PREFIX = "3760042"
_ITEM_REFERENCE_DIGITS = 13 - 1 - len(DEMO_COMPANY_PREFIX)

#: Upper bound keeps enough free item references for the extra barcodes.
MAX_DEMO_PRODUCTS = 50_000

_COST_QUANTUM = Decimal("0.000001")
_CENT = Decimal("0.01")

_T = TypeVar("_T")


@dataclass(frozen=True)
class _Family:
    """A product line: a base name and the attributes its variants share."""

    name: str  # either a base name (variants appended after commas) or a template with "{}" slots
    price_range: tuple[int, int]  # whole euros, inclusive
    variants: tuple[tuple[str, ...], ...] = ()  # each tuple is one axis (colour, size...)
    unit_of_measure: str = "unit"


@dataclass(frozen=True)
class _Category:
    path: str
    sku_prefix: str
    weight: int
    tax_category: str
    families: tuple[_Family, ...]
    # (ending, weight) pairs: retail prices cluster on charm endings rather than random cents.
    price_endings: tuple[tuple[str, int], ...] = ((".99", 5), (".95", 2), (".50", 2), (".90", 1), (".00", 1))


_COLOURS = ("Navy", "Black", "White", "Heather Grey", "Olive", "Burgundy", "Sand", "Sky Blue")
_SIZES = ("XS", "S", "M", "L", "XL")
_WAIST = ("W28", "W30", "W32", "W34", "W36")
_SHOE_SIZES = ("EU 37", "EU 38", "EU 39", "EU 40", "EU 41", "EU 42", "EU 43", "EU 44")
_KITCHEN_COLOURS = ("Cherry Red", "Matte Black", "Sage Green", "Cream", "Slate Blue")
_GADGET_COLOURS = ("Black", "White", "Graphite", "Midnight Blue")
_COFFEE_ORIGINS = (
    "Ethiopia Yirgacheffe",
    "Colombia Huila",
    "Brazil Cerrado",
    "Guatemala Antigua",
    "Kenya Nyeri",
)
_BLENDS = ("House Blend", "Espresso Blend", "Decaf Blend", "Mocha Blend")
_BULK_FOODS = ("Dried Apricots", "Roasted Almonds", "Walnut Kernels", "Dried Figs", "Hazelnuts")
_SCENTS = ("Unscented", "Lavender", "Verbena", "Rose", "Sweet Almond", "Fig")
_BAG_COLOURS = ("Black", "Olive", "Navy", "Cognac", "Sand")
_BOOK_ADJECTIVES = ("Quiet", "Last", "Hidden", "Northern", "Silent", "Golden", "Lost", "Winter", "Distant")
_BOOK_NOUNS = ("Harbour", "Garden", "Orchard", "Lighthouse", "Cartographer", "Bridge", "Archive", "Island")
_BOOK_FORMATS = ("Paperback", "Hardcover", "Pocket Edition")

_CATEGORIES: tuple[_Category, ...] = (
    _Category(
        path="Apparel/Tops",
        sku_prefix="APP-TSH",
        weight=22,
        tax_category="standard",
        families=(
            _Family("Organic Cotton T-Shirt", (12, 25), (_COLOURS, _SIZES)),
            _Family("Striped Breton Top", (29, 45), (("Navy/Ecru", "Red/Ecru", "Black/White"), _SIZES)),
            _Family("Linen Shirt", (39, 69), (_COLOURS, _SIZES)),
            _Family("Merino Crew Sweater", (59, 99), (_COLOURS, _SIZES)),
            _Family("Hooded Sweatshirt", (35, 55), (_COLOURS, _SIZES)),
        ),
    ),
    _Category(
        path="Apparel/Bottoms",
        sku_prefix="APP-BTM",
        weight=14,
        tax_category="standard",
        families=(
            _Family("Slim Chino Trousers", (39, 65), (_COLOURS, _WAIST)),
            _Family("Straight Leg Jeans", (49, 89), (("Raw Indigo", "Stone Wash", "Black"), _WAIST)),
            _Family("Linen Shorts", (25, 39), (_COLOURS, _SIZES)),
            _Family("Pleated Midi Skirt", (35, 59), (_COLOURS, _SIZES)),
        ),
    ),
    _Category(
        path="Footwear",
        sku_prefix="FTW-SHO",
        weight=10,
        tax_category="standard",
        families=(
            _Family("Canvas Low-Top Sneakers", (39, 69), (("White", "Navy", "Black"), _SHOE_SIZES)),
            _Family("Leather Chelsea Boots", (119, 179), (("Black", "Tan", "Dark Brown"), _SHOE_SIZES)),
            _Family("Suede Loafers", (89, 139), (("Tobacco", "Navy", "Taupe"), _SHOE_SIZES)),
            _Family("Trail Running Shoes", (79, 129), (("Grey/Lime", "Black/Orange"), _SHOE_SIZES)),
        ),
    ),
    _Category(
        path="Home/Kitchen",
        sku_prefix="HOM-KIT",
        weight=12,
        tax_category="standard",
        families=(
            _Family(
                "Enamelled Cast Iron Casserole {}, {}",
                (129, 219),
                (("20 cm", "24 cm", "28 cm"), _KITCHEN_COLOURS),
            ),
            _Family("Stoneware Mug 350 ml", (9, 16), (_KITCHEN_COLOURS,)),
            _Family(
                "{} Knife", (39, 119), (("Chef's 20 cm", "Santoku 18 cm", "Bread 22 cm", "Paring 9 cm"),)
            ),
            _Family("French Press Coffee Maker 1 L", (24, 45), (("Chrome", "Copper", "Matte Black"),)),
            _Family("Acacia Wood Cutting Board", (19, 39), (("Small", "Large"),)),
            _Family("Linen Tea Towel Set of 2", (14, 22), (_KITCHEN_COLOURS,)),
        ),
    ),
    _Category(
        path="Food/Coffee",
        sku_prefix="FOD-COF",
        weight=10,
        tax_category="reduced",
        families=(
            _Family("{} Whole Bean Coffee 250 g", (7, 12), (_COFFEE_ORIGINS,)),
            _Family("{} Ground Coffee 250 g", (7, 11), (_COFFEE_ORIGINS,)),
            _Family("{} Whole Bean Coffee 1 kg", (24, 36), (_COFFEE_ORIGINS,)),
            _Family("Coffee Capsules x10, {}", (3, 6), (("Intense", "Lungo", "Ristretto", "Decaf"),)),
            # Sold by weight from the bulk bin: priced per kilogram.
            _Family("Loose Roasted Coffee Beans, {}", (22, 34), (_BLENDS,), unit_of_measure="kg"),
            _Family("Loose Green Coffee Beans, {}", (12, 20), (_COFFEE_ORIGINS,), unit_of_measure="kg"),
        ),
    ),
    _Category(
        path="Food/Grocery",
        sku_prefix="FOD-GRO",
        weight=8,
        tax_category="reduced",
        families=(
            _Family("Fleur de Sel de Guérande {}", (4, 9), (("125 g", "250 g", "500 g"),)),
            _Family(
                "{} Honey 500 g", (8, 14), (("Acacia", "Lavender", "Chestnut", "Wildflower", "Heather"),)
            ),
            _Family("Salted Butter Caramels {}", (5, 11), (("150 g", "200 g", "300 g"),)),
            _Family("Extra Virgin Olive Oil {}", (9, 22), (("500 ml", "750 ml", "1 L"),)),
            _Family(
                "{} Jam 350 g", (4, 7), (("Apricot", "Strawberry", "Fig", "Bitter Orange", "Blackcurrant"),)
            ),
            _Family("Loose {}", (12, 30), (_BULK_FOODS,), unit_of_measure="kg"),
        ),
    ),
    _Category(
        path="Beauty",
        sku_prefix="BTY-CAR",
        weight=8,
        tax_category="standard",
        families=(
            _Family("Shea Butter Hand Cream {}, {}", (7, 19), (("30 ml", "75 ml", "150 ml"), _SCENTS)),
            _Family(
                "{} Shampoo {}", (9, 19), (("Rosemary", "Nettle", "Argan", "Camomile"), ("250 ml", "500 ml"))
            ),
            _Family("Marseille Soap Bar 100 g", (4, 7), (_SCENTS,)),
            _Family("{} Lip Balm 4.5 g", (4, 8), (("Honey", "Shea", "Cherry", "Mint"),)),
            _Family(
                "{} Eau de Toilette {}", (39, 79), (("Fig Leaf", "Neroli", "Cedarwood"), ("50 ml", "100 ml"))
            ),
            _Family("{} Face Serum 30 ml", (24, 42), (("Vitamin C", "Hyaluronic Acid", "Niacinamide"),)),
            _Family("Mineral Sunscreen {}", (14, 25), (("SPF 30 50 ml", "SPF 50 50 ml", "SPF 50 100 ml"),)),
        ),
    ),
    _Category(
        path="Books",
        sku_prefix="BOK-GEN",
        weight=8,
        tax_category="reduced",
        # Titles are generated from the _BOOK_* word lists, see _product_name().
        families=(_Family("", (7, 26)),),
        # Books carry fixed publisher prices (loi Lang in France), often round or .90.
        price_endings=((".90", 4), (".00", 3), (".50", 2), (".95", 1)),
    ),
    _Category(
        path="Electronics/Accessories",
        sku_prefix="ELC-ACC",
        weight=8,
        tax_category="standard",
        families=(
            _Family("USB-C Charging Cable 1 m", (12, 22), (_GADGET_COLOURS,)),
            _Family("Wireless Earbuds", (49, 129), (_GADGET_COLOURS,)),
            _Family("Power Bank 10000 mAh", (29, 49), (_GADGET_COLOURS,)),
            _Family("Recycled Plastic Phone Case", (19, 35), (_GADGET_COLOURS,)),
            _Family("Bluetooth Speaker", (39, 99), (_GADGET_COLOURS,)),
        ),
    ),
    _Category(
        path="Accessories/Bags",
        sku_prefix="ACC-BAG",
        weight=6,
        tax_category="standard",
        families=(
            _Family("Waxed Canvas Tote Bag", (35, 59), (_BAG_COLOURS,)),
            _Family("Leather Card Holder", (25, 45), (_BAG_COLOURS,)),
            _Family("Roll-Top Backpack 20 L", (69, 119), (_BAG_COLOURS,)),
            _Family("Leather Crossbody Bag", (89, 149), (_BAG_COLOURS,)),
            _Family("Weekender Duffel Bag 45 L", (99, 169), (_BAG_COLOURS,)),
        ),
    ),
)

_COST_METHODS = (("fifo", 4), ("average", 4), ("standard", 2))
_CHANNEL_SETS = (
    (("pos", "web"), 70),
    (("pos",), 10),
    (("pos", "web", "marketplace"), 10),
    (("web",), 5),
    (("web", "marketplace"), 5),
)


def _weighted(rng: random.Random, options: tuple[tuple[_T, int], ...]) -> _T:
    # Integer arithmetic only: random.choices() would draw a float.
    ticket = rng.randrange(sum(weight for _, weight in options))
    for option, weight in options:
        if ticket < weight:
            return option
        ticket -= weight
    raise AssertionError("unreachable: ticket exceeds total weight")


def _product_name(rng: random.Random, category: _Category, family: _Family) -> str:
    if category.path == "Books":
        title = f"The {rng.choice(_BOOK_ADJECTIVES)} {rng.choice(_BOOK_NOUNS)}"
        return f"{title} ({rng.choice(_BOOK_FORMATS)})"
    picks = [rng.choice(axis) for axis in family.variants]
    if "{}" in family.name:
        return family.name.format(*picks)
    return ", ".join([family.name, *picks])


def _list_price(rng: random.Random, category: _Category, family: _Family) -> Decimal:
    low, high = family.price_range
    euros = rng.randint(low, high)
    ending = _weighted(rng, category.price_endings)
    # Built from a string, so the Decimal carries exactly two places.
    return Decimal(f"{euros}{ending}")


def _standard_cost(rng: random.Random, price: Decimal) -> Decimal:
    # Margin between 40% and 65% of the price: cost is 35.00%-60.00% of it.
    ratio = Decimal(rng.randint(3500, 6000)) / Decimal(10000)
    cost = price * ratio  # exact: 2 + 4 decimals fit in the default 28-digit context
    if rng.randrange(3) == 0:
        # Some suppliers quote whole-cent costs; keep a share of them in the demo.
        cost = cost.quantize(_CENT)
    return cost.quantize(_COST_QUANTUM)


def _ean13(item_reference: int) -> str:
    body = f"{DEMO_COMPANY_PREFIX}{item_reference:0{_ITEM_REFERENCE_DIGITS}d}"
    return body + gtin_check_digit(body)


def demo_products(count: int = 200, seed: int = 7) -> list[dict[str, Any]]:
    """Return ``count`` deterministic demo products.

    Each product is a dict with ``sku``, ``name``, ``category``,
    ``unit_of_measure``, ``tax_category``, ``cost_method``, ``list_price``
    (``Decimal``, 2 places), ``standard_cost`` (``Decimal``, 6 places, below the
    list price), ``barcodes`` (valid, catalog-unique EAN-13 strings), ``channels``
    (non-empty subset of pos/web/marketplace) and ``active``.

    The first products cycle through every category so that even a small
    catalog exercises each tax category and unit of measure path.
    """
    if isinstance(count, bool) or not isinstance(count, int):
        raise TypeError(f"count must be an int, got {type(count).__name__}")
    if not 0 <= count <= MAX_DEMO_PRODUCTS:
        raise ValueError(f"count must be between 0 and {MAX_DEMO_PRODUCTS}, got {count}")

    rng = random.Random(seed)
    category_options = tuple((category, category.weight) for category in _CATEGORIES)

    # About one product in ten gets a second barcode (e.g. a former packaging);
    # drawing all item references up front in one sample guarantees uniqueness.
    second_barcode = [rng.randrange(10) == 0 for _ in range(count)]
    references = rng.sample(range(1, 10**_ITEM_REFERENCE_DIGITS), count + sum(second_barcode))
    next_reference = iter(references)

    # "A couple" of discontinued products, but never deactivate a one-item catalog.
    inactive_count = min(max(count - 1, 0), max(1, count // 100))
    inactive = set(rng.sample(range(count), inactive_count))

    sku_counters: dict[str, int] = {}
    used_names: set[str] = set()
    products: list[dict[str, Any]] = []
    for index in range(count):
        category = _CATEGORIES[index] if index < len(_CATEGORIES) else _weighted(rng, category_options)
        family = rng.choice(category.families)

        # Retry a few times so identical variants are rare; a duplicate name is
        # harmless (SKUs are the key) so we do not loop forever on small families.
        name = _product_name(rng, category, family)
        for _ in range(30):
            if name not in used_names:
                break
            family = rng.choice(category.families)
            name = _product_name(rng, category, family)
        used_names.add(name)

        sku_counters[category.sku_prefix] = sku_counters.get(category.sku_prefix, 0) + 1
        sku = f"{category.sku_prefix}-{sku_counters[category.sku_prefix]:04d}"

        list_price = _list_price(rng, category, family)
        barcodes = [_ean13(next(next_reference))]
        if second_barcode[index]:
            barcodes.append(_ean13(next(next_reference)))

        products.append(
            {
                "sku": sku,
                "name": name,
                "category": category.path,
                "unit_of_measure": family.unit_of_measure,
                "tax_category": category.tax_category,
                "cost_method": _weighted(rng, _COST_METHODS),
                "list_price": list_price,
                "standard_cost": _standard_cost(rng, list_price),
                "barcodes": barcodes,
                "channels": list(_weighted(rng, _CHANNEL_SETS)),
                "active": index not in inactive,
            }
        )
    return products


def demo_stores() -> list[dict[str, str]]:
    """Return the demo store network: three shops and the web fulfilment warehouse."""
    return [
        {"code": "PAR01", "name": "Paris Rivoli", "kind": "store", "timezone": "Europe/Paris"},
        {"code": "LYO01", "name": "Lyon Part-Dieu", "kind": "store", "timezone": "Europe/Paris"},
        {"code": "BDX01", "name": "Bordeaux Sainte-Catherine", "kind": "store", "timezone": "Europe/Paris"},
        {"code": "WEB01", "name": "Web fulfilment centre", "kind": "warehouse", "timezone": "Europe/Paris"},
    ]
