"""Products: create, read, change (PATCH semantics, versions, If-Match), list with filters, exact money."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from apitools import API, assert_problem, ean13, events, ids


def url(product):
    return f"{API}/products/{product['id']}"


def test_a_created_product_is_returned_with_its_location_and_defaults(client, admin, company, runtime):
    # when a product is created with only its required fields
    response = client.post(
        f"{API}/products",
        json={
            "company_id": company["id"],
            "sku": "MUG",
            "name": "Mug",
            "category": "Kitchen",
            "list_price": "4.5",
        },
        headers=admin,
    )

    # then it comes back complete, with where to find it
    assert response.status_code == 201, response.text
    product = response.json()
    assert response.headers["Location"] == url(product)
    assert product["version"] == 1
    assert {k: product[k] for k in ("sku", "name", "category", "list_price", "standard_cost")} == {
        "sku": "MUG", "name": "Mug", "category": "Kitchen", "list_price": "4.50", "standard_cost": "0.00",
    }  # fmt: skip
    assert product["channels"] == ["pos", "web"]
    assert product["barcodes"] == []
    assert (product["unit_of_measure"], product["tax_category"], product["cost_method"]) == (
        "unit",
        "standard",
        "fifo",
    )
    assert product["active"] is True
    assert [e.type for e in events(runtime, aggregate_id=uuid.UUID(product["id"]))] == ["ProductCreated"]


def test_get_returns_the_product_with_its_version_as_etag(client, admin, product_factory):
    product = product_factory("P", barcodes=[ean13(400638133393), "SHELF-7"], channels=["marketplace"])

    response = client.get(url(product), headers=admin)

    assert response.status_code == 200
    assert response.json() == product
    assert response.headers["ETag"] == '"1"'
    assert response.json()["barcodes"] == ["4006381333931", "SHELF-7"]
    assert response.json()["channels"] == ["marketplace"]


def test_input_is_normalised(client, admin, company):
    response = client.post(
        f"{API}/products",
        json={
            "company_id": company["id"],
            "sku": "  PADDED  ",
            "name": " Padded ",
            "category": "C",
            "list_price": "1",
            "tax_category": "Reduced",
            "barcodes": [" 4006381333931\n"],
        },
        headers=admin,
    )

    assert response.status_code == 201, response.text
    product = response.json()
    assert (product["sku"], product["name"], product["tax_category"]) == ("PADDED", "Padded", "reduced")
    assert product["barcodes"] == ["4006381333931"]


def test_a_patch_changes_only_the_fields_sent_and_bumps_the_version(client, admin, product_factory, runtime):
    # given a product
    product = product_factory("P", description="Blue", standard_cost="2.5")

    # when only its price is changed
    response = client.patch(url(product), json={"list_price": "12.00"}, headers=admin)

    # then the price changed, nothing else did, and the version moved on
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["list_price"] == "12.00"
    assert changed["version"] == 2
    unchanged = {k: v for k, v in changed.items() if k not in ("list_price", "version", "updated_at")}
    assert unchanged == {k: v for k, v in product.items() if k not in ("list_price", "version", "updated_at")}
    read = client.get(url(product), headers=admin)
    assert read.json() == changed
    assert read.headers["ETag"] == '"2"'
    updates = events(runtime, type="ProductUpdated")
    assert len(updates) == 1
    assert updates[0].payload["changes"] == {"list_price": {"from": "10.00", "to": "12.00"}}


@pytest.mark.parametrize(
    "change",
    [
        {},
        {"list_price": "10.00"},
        {"list_price": "10"},
        {"name": "Product P"},
        {"channels": ["web", "pos"]},
        {"active": True},
        {"barcodes": ["4006381333931"]},
    ],
    ids=[
        "empty",
        "same-price",
        "same-price-fewer-digits",
        "same-name",
        "same-channels",
        "same-flag",
        "same-barcodes",
    ],
)
def test_a_patch_that_changes_nothing_keeps_the_version_and_records_no_event(
    client, admin, product_factory, runtime, change
):
    product = product_factory("P", barcodes=["4006381333931"])
    count = len(events(runtime))

    response = client.patch(url(product), json=change, headers=admin)

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 1
    assert client.get(url(product), headers=admin).headers["ETag"] == '"1"'
    assert len(events(runtime)) == count


def test_a_patch_may_clear_an_optional_field(client, admin, product_factory):
    product = product_factory("P", description="Blue")

    response = client.patch(url(product), json={"description": None}, headers=admin)

    assert response.status_code == 200
    assert response.json()["description"] is None


@pytest.mark.parametrize("field", ["name", "sku", "list_price", "active", "barcodes", "channels"])
def test_a_patch_cannot_null_a_required_field(client, admin, product_factory, snapshot, field):
    product = product_factory("P", barcodes=["4006381333931"])
    before = snapshot()

    response = client.patch(url(product), json={field: None}, headers=admin)

    assert_problem(response, 422, fields=(field,))
    assert snapshot() == before
    assert client.get(url(product), headers=admin).json() == product


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"list_price": "-1"}, "list_price"),
        ({"colour": "red"}, "colour"),
        ({"barcodes": ["4006381333932"]}, "barcodes.0"),
    ],
)
def test_a_patch_is_validated_like_a_create(client, admin, product_factory, snapshot, change, field):
    product = product_factory("P")
    before = snapshot()

    assert_problem(client.patch(url(product), json=change, headers=admin), 422, fields=(field,))
    assert snapshot() == before


def test_barcodes_and_channels_are_replaced_as_a_whole(client, admin, product_factory, runtime):
    first, second, third = ean13(1), ean13(2), ean13(3)
    product = product_factory("P", barcodes=[first, second])

    response = client.patch(
        url(product), json={"barcodes": [third, first], "channels": ["marketplace"]}, headers=admin
    )

    assert response.status_code == 200, response.text
    assert response.json()["barcodes"] == [third, first]
    assert response.json()["channels"] == ["marketplace"]
    assert client.get(url(product), headers=admin).json() == response.json()
    assert client.get(f"{API}/products", params={"barcode": second}, headers=admin).json()["items"] == []
    changes = events(runtime, type="ProductUpdated")[0].payload["changes"]
    assert changes["barcodes"] == {"from": [first, second], "to": [third, first]}
    assert changes["channels"] == {"from": ["pos", "web"], "to": ["marketplace"]}


def test_a_barcode_freed_by_one_product_can_go_to_another(client, admin, product_factory):
    code = ean13(42)
    first = product_factory("A", barcodes=[code])
    second = product_factory("B")
    assert client.patch(url(first), json={"barcodes": []}, headers=admin).status_code == 200

    response = client.patch(url(second), json={"barcodes": [code]}, headers=admin)

    assert response.status_code == 200, response.text
    assert response.json()["barcodes"] == [code]


def test_a_patch_to_a_taken_sku_or_barcode_is_a_409(client, admin, product_factory, snapshot):
    product_factory("TAKEN", barcodes=[ean13(7)])
    product = product_factory("MINE", barcodes=[ean13(8)])
    before = snapshot()

    assert_problem(
        client.patch(url(product), json={"sku": "TAKEN"}, headers=admin), 409, "duplicate-sku", ("sku",)
    )
    assert_problem(
        client.patch(url(product), json={"barcodes": [ean13(8), ean13(7)]}, headers=admin),
        409,
        "duplicate-barcode",
        ("barcodes.1",),
    )
    assert snapshot() == before
    assert client.get(url(product), headers=admin).json() == product


def test_a_product_may_keep_its_own_sku_in_a_patch(client, admin, product_factory):
    product = product_factory("MINE")

    response = client.patch(url(product), json={"sku": "MINE", "name": "Renamed"}, headers=admin)

    assert response.status_code == 200
    assert response.json()["version"] == 2


# -- If-Match -------------------------------------------------------------------------------------


def test_if_match_with_the_current_version_applies_the_change(client, admin, product_factory):
    product = product_factory("P")
    etag = client.get(url(product), headers=admin).headers["ETag"]

    response = client.patch(url(product), json={"name": "New"}, headers={**admin, "If-Match": etag})

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2


@pytest.mark.parametrize("etag", ['W/"2"', "2"])
def test_if_match_accepts_weak_and_bare_etags(client, admin, product_factory, etag):
    product = product_factory("P")
    client.patch(url(product), json={"name": "Second"}, headers=admin)

    response = client.patch(url(product), json={"name": "Third"}, headers={**admin, "If-Match": etag})

    assert response.status_code == 200, response.text
    assert response.json()["version"] == 3


def test_if_match_with_a_stale_version_is_a_412_and_changes_nothing(client, admin, product_factory, snapshot):
    # given a product read at version 1, then changed by someone else
    product = product_factory("P")
    stale = client.get(url(product), headers=admin).headers["ETag"]
    client.patch(url(product), json={"name": "Theirs"}, headers=admin)
    before = snapshot()

    # when a change based on the stale read arrives
    response = client.patch(url(product), json={"name": "Mine"}, headers={**admin, "If-Match": stale})

    # then it is refused and their change stands
    assert_problem(response, 412, "version-mismatch")
    assert snapshot() == before
    current = client.get(url(product), headers=admin).json()
    assert (current["name"], current["version"]) == ("Theirs", 2)


def test_if_match_that_is_not_an_etag_is_a_422(client, admin, product_factory):
    product = product_factory("P")

    response = client.patch(url(product), json={"name": "Mine"}, headers={**admin, "If-Match": '"abc"'})

    assert_problem(response, 422, "invalid-if-match")


def test_if_match_star_matches_any_current_version(client, admin, product_factory):
    product = product_factory("P")
    client.patch(url(product), json={"name": "Theirs"}, headers=admin)

    response = client.patch(url(product), json={"name": "Mine"}, headers={**admin, "If-Match": "*"})

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["version"]) == ("Mine", 3)


def test_a_patch_of_an_unknown_product_is_a_404(client, admin, company):
    assert_problem(client.patch(f"{API}/products/{uuid.uuid4()}", json={"name": "X"}, headers=admin), 404)


# -- filters --------------------------------------------------------------------------------------


@pytest.fixture
def catalogue(product_factory):
    return {
        "shirt": product_factory(
            "TSH-RED", name="Red T-Shirt", category="Apparel/Tops", barcodes=[ean13(11)], channels=["pos"]
        ),
        "jeans": product_factory(
            "JNS-01", name="Blue Jeans", category="Apparel/Bottoms", channels=["web", "marketplace"]
        ),
        "apparel": product_factory("GIFT-BOX", name="Gift box", category="Apparel"),
        "lookalike": product_factory(
            "APL-1", name="Apple", category="Apparelish/Food", tax_category="reduced"
        ),
        "old": product_factory("OLD-1", name="Old shirt", category="Apparel/Tops", active=False),
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sku": "JNS-01"}, ["jeans"]),
        ({"sku": "jns-01"}, []),
        ({"barcode": ean13(11)}, ["shirt"]),
        ({"barcode": ean13(12)}, []),
        ({"category": "Apparel"}, ["shirt", "jeans", "apparel", "old"]),
        ({"category": "Apparel/Tops"}, ["shirt", "old"]),
        ({"category": "Apparelish"}, ["lookalike"]),
        ({"category": "Appar"}, []),
        ({"channel": "pos"}, ["shirt", "apparel", "lookalike", "old"]),
        ({"channel": "marketplace"}, ["jeans"]),
        ({"active": "false"}, ["old"]),
        ({"active": "true", "category": "Apparel/Tops"}, ["shirt"]),
        ({"q": "SHIRT"}, ["shirt", "old"]),
        ({"q": "jns"}, ["jeans"]),
        ({"tax_category": "reduced"}, ["lookalike"]),
        ({"q": "shirt", "channel": "web"}, ["old"]),
    ],
)
def test_products_are_filtered(client, admin, catalogue, params, expected):
    response = client.get(f"{API}/products", params=params, headers=admin)

    assert response.status_code == 200, response.text
    assert ids(response.json()["items"]) == [catalogue[name]["id"] for name in expected]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"channel": "shop"}, "channel"), ({"active": "perhaps"}, "active"), ({"colour": "red"}, "colour")],
)
def test_an_invalid_filter_is_a_422(client, admin, company, params, field):
    assert_problem(client.get(f"{API}/products", params=params, headers=admin), 422, fields=(field,))


def test_like_wildcards_in_filters_are_taken_literally(client, admin, product_factory):
    # given a product whose name has a percent sign and categories that differ where "_" stands
    sale = product_factory("SALE", name="50% off", category="Home_Garden")
    product_factory("PLAIN", name="Full price", category="HomeXGarden/Tools")
    underscored = product_factory("TOOLS", name="Rake", category="Home_Garden/Tools")

    by_q = client.get(f"{API}/products", params={"q": "%"}, headers=admin).json()["items"]
    by_category = client.get(f"{API}/products", params={"category": "Home_Garden"}, headers=admin).json()[
        "items"
    ]

    assert ids(by_q) == [sale["id"]]
    assert ids(by_category) == [sale["id"], underscored["id"]]


# -- exact money ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "sent", "returned"),
    [
        ("list_price", "0.3", "0.30"),
        ("list_price", "0.1", "0.10"),
        ("list_price", "1234567.8912", "1234567.8912"),
        ("list_price", "0", "0.00"),
        ("list_price", "19.9900", "19.99"),
        ("standard_cost", "12.345678", "12.345678"),
        ("standard_cost", "0.000001", "0.000001"),
    ],
)
def test_amounts_are_kept_exactly(client, admin, product_factory, field, sent, returned):
    product = product_factory("P", **{field: sent})

    assert product[field] == returned
    assert client.get(url(product), headers=admin).json()[field] == returned


def test_amounts_read_back_add_up_exactly(client, admin, product_factory):
    # given prices whose sum a binary float gets wrong (0.1 + 0.2 != 0.3)
    one = product_factory("ONE", list_price="0.1")
    two = product_factory("TWO", list_price="0.2")

    listed = client.get(f"{API}/products", headers=admin).json()["items"]
    total = sum((Decimal(p["list_price"]) for p in listed if p["id"] in (one["id"], two["id"])), Decimal(0))

    # then the amounts, as strings, add up to exactly 0.30
    assert all(isinstance(p["list_price"], str) for p in listed)
    assert total == Decimal("0.3")
    assert (
        client.patch(url(one), json={"list_price": str(total)}, headers=admin).json()["list_price"] == "0.30"
    )
