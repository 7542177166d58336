"""A local Odoo contract server: the part of Odoo's external API the connector uses, over real HTTP.

A real Odoo cannot run on these machines; the connector is tested against this server instead. It is
written from Odoo's documentation of its external API (../shared/fixtures/FORMATS.md section 3:
``odoo/addons/base/controllers/rpc.py``, ``odoo/service/common.py`` and ``model.py``, the JSON-2
reference ``external_api.rst``), not from Odoo's code, and it speaks both protocols:

* ``POST /jsonrpc``: ``{"jsonrpc": "2.0", "method": "call", "id": n, "params": {"service", "method",
  "args"}}``; ``common.authenticate(db, login, password, {})`` and ``common.login`` answer the uid or
  ``false``, ``common.version`` the version; ``object.execute_kw(db, uid, password, model, method, args[,
  kwargs])`` checks the credentials on every call. Errors: ``{"error": {"code": 200, "message": "Odoo
  Server Error", "data": {"name": "odoo.exceptions.<Name>", "message", "arguments", "context", "debug"}}}``.
* ``POST /json/2/<model>/<method>``: ``Authorization: bearer <API key>``, optional ``X-Odoo-Database``,
  the method's parameters by name (``ids``, ``domain``, ``fields``, ``limit``, ``vals_list``, ``vals``);
  200 and the result, or 401/403/404/422 and ``{"name", "message", "arguments", "context", "debug"}``.

Models and methods: ``search_read`` (domains of ``=``/``in`` terms, ANDed), ``create`` (a list of values,
ids answered), ``write``, and ``account.move.action_post``, on ``account.account``, ``account.journal``,
``account.tax`` (seeded), ``account.move``, ``product.product``, ``res.partner`` and ``ir.model.data``.
It validates what Odoo would refuse: ``line_ids`` and many2many values must be command triples
(``[0, 0, {...}]`` CREATE, ``[6, 0, [ids]]`` SET), accounts, journals and taxes must exist, a line has
a debit or a credit (never negative, never both), amounts are JSON numbers with at most the currency's
2 decimals, a move balances to be created and posted, a posted move cannot be written or posted
again, barcodes and external ids are unique, external ids point at records that exist. Its in-memory
database (``server.db``) is what the tests inspect, and ``server.requests`` every request as sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

ACCOUNTS = {101: "101000 Cash", 102: "102000 Card clearing", 401: "400000 Sales", 251: "251000 Output VAT"}
JOURNALS = {3: "MISC", 7: "POS"}
TAXES = {21: "VAT 20%", 22: "VAT 5.5%"}
MOVE_TYPES = ("entry", "out_invoice", "out_refund", "in_invoice", "in_refund", "out_receipt", "in_receipt")


class OdooFault(Exception):
    """An exception Odoo would raise: ``name`` is its class (``ValidationError``)."""

    STATUS: ClassVar[dict[str, int]] = {"AccessDenied": 401, "AccessError": 403, "MissingError": 404}

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message

    def payload(self) -> dict[str, Any]:
        module = "werkzeug.exceptions" if self.name == "Unauthorized" else "odoo.exceptions"
        return {
            "name": f"{module}.{self.name}",
            "message": self.message,
            "arguments": [self.message],
            "context": {},
            "debug": f"Traceback (most recent call last):\n{module}.{self.name}: {self.message}",
        }

    @property
    def status(self) -> int:
        return self.STATUS.get(self.name, 401 if self.name == "Unauthorized" else 422)


class OdooDatabase:
    """The records of one Odoo database, per model: ``db.records("account.move")``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.tables: dict[str, dict[int, dict[str, Any]]] = {
            "account.account": {i: {"id": i, "code": t.split()[0], "name": t} for i, t in ACCOUNTS.items()},
            "account.journal": {i: {"id": i, "code": c, "name": c} for i, c in JOURNALS.items()},
            "account.tax": {i: {"id": i, "name": n} for i, n in TAXES.items()},
            "account.move": {},
            "account.move.line": {},
            "product.product": {},
            "res.partner": {},
            "ir.model.data": {},
        }
        self._next = 1000
        self.lock = threading.Lock()
        self.faults: list[tuple[str, str]] = []
        """``(model, method)`` calls to fail once each, as a crash at Odoo's end would (nothing done)."""

    def records(self, model: str) -> list[dict[str, Any]]:
        return list(self.tables[model].values())

    def _id(self) -> int:
        self._next += 1
        return self._next

    # -- the ORM's methods --------------------------------------------------------------------------

    def call(self, model: str, method: str, params: dict[str, Any]) -> Any:
        with self.lock:
            if model not in self.tables:
                raise OdooFault("MissingError", f"Model {model} does not exist.")
            if (model, method) in self.faults:
                self.faults.remove((model, method))
                raise OdooFault("UserError", f"simulated failure of {model}.{method}")
            if method == "search_read":
                return self.search_read(
                    model, params.get("domain") or [], params.get("fields"), params.get("limit")
                )
            if method == "create":
                vals_list = params.get("vals_list")
                single = isinstance(vals_list, dict)
                if single:
                    vals_list = [vals_list]
                if not isinstance(vals_list, list) or not all(isinstance(v, dict) for v in vals_list):
                    raise OdooFault("ValidationError", "create expects a list of dictionaries of values")
                ids = [self.create(model, vals) for vals in vals_list]
                return ids[0] if single else ids
            if method == "write":
                return self.write(model, self._ids(params), params.get("vals"))
            if method == "action_post" and model == "account.move":
                return self.action_post(self._ids(params))
            raise OdooFault("AttributeError", f"The method '{method}' does not exist on the model '{model}'")

    @staticmethod
    def _ids(params: dict[str, Any]) -> list[int]:
        ids = params.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise OdooFault("ValidationError", f"ids must be a list of integers, not {ids!r}")
        return ids

    def search_read(self, model: str, domain: list[Any], fields: list[str] | None, limit: int | None) -> list:
        if not isinstance(domain, list):
            raise OdooFault("ValidationError", f"Invalid domain {domain!r}")
        found = []
        for record in self.tables[model].values():
            if all(self._matches(record, term) for term in domain):
                found.append({f: record.get(f, False) for f in (fields or record)} | {"id": record["id"]})
        return found[:limit] if limit else found

    @staticmethod
    def _matches(record: dict[str, Any], term: Any) -> bool:
        if not isinstance(term, list) or len(term) != 3:
            raise OdooFault("ValidationError", f"Invalid leaf {term!r}")
        field, operator, value = term
        if operator == "=":
            return record.get(field) == value
        if operator == "in":
            return record.get(field) in value
        raise OdooFault("ValidationError", f"operator {operator!r} not supported here")

    def create(self, model: str, vals: dict[str, Any]) -> int:
        check = getattr(self, f"_check_{model.replace('.', '_')}", None)
        record = dict(vals)
        if check:
            record = check(record) or record
        record["id"] = self._id()
        self.tables[model][record["id"]] = record
        if model == "account.move":
            lines = []
            for command in vals["line_ids"]:
                line = dict(command[2], id=self._id(), move_id=record["id"])
                self.tables["account.move.line"][line["id"]] = line
                lines.append(line["id"])
            record["line_ids"] = lines
            record["state"] = "draft"
        return record["id"]

    def write(self, model: str, ids: list[int], vals: Any) -> bool:
        if not isinstance(vals, dict):
            raise OdooFault("ValidationError", "write expects a dictionary of values")
        for record_id in ids:
            record = self.tables[model].get(record_id)
            if record is None:
                raise OdooFault(
                    "MissingError", f"Record does not exist or has been deleted. ({model}({record_id},))"
                )
            if model == "account.move" and record["state"] == "posted":
                raise OdooFault("UserError", "You cannot modify a posted entry of this journal.")
            merged = record | vals
            check = getattr(self, f"_check_{model.replace('.', '_')}", None)
            if check:
                merged = check(merged, record_id) or merged
            record.update(merged)
        return True

    def action_post(self, ids: list[int]) -> bool:
        for move_id in ids:
            move = self.tables["account.move"].get(move_id)
            if move is None:
                raise OdooFault(
                    "MissingError", f"Record does not exist or has been deleted. (account.move({move_id},))"
                )
            if move["state"] != "draft":
                raise OdooFault("UserError", "Only draft journal entries can be posted.")
            lines = [self.tables["account.move.line"][i] for i in move["line_ids"]]
            if sum(line["debit"] for line in lines) != sum(line["credit"] for line in lines):
                raise OdooFault("UserError", "The move is not balanced.")
            move["state"] = "posted"
        return False  # action_post returns nothing: False over RPC (FORMATS.md 3.1)

    # -- validation, as Odoo refuses --------------------------------------------------------------

    def _amount(self, value: Any, what: str) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise OdooFault("ValidationError", f"{what} must be a number, not {value!r}")
        amount = Decimal(value)
        if amount != amount.quantize(Decimal("0.01")):
            raise OdooFault("ValidationError", f"{what} {value} has more decimals than the currency's 2")
        return amount

    def _many2many(self, value: Any, model: str, what: str) -> list[int]:
        if not isinstance(value, list) or not all(isinstance(c, list) and len(c) == 3 for c in value):
            raise OdooFault("ValidationError", f"{what}: x2many values are command triples, got {value!r}")
        ids: list[int] = []
        for command in value:
            if command[0] != 6 or command[1] != 0 or not isinstance(command[2], list):
                raise OdooFault("ValidationError", f"{what}: expected [6, 0, [ids]], got {command!r}")
            for i in command[2]:
                if i not in self.tables[model]:
                    raise OdooFault("MissingError", f"{what}: {model}({i},) does not exist")
            ids = list(command[2])
        return ids

    def _check_account_move(self, vals: dict[str, Any], record_id: int | None = None) -> None:
        if vals.get("move_type", "entry") not in MOVE_TYPES:
            raise OdooFault(
                "ValidationError", f"Wrong value for account.move.move_type: {vals['move_type']!r}"
            )
        if vals.get("journal_id") not in self.tables["account.journal"]:
            raise OdooFault("ValidationError", f"journal_id {vals.get('journal_id')!r} is not a journal")
        if not isinstance(vals.get("date"), str) or len(vals["date"]) != 10:
            raise OdooFault("ValidationError", f"date {vals.get('date')!r} is not YYYY-MM-DD")
        if record_id is not None:
            return
        commands = vals.get("line_ids")
        if not isinstance(commands, list) or not commands:
            raise OdooFault("ValidationError", "line_ids must be a list of commands")
        debit = credit = Decimal(0)
        for n, command in enumerate(commands):
            if not (isinstance(command, list) and len(command) == 3 and command[0] == 0 and command[1] == 0):
                raise OdooFault(
                    "ValidationError", f"line_ids[{n}]: expected [0, 0, {{values}}], got {command!r}"
                )
            line = command[2]
            if not isinstance(line, dict):
                raise OdooFault("ValidationError", f"line_ids[{n}]: the values must be a dictionary")
            if line.get("account_id") not in self.tables["account.account"]:
                raise OdooFault(
                    "ValidationError",
                    f"line_ids[{n}]: account_id {line.get('account_id')!r} is not an account",
                )
            line_debit = self._amount(line.get("debit", 0), f"line_ids[{n}].debit")
            line_credit = self._amount(line.get("credit", 0), f"line_ids[{n}].credit")
            if line_debit < 0 or line_credit < 0 or (line_debit and line_credit):
                raise OdooFault(
                    "ValidationError", f"line_ids[{n}]: a line is a debit or a credit, never negative"
                )
            if "tax_ids" in line:
                self._many2many(line["tax_ids"], "account.tax", f"line_ids[{n}].tax_ids")
            debit += line_debit
            credit += line_credit
        if debit != credit:
            raise OdooFault(
                "UserError",
                f"The entry is not balanced: debits {debit} differ from credits {credit}.",
            )

    def _check_product_product(self, vals: dict[str, Any], record_id: int | None = None) -> None:
        if not vals.get("name"):
            raise OdooFault("ValidationError", "The product needs a name (product.template.name is required)")
        self._amount(vals.get("list_price", 0), "list_price")
        if vals.get("type", "consu") not in ("consu", "service", "combo"):
            raise OdooFault("ValidationError", f"Wrong value for product.template.type: {vals['type']!r}")
        barcode = vals.get("barcode")
        if barcode:
            for other in self.tables["product.product"].values():
                if other["id"] != record_id and other.get("barcode") == barcode:
                    raise OdooFault("ValidationError", f"Barcode(s) already assigned: {barcode}")
        if "taxes_id" in vals and not (
            isinstance(vals["taxes_id"], list) and all(isinstance(i, int) for i in vals["taxes_id"])
        ):
            vals["taxes_id"] = self._many2many(vals["taxes_id"], "account.tax", "taxes_id")

    def _check_res_partner(self, vals: dict[str, Any], record_id: int | None = None) -> None:
        if not vals.get("name"):
            raise OdooFault("ValidationError", "Contacts require a name")

    def _check_ir_model_data(self, vals: dict[str, Any], record_id: int | None = None) -> None:
        for field in ("module", "name", "model", "res_id"):
            if not vals.get(field):
                raise OdooFault("ValidationError", f"ir.model.data: {field} is required")
        for other in self.tables["ir.model.data"].values():
            if other["id"] != record_id and (other["module"], other["name"]) == (
                vals["module"],
                vals["name"],
            ):
                raise OdooFault(
                    "ValidationError",
                    f'duplicate key value violates unique constraint "ir_model_data_module_name_uniq_index"'
                    f" ({vals['module']}.{vals['name']})",
                )
        if vals["res_id"] not in self.tables.get(vals["model"], {}):
            raise OdooFault("MissingError", f"{vals['model']}({vals['res_id']},) does not exist")


