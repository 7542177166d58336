"""The API describes itself, serves its interactive docs from its own files, and reports its health
without a token."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from apitools import API

from retailcore.entrypoints.api import docs

COLLECTIONS = [
    "/companies",
    "/stores",
    "/locations",
    "/products",
    "/customers",
    "/payment-methods",
    "/tax-rules",
    "/accounts",
]


@pytest.fixture
def openapi(client):
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("path", COLLECTIONS)
def test_openapi_lists_every_collection_with_its_operations(openapi, path):
    paths = openapi["paths"]

    assert set(paths[f"{API}{path}"]) == {"get", "post"}
    assert set(paths[f"{API}{path}/{{item_id}}"]) == {"get", "patch"}
    post = paths[f"{API}{path}"]["post"]
    assert {"201", "409", "422"} <= set(post["responses"])
    assert "Idempotency-Key" in [p["name"] for p in post.get("parameters", [])]


def test_openapi_lists_the_event_log_and_health(openapi):
    assert "get" in openapi["paths"][f"{API}/events"]
    assert "get" in openapi["paths"][f"{API}/health"]
    assert openapi["info"]["title"] == "retailcore"


class _References(HTMLParser):
    """The URLs a page makes the browser load: script and img ``src``, link ``href``."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "img": "src", "link": "href"}.get(tag)
        self.urls += [value for name, value in attrs if name == wanted and value]


def _references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.urls


CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize(("page", "assets"), [("/docs", 3), ("/redoc", 2)])
def test_the_docs_pages_load_only_what_the_app_serves(client, page, assets):
    response = client.get(page)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert f"{API}/openapi.json" in response.text
    # Nothing from elsewhere: no CDN, no web fonts, no outside validator.
    assert "http://" not in response.text
    assert "https://" not in response.text
    urls = _references(response.text)
    assert len(urls) == assets
    for url in urls:
        assert url.startswith(f"{docs.ASSETS}/"), url
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert asset.headers["content-type"].startswith(CONTENT_TYPES[Path(url).suffix]), url
        assert len(asset.content) > 0


@pytest.mark.parametrize("page", ["/docs", "/redoc", docs.OAUTH2_REDIRECT])
def test_the_docs_pages_let_the_browser_load_nothing_from_elsewhere(client, page):
    response = client.get(page)
    policy = dict(
        directive.strip().split(" ", 1)
        for directive in response.headers["content-security-policy"].split(";")
    )

    assert policy["default-src"] == "'self'"
    assert policy["img-src"] == "'self' data:"
    # Scripts: the app's files, and the page's own inline scripts named by their hashes.
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.DOTALL)
    hashes = {
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" for script in inline
    }
    assert set(policy["script-src"].split()) == {"'self'", *hashes}
    assert "http" not in response.headers["content-security-policy"]


def test_swagger_ui_keeps_the_token_and_asks_no_outside_validator(client):
    page = client.get("/docs").text

    assert '"persistAuthorization": true' in page
    assert '"validatorUrl": null' in page


def test_the_oauth2_redirect_page_is_served(client):
    response = client.get(docs.OAUTH2_REDIRECT)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


def test_only_the_vendored_bundles_are_served(client):
    assert client.get(f"{docs.ASSETS}/README.md").status_code == 404
    assert client.get(f"{docs.ASSETS}/refresh.sh").status_code == 404
    assert client.get(f"{docs.ASSETS}/swagger-ui/LICENSE").status_code == 200


def test_the_docs_pages_stay_out_of_the_openapi_document(openapi):
    assert all(path.startswith(f"{API}/") for path in openapi["paths"])


def _vendored() -> dict[str, tuple[str, str]]:
    """``folder -> (npm package, version)`` from the table of static/README.md."""
    table = (docs.STATIC / "README.md").read_text()
    return {
        folder: (package, version)
        for folder, package, version in re.findall(
            r"^\| `(\w[\w-]*)/` \| `([\w-]+)` \| ([\d.]+) \|", table, re.M
        )
    }


@pytest.mark.parametrize(
    ("folder", "bundle", "licences"),
    [
        ("swagger-ui", "swagger-ui-bundle.js", ["LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"]),
        ("redoc", "redoc.standalone.js", ["LICENSE", "redoc.standalone.js.LICENSE.txt"]),
    ],
)
def test_each_vendored_bundle_is_the_version_its_readme_names_with_its_licences(folder, bundle, licences):
    _, version = _vendored()[folder]

    assert f'"{version}"' in (docs.STATIC / folder / bundle).read_text()
    for licence in licences:
        assert (docs.STATIC / folder / licence).read_text().strip(), licence


def test_health_needs_no_token(client):
    response = client.get(f"{API}/health")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["database"] == "ok"
