"""The one settings class: everything configurable comes from ``RETAILCORE_*`` environment variables."""

from __future__ import annotations

from typing import Literal

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./retailcore.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETAILCORE_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    """SQLAlchemy URL. ``postgresql://`` URLs are run with psycopg 3."""

    read_database_url: str | None = None
    """A replica of the database (a PostgreSQL streaming standby) that reports, KPIs, exports and the
    back office's pages read from while it is at most ``read_max_lag_ms`` behind (docs/scaling.md,
    "Read replicas"; decision 0086). Unset, the default: every read uses ``database_url``."""

    read_max_lag_ms: float = 5000.0
    """How far behind the primary a replica may be for a routed read to use it; past that, or when the
    replica cannot be reached, the read goes to the primary."""

    read_lag_check_ms: float = 1000.0
    """How long one check of the replica's lag is reused before the next (its age counts against
    ``read_max_lag_ms``)."""

    page_size_default: int = 50
    page_size_max: int = 500

    echo_sql: bool = False

    sqlite_background_checkpoints: bool = True
    """On a SQLite file, copy the write-ahead log into the database on a thread of its own instead of
    inside the commit that fills it (docs/decisions/0014-sqlite-checkpoints-in-the-background.md).
    False keeps SQLite's own behaviour."""

    gc_threshold: int = 50_000
    """Allocations between two collections of Python's youngest generation (Python's own default is
    700). A POS batch allocates hundreds of thousands of short-lived objects; with the default, the
    collector ran over a thousand times per 10,000 sales and took a fifth of the time. 0 keeps
    Python's setting. See docs/decisions/0010-garbage-collector.md."""

    # -- bounded requests (docs/api.md, "Limits") --------------------------------------------------

    max_body_bytes: int = 4 * 1024 * 1024
    """A request body above this is refused with 413 before it is read to the end."""

    rate_limit_per_second: float = 50.0
    """Requests per second each token may make, on average (per server process with the ``memory``
    store); 0 turns it off."""

    rate_limit_burst: int = 200
    """Requests a token may make at once before the average applies (the bucket's size)."""

    rate_limit_store: Literal["memory", "database"] = "memory"
    """Where the buckets are kept: ``memory``, in each server process (a token gets the rate in each);
    ``database``, one row per token shared by every process and API node, one statement per request
    (docs/scaling.md, "Several API nodes"; decision 0087)."""

    pos_group_commit_window_ms: float = 2.0
    """One-sale requests to ``POST /pos/sessions/{id}/sales:batch`` share one batch and one transaction
    with the requests of their session that arrive together (docs/pos.md, "Group commit"; decision
    0078). While others are sending, a batch waits at most this long for more before it is written (a
    sale that finds nobody else never waits). 0 turns group commit off: each request its own batch."""

    pos_inbox_interval_ms: float = 25.0
    """A sales batch sent with ``Prefer: respond-async`` is written to the POS inbox and answered 202; a
    thread of each ``retailcore serve`` process posts what is pending every this many milliseconds, at
    once when idle, so that sales arriving together are posted in one batch (docs/pos.md, "The inbox";
    decision 0084). 0 runs no drainer in the process (then ``retailcore pos drain``, or a session's
    close, posts them)."""

    # -- the back office (docs/ui.md, docs/security.md) ---------------------------------------------

    session_key: str | None = None
    """The secret the back office's session cookies are signed with (32 random bytes or more, e.g.
    ``python -c "import secrets; print(secrets.token_urlsafe(32))"``). Unset: a random key per server
    process, so sign-ins end when the server restarts, and several worker processes need it set."""

    # -- connectors (docs/integrations.md#shopify) -------------------------------------------------

    connector_key: str | None = None
    """The Fernet key (``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key()
    .decode())"``) connector secrets are encrypted with; without it no connector can be given a secret.
    Keep it outside the database and its backups: losing it means entering every secret again."""

    connector_interval_seconds: float = 2.0
    """How often ``retailcore serve`` processes the connectors' messages that are due: webhooks of a
    connector set to ``"process": "queued"``, and failed messages whose backoff has run out. Runs on
    the sweep's thread, so ``sweep_interval_seconds = 0`` turns it off too."""

    # -- background work ----------------------------------------------------------------------------

    sweep_interval_seconds: float = 60.0
    """How often ``retailcore serve`` cancels the unpaid orders and expired reservations that are due;
    0 turns the sweep off (then run ``retailcore orders sweep`` from a scheduler)."""

    # -- events to NATS JetStream (docs/integrations.md; decision 0027) ---------------------------

    nats_url: str | None = None
    """The NATS server the relay publishes the event log to (``nats://127.0.0.1:4222``), or the servers
    of a cluster, comma-separated (``nats://127.0.0.1:14222,nats://127.0.0.1:14223``). Unset, the
    default: nothing is published and no server is needed; ``retailcore serve`` then runs no relay."""

    nats_replicas: int | None = None
    """The stream's replicas in a NATS cluster (3 for three servers: docs/scaling.md, "NATS cluster"),
    given to the stream when the relay creates it and set on it when it differs. Unset: a new stream
    has one, an existing one keeps its own."""

    nats_stream: str = "RETAILCORE"
    """The JetStream stream, created by the relay when missing."""

    nats_subject_prefix: str = "retailcore"
    """The first token of every subject (``retailcore.<company>.<context>.<EventType>``); the stream
    captures ``<prefix>.>``."""

    nats_duplicate_window_seconds: int = 300
    """The stream's duplicate window: a re-sent event (same ``Nats-Msg-Id``) within it is dropped. A relay
    that died must be back within it for its last batch not to be stored twice."""

    nats_ack_timeout_seconds: float = 30.0
    """How long a batch may wait for all its acknowledgements before it is sent again."""

    relay_name: str = "default"
    """The relay's row in ``relay_positions``: two relays of different names publish independently."""

    relay_batch_size: int = 2000
    """Events read, published and committed together."""

    relay_poll_seconds: float = 0.5
    """How long a relay that caught up waits before it looks for new events."""

    relay_in_serve: bool = True
    """When ``nats_url`` is set, ``retailcore serve`` runs the relay on a thread of its own; False leaves
    it to a separate ``retailcore relay`` process."""