class OdooContractServer:
    """The server on 127.0.0.1, on a port of its own, in a thread: ``with odoo_server() as server``."""

    def __init__(
        self,
        database: str = "retail",
        login: str = "bot@example.com",
        password: str = "s3cret",
        api_key: str = "0123456789abcdef0123456789abcdef01234567",
        uid: int = 7,
    ) -> None:
        self.db = OdooDatabase(database)
        self.login, self.password, self.api_key, self.uid = login, password, api_key, uid
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                server.requests.append((self.path, dict(self.headers), raw))
                status, answer = server.answer(self.path, self.headers, raw)
                data = json.dumps(answer, default=_number).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    def start(self) -> OdooContractServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    # -- the two protocols --------------------------------------------------------------------------

    def answer(self, path: str, headers: Any, raw: bytes) -> tuple[int, Any]:
        try:
            body = json.loads(raw, parse_float=Decimal)
        except ValueError:
            return 400, {"name": "werkzeug.exceptions.BadRequest", "message": "the body is not JSON"}
        if path == "/jsonrpc":
            return 200, self.jsonrpc(body)
        if path.startswith("/json/2/"):
            return self.json2(path, headers, body)
        return 404, {"name": "werkzeug.exceptions.NotFound", "message": f"{path} not found"}

    def _credentials_ok(self, secret: Any) -> bool:
        return secret in (self.password, self.api_key)

    def jsonrpc(self, body: Any) -> dict[str, Any]:
        request_id = body.get("id") if isinstance(body, dict) else None
        try:
            if not isinstance(body, dict) or body.get("jsonrpc") != "2.0" or body.get("method") != "call":
                raise OdooFault("BadRequest", 'a JSON-RPC 2.0 request with "method": "call" is expected')
            params = body.get("params") or {}
            service, method, args = params.get("service"), params.get("method"), params.get("args")
            if not isinstance(args, list):
                raise OdooFault("BadRequest", "params.args must be a list")
            result = self._dispatch(service, method, args)
        except OdooFault as fault:
            return {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": 200, "message": "Odoo Server Error", "data": fault.payload()},
            }
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _dispatch(self, service: Any, method: Any, args: list[Any]) -> Any:
        if service == "common":
            if method == "version":
                return {
                    "server_version": "18.0",
                    "server_version_info": [18, 0, 0, "final", 0, ""],
                    "server_serie": "18.0",
                    "protocol_version": 1,
                }
            if method in ("authenticate", "login"):
                if len(args) != (4 if method == "authenticate" else 3):
                    raise OdooFault(
                        "TypeError", f"{method}() takes {4 if method == 'authenticate' else 3} arguments"
                    )
                db, login, secret = args[:3]
                ok = db == self.db.name and login == self.login and self._credentials_ok(secret)
                return self.uid if ok else False
            raise OdooFault("NotFound", f"common.{method} does not exist")
        if service == "object" and method == "execute_kw":
            if len(args) not in (6, 7):
                raise OdooFault("TypeError", "execute_kw(db, uid, password, model, method, args[, kwargs])")
            db, uid, secret, model, model_method, positional = args[:6]
            kwargs = args[6] if len(args) == 7 else {}
            if db != self.db.name or uid != self.uid or not self._credentials_ok(secret):
                raise OdooFault("AccessDenied", "Access Denied")
            if not isinstance(positional, list) or not isinstance(kwargs, dict):
                raise OdooFault("TypeError", "args must be a list and kwargs a dictionary")
            return self.db.call(model, model_method, _named(model_method, positional, kwargs))
        raise OdooFault("NotFound", f"{service}.{method} does not exist")

    def json2(self, path: str, headers: Any, body: Any) -> tuple[int, Any]:
        try:
            parts = path.split("/")
            if len(parts) != 5:
                raise OdooFault("NotFound", f"{path}: expected /json/2/<model>/<method>")
            model, method = parts[3], parts[4]
            authorization = headers.get("Authorization") or ""
            scheme, _, key = authorization.partition(" ")
            if scheme.lower() != "bearer" or key != self.api_key:
                raise OdooFault("Unauthorized", "Invalid apikey")
            database = headers.get("X-Odoo-Database")
            if database is not None and database != self.db.name:
                raise OdooFault("Unauthorized", f"database {database!r} not found")
            if not isinstance(body, dict):
                raise OdooFault("BadRequest", "the body must be a JSON object of named arguments")
            return 200, self.db.call(model, method, body)
        except OdooFault as fault:
            return fault.status, fault.payload()


def _named(method: str, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
    """execute_kw's positional arguments by the names JSON-2 uses."""
    names = {
        "search_read": ["domain", "fields", "offset", "limit"],
        "create": ["vals_list"],
        "write": ["ids", "vals"],
        "action_post": ["ids"],
    }.get(method, ["ids"])
    if len(args) > len(names):
        raise OdooFault("TypeError", f"{method}() takes {len(names)} positional arguments")
    return dict(zip(names, args, strict=False)) | kwargs


def _number(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # float-ok: the contract server answers as Odoo does, with JSON floats
    raise TypeError(repr(value))


@contextmanager
def odoo_server(**options: Any) -> Iterator[OdooContractServer]:
    server = OdooContractServer(**options).start()
    try:
        yield server
    finally:
        server.stop()
