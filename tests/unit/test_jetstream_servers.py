"""A NATS cluster in RETAILCORE_NATS_URL: several servers, comma-separated (decision 0087)."""

from __future__ import annotations

from retailcore.adapters.jetstream import StreamSettings
from retailcore.entrypoints.relaying import stream_settings
from retailcore.entrypoints.settings import Settings


def test_one_server_is_a_pool_of_one():
    assert StreamSettings(url="nats://127.0.0.1:4222").servers == ["nats://127.0.0.1:4222"]


def test_a_comma_separated_url_names_every_server_of_the_cluster():
    url = "nats://127.0.0.1:14222, nats://127.0.0.1:14223,nats://127.0.0.1:14224,"
    assert StreamSettings(url=url).servers == [
        "nats://127.0.0.1:14222",
        "nats://127.0.0.1:14223",
        "nats://127.0.0.1:14224",
    ]


def test_the_stream_replicas_come_from_the_settings_and_are_left_alone_by_default():
    assert stream_settings(Settings(nats_url="nats://127.0.0.1:4222")).replicas is None
    assert stream_settings(Settings(nats_url="nats://127.0.0.1:4222", nats_replicas=3)).replicas == 3
