"""Connector secrets, encrypted at rest with the installation's key.

Shopify signs each webhook with the app's client secret, and checking the signature needs the secret
itself, so it cannot be hashed: it is encrypted with Fernet (AES-128-CBC with HMAC-SHA256, from
``cryptography``) under ``RETAILCORE_CONNECTOR_KEY`` (``Fernet.generate_key()``: 32 random bytes, url-safe
base64). The key stays outside the database, so a copy of the database alone reveals no secret. Without
a key configured, connectors can still be listed but none can be given a secret (409).
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken

from retailcore.core.errors import Conflict, FieldProblem


def _fernet(key: str | None) -> Fernet:
    if not key:
        raise Conflict(
            "no connector key is configured: set RETAILCORE_CONNECTOR_KEY (see docs/integrations.md#shopify)",
            code="connector-key-missing",
            problems=[FieldProblem("secret", "cannot be stored without RETAILCORE_CONNECTOR_KEY")],
        )
    try:
        return Fernet(key.encode())
    except ValueError:
        raise Conflict(
            "RETAILCORE_CONNECTOR_KEY is not a Fernet key (32 url-safe base64-encoded bytes)",
            code="connector-key-invalid",
        ) from None


def new_key() -> str:
    return Fernet.generate_key().decode()


def seal(key: str | None, secret: str) -> str:
    return _fernet(key).encrypt(secret.encode()).decode()


def unseal(key: str | None, token: str) -> str | None:
    """The secret, or None when it cannot be read with this key (a rotated or wrong key)."""
    try:
        return _fernet(key).decrypt(token.encode()).decode()
    except InvalidToken:
        return None
