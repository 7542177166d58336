"""Marketplace order reports over HTTP: ``POST /connectors/{id}/imports``.

Thin: the route takes the file (the raw body as ``text/csv`` or ``application/json``, or the part
``file`` of a ``multipart/form-data`` upload), checks ``connectors:write`` and calls
:func:`retailcore.connectors.marketplace.import_report` in one transaction. A mapping or a file that
does not fit is a 422 problem naming the field and the column; nothing is written then. An
``Idempotency-Key`` makes a retried upload answer with the first result. No ``from __future__ import
annotations``: FastAPI reads the route annotations at runtime.
"""

import email.parser
import email.policy
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from sqlalchemy.orm import Session

from retailcore.adapters.orm import utcnow
from retailcore.connectors import commands as c
from retailcore.connectors import marketplace
from retailcore.connectors import services as svc
from retailcore.core.errors import FieldProblem, ValidationFailed
from retailcore.entrypoints.api.deps import Api, DecimalRoute, writer
from retailcore.eventlog.services import CommandContext

router = APIRouter(route_class=DecimalRoute, tags=["connectors"])


def _upload(content_type: str, body: bytes) -> tuple[bytes, str | None, str]:
    """The file and its name out of the request: the part named ``file`` of a multipart form, else the
    body itself."""
    if not content_type.startswith("multipart/form-data"):
        return body, None, content_type
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    for part in form.iter_parts() if form.is_multipart() else []:
        if part.get_param("name", header="content-disposition") == "file":
            return part.get_payload(decode=True) or b"", part.get_filename(), part.get_content_type()
    raise ValidationFailed("the form has no part named file", problems=[FieldProblem("file", "required")])


@router.post(
    "/connectors/{connector_id}/imports",
    response_model=c.ImportView,
    summary="Import a marketplace order report (CSV or JSON)",
    description=(
        "The report as the body (`text/csv` or `application/json`) or as the part `file` of a"
        " `multipart/form-data` upload; read with the connector's column mapping (`settings.report`, see"
        " docs/integrations.md). Each order is one inbound message of the sync log: landed once in the"
        " `marketplace` channel, paid through the connector's gateway; an order landed before counts as a"
        " duplicate; a bad row fails its order only (replay it after a fix). A mapping or a header that"
        " does not fit is a 422 naming the column, and nothing is written."
    ),
    responses={422: {"description": "The mapping, the file or its columns do not fit"}},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/json": {"schema": {}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                        "required": ["file"],
                    }
                },
            },
        }
    },
)
async def import_report(
    connector_id: uuid.UUID,
    api: Annotated[Api, Depends(writer("connectors:write"))],
    file_format: Annotated[
        Literal["csv", "json"] | None,
        Query(alias="format", description="Defaults to the upload's name or content type (else csv)."),
    ] = None,
) -> Response:
    body = await api.request.body()
    data, filename, content_type = _upload(api.request.headers.get("content-type", ""), body)
    chosen = file_format or marketplace.guess_format(filename, content_type)

    def work(session: Session, ctx: CommandContext) -> c.ImportView:
        connector = svc.connector_in_scope(session, api.principal, connector_id)
        summary = marketplace.import_report(
            session, connector, data, file_format=chosen, source=filename or "upload", now=utcnow()
        )
        return c.ImportView.model_validate(summary, from_attributes=True)

    return await api.command(work)
