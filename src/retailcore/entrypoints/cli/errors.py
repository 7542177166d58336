"""How the command line fails: one style for every error, and no traceback for the environment's.

Every error is printed on stderr as::

    error: <what is wrong>
      <option or field>: <what is wrong with it>     (when a refusal lists them)
    hint: <how to fix it>                             (when there is something to say)

and ends the command with exit status :data:`REFUSED` (1) when the operation was refused (an unknown
company, a rule of the domain, a file that is not valid), or :data:`CANNOT_RUN` (2) when the command
cannot run as given: a usage error (an unknown option, a malformed date), the configuration (a
``RETAILCORE_*`` variable, a database URL no driver reads), or a database that cannot be reached or
holds no retailcore schema. Messages name the CLI's options (``--from``), not the API's fields
(``date_from``). A command that fails leaves no database file behind that it created itself.
See docs/cli.md, "Errors", and decision 0022.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from typer.core import TyperGroup

from retailcore.core.errors import FieldProblem, RetailcoreError
from retailcore.entrypoints.bootstrap import Runtime, bootstrap
from retailcore.entrypoints.settings import Settings

# typer carries its own copy of click and exports only some of its exceptions; the others are their bases.
UsageError: type[Exception] = typer.BadParameter.__base__  # type: ignore[assignment]
ClickException: type[Exception] = UsageError.__base__  # type: ignore[assignment]

REFUSED = 1
CANNOT_RUN = 2
MAX_PRINTED_PROBLEMS = 50

_URL = "RETAILCORE_DATABASE_URL"
SUPPORTED_URLS = "sqlite:///path.db or postgresql://user@host:port/database"

OPTION_OF_FIELD = {
    "date_from": "--from",
    "date_to": "--to",
    "group_by": "--by",
    "as_of": "--as-of",
    "company_id": "--company",
    "account_id": "--account",
}
"""The API's parameter names that the services' messages use, and the options the CLI calls them."""
_FIELD_NAMES = re.compile(r"\b(" + "|".join(OPTION_OF_FIELD) + r")\b")


class CommandError(Exception):
    """An error to print in the CLI's style and exit with, raised where a ``typer.Exit`` would not do
    (below the command function) and caught by :class:`Commands`."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        problems: Sequence[FieldProblem] = (),
        exit_code: int = REFUSED,
    ) -> None:
        super().__init__(message)
        self.message, self.hint, self.problems, self.exit_code = message, hint, problems, exit_code


def option_names(message: str) -> str:
    """``date_from 2026-12-01 is after date_to 2026-11-01`` -> ``--from 2026-12-01 is after --to ...``."""
    return _FIELD_NAMES.sub(lambda match: OPTION_OF_FIELD[match[1]], message)


def print_error(message: str, *, hint: str | None = None, problems: Sequence[FieldProblem] = ()) -> None:
    """The one way an error reaches stderr. Plain text: a message quoting input such as ``[x]`` is
    printed as it is, never read as markup."""
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    err.print(Text.assemble(("error:", "bold red"), " ", message))
    for problem in problems[:MAX_PRINTED_PROBLEMS]:
        err.print(Text(f"  {problem.field}: {problem.message}"))
    if len(problems) > MAX_PRINTED_PROBLEMS:
        err.print(Text(f"  ... and {len(problems) - MAX_PRINTED_PROBLEMS} more"))
    if hint:
        err.print(Text.assemble(("hint:", "bold"), " ", hint))


def fail(
    message: str,
    *,
    hint: str | None = None,
    problems: Sequence[FieldProblem] = (),
    exit_code: int = REFUSED,
) -> CommandError:
    """``raise fail("no such file: x.csv")``: print in the CLI's style and exit (1 unless told)."""
    return CommandError(message, hint=hint, problems=problems, exit_code=exit_code)


def refused(exc: RetailcoreError, *, problems: bool = True) -> CommandError:
    """A domain error as the CLI says it: its message and (unless the message says all there is to
    say) its field problems, with the CLI's option names."""
    listed = [FieldProblem(option_names(p.field), option_names(p.message)) for p in exc.problems]
    return CommandError(option_names(str(exc)), problems=listed if problems else ())


# -- the database, as configured -------------------------------------------------------------------

_opened: list[tuple[Engine, Path | None]] = []
"""The engines the running command opened, each with the SQLite file it created (if it did)."""


