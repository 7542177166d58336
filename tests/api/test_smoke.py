from __future__ import annotations


def test_health_reports_database_ok(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_create_and_read_product(client, admin, company):
    body = {
        "company_id": company["id"],
        "sku": "TSH-1",
        "name": "T-shirt",
        "category": "Apparel/Tops",
        "list_price": "19.99",
        "standard_cost": "7.123456",
        "barcodes": ["4006381333931"],
        "channels": ["pos", "web"],
    }
    created = client.post("/api/v1/products", json=body, headers=admin)
    assert created.status_code == 201, created.text
    product = created.json()
    assert product["list_price"] == "19.99"
    assert product["standard_cost"] == "7.123456"
    read = client.get(f"/api/v1/products/{product['id']}", headers=admin)
    assert read.json()["barcodes"] == ["4006381333931"]
