"""Domain errors with a stable code, an HTTP-independent meaning and the data that explains them.

Edges map them: the API to RFC 9457 problem documents, the CLI to a message and a non-zero exit.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FieldProblem:
    """One thing wrong with one input field. ``field`` is a dotted path (``barcodes.1``)."""

    field: str
    message: str


@dataclass
class RetailcoreError(Exception):
    """Base of all expected errors. ``code`` is stable and documented; ``detail`` is for humans."""

    detail: str
    code: str = "error"
    problems: list[FieldProblem] = field(default_factory=list)

    def __str__(self) -> str:
        return self.detail


@dataclass
class ValidationFailed(RetailcoreError):
    """Input that cannot be accepted as it is (a field's value or shape)."""

    code: str = "validation-failed"


@dataclass
class InvalidReference(RetailcoreError):
    """Input points at something that does not exist (or that the caller may not see)."""

    code: str = "invalid-reference"


@dataclass
class NotFound(RetailcoreError):
    code: str = "not-found"


@dataclass
class Conflict(RetailcoreError):
    """The request collides with existing state: a duplicate unique value, a stale version."""

    code: str = "conflict"


@dataclass
class PreconditionFailed(RetailcoreError):
    code: str = "precondition-failed"


@dataclass
class IdempotencyKeyReused(RetailcoreError):
    """The same idempotency key came back with a different request."""

    code: str = "idempotency-key-reused"


@dataclass
class Unauthenticated(RetailcoreError):
    code: str = "unauthenticated"


@dataclass
class PermissionDenied(RetailcoreError):
    code: str = "permission-denied"