def _configuration(name: str, message: str, hint: str | None = None) -> CommandError:
    return CommandError(f"{name}: {message}", hint=hint, exit_code=CANNOT_RUN)


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "RETAILCORE_" + str(first["loc"][0]).upper()
        raise _configuration(name, first["msg"], "fix or unset it (README: Running it for real)") from None


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory ones); an unusable URL is a
    configuration error."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise _configuration(_URL, "not a database URL", f"use {SUPPORTED_URLS}") from None
    backend = parsed.drivername.partition("+")[0]
    if backend not in ("sqlite", "postgresql", "postgres"):
        raise _configuration(_URL, f"{backend} is not supported", f"use {SUPPORTED_URLS}") from None
    if backend != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database).absolute()


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def runtime(*, creates_database: bool = False) -> Runtime:
    """The runtime every command works with (:func:`bootstrap`), connected once, so that what is wrong
    with the environment is said in one line and exit status 2, before the command starts.

    A SQLite file that does not exist is created only by the commands that create the schema
    (``creates_database``: ``init``, ``db upgrade``); the others say there is no database rather than
    leave an empty file behind.
    """
    settings = _settings()
    url = settings.database_url
    file = _sqlite_file(url)
    created = None
    if file is not None and not file.exists():
        if not creates_database:
            raise CommandError(
                f"there is no database at {file}",
                hint="create it with 'retailcore db upgrade' (or 'retailcore init --demo' for a demo),"
                " or point RETAILCORE_DATABASE_URL at yours",
                exit_code=CANNOT_RUN,
            )
        if not file.parent.is_dir():
            raise _configuration(_URL, f"there is no directory {file.parent} for the database file")
        created = file
    try:
        ready = bootstrap(settings)
    except (ArgumentError, NoSuchModuleError, ImportError) as exc:
        # A dialect SQLAlchemy knows whose driver is not installed (postgresql+psycopg2://...).
        message = f"cannot load the driver of {_shown(url)} ({exc})"
        raise _configuration(_URL, message, f"use {SUPPORTED_URLS}") from None
    _opened.append((ready.engine, created))
    try:
        ready.engine.connect().close()
    except DBAPIError as exc:
        raise CommandError(
            f"cannot connect to the database {_shown(url)}: {_first_line(exc)}",
            hint="check that the database server runs and that RETAILCORE_DATABASE_URL names it,"
            " its user and its database",
            exit_code=CANNOT_RUN,
        ) from None
    return ready


def _first_line(exc: DBAPIError) -> str:
    """What the driver said, on one line: psycopg adds a line of advice and doubles some spaces."""
    said = str(exc.orig).strip().splitlines()[0]
    said = said.removeprefix("connection failed: ")
    return " ".join(said.split())


def _close_databases(failed: bool) -> None:
    """Dispose of the engines the command opened; if it failed, remove the SQLite files it created."""
    while _opened:
        engine, created = _opened.pop()
        engine.dispose()
        if failed and created is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{created}{suffix}").unlink(missing_ok=True)


def _missing_schema(error: DBAPIError) -> bool:
    """SQLite's "no such table", PostgreSQL's undefined table (SQLSTATE 42P01)."""
    driver_error = error.orig
    return "no such table" in str(driver_error) or getattr(driver_error, "sqlstate", None) == "42P01"


# -- every command -----------------------------------------------------------------------------------


def _sentence(message: str) -> str:
    """click's "Missing option '--x'." -> "missing option '--x'", as the CLI's own messages read."""
    message = message.strip().rstrip(".")
    if len(message) > 1 and message[0].isupper() and message[1].islower():
        message = message[0].lower() + message[1:]
    return message


def _parameter(exc: typer.BadParameter) -> str | None:
    """The option (every name of it) or argument a usage error is about, as the user typed it."""
    if exc.param_hint is not None:
        hint = exc.param_hint
        return hint if isinstance(hint, str) else " / ".join(hint)
    param = exc.param
    if param is None:
        return None
    if param.param_type_name == "option":
        long_names = [name for name in param.opts if name.startswith("--")]
        return " / ".join(long_names or param.opts)
    return param.human_readable_name


def _usage(exc: Any) -> None:
    help_hint = f"'{exc.ctx.command_path} --help' lists what it takes" if exc.ctx is not None else None
    if type(exc).__name__ == "MissingParameter":
        kind = exc.param_type or (exc.param.param_type_name if exc.param is not None else "parameter")
        print_error(f"missing {kind} {_parameter(exc)}", hint=help_hint)
    elif isinstance(exc, typer.BadParameter):
        where = _parameter(exc)
        message = exc.message.strip().rstrip(".")
        print_error(f"{where}: {message}" if where else _sentence(message))
    else:
        print_error(_sentence(exc.format_message()), hint=help_hint)


class Commands(TyperGroup):
    """The ``retailcore`` group: every command's errors end here, in one style (see the module)."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        status = REFUSED
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)
            # Without standalone mode, click returns the status of a typer.Exit, and the command's value.
            status = result if isinstance(result, int) else 0
        except UsageError as exc:
            status = exc.exit_code  # type: ignore[attr-defined]
            if type(exc).__name__ != "NoArgsIsHelpError":  # that one has printed the help already
                _usage(exc)
        except ClickException as exc:
            status = exc.exit_code  # type: ignore[attr-defined]
            print_error(_sentence(exc.format_message()))  # type: ignore[attr-defined]
        except typer.Abort:
            print_error("aborted")
        except CommandError as exc:
            status = exc.exit_code
            print_error(exc.message, hint=exc.hint, problems=exc.problems)
        except RetailcoreError as exc:
            error = refused(exc)
            print_error(error.message, problems=error.problems)
        except DBAPIError as exc:
            if _missing_schema(exc):
                status = CANNOT_RUN
                print_error(
                    "the database has no retailcore schema, or an older one",
                    hint="run 'retailcore db upgrade' (or 'retailcore init --demo' for a demo) first",
                )
            elif isinstance(exc, OperationalError):
                # The server went away, the disk is full, a lock was held too long: not a bug here.
                status = CANNOT_RUN
                print_error(f"the database failed: {_first_line(exc)}", hint="run the command again")
            else:
                raise
        finally:
            _close_databases(failed=sys.exc_info()[0] is not None or status != 0)
        sys.exit(status)


def json_mapping(path: Path | None) -> dict[str, Any] | None:
    """A ``--mapping`` file (a JSON object), or a clear failure naming the file; None without one."""
    if path is None:
        return None
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise fail(f"{path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(mapping, dict):
        raise fail(f"{path}: the mapping is a JSON object")
    return mapping
