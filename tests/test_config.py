"""The deployment's settings: the broker's client security settings reach every client govshare
makes, a misspelt one is refused by name, and the production compose file parses."""
from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from infra.config import Settings, SettingsError

INFRA = Path(__file__).resolve().parent.parent / "infra"

SECURED = {
    "GOVSHARE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "GOVSHARE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "GOVSHARE_KAFKA_SASL_USERNAME": "govshare",
    "GOVSHARE_KAFKA_SASL_PASSWORD": "s3cret",
    "GOVSHARE_KAFKA_SSL_CA_LOCATION": "/etc/govshare/ca.pem",
}


def test_the_security_settings_reach_the_kafka_clients(monkeypatch):
    for name, value in SECURED.items():
        monkeypatch.setenv(name, value)
    assert Settings().kafka("kafka-1:9092") == {
        "bootstrap.servers": "kafka-1:9092", "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "govshare", "sasl.password": "s3cret",
        "ssl.ca.location": "/etc/govshare/ca.pem"}


def test_a_misspelt_client_setting_is_refused_by_its_name(monkeypatch):
    monkeypatch.setenv("GOVSHARE_KAFKA_SASL_PASWORD", "s3cret")
    with pytest.raises(SettingsError, match="GOVSHARE_KAFKA_SASL_PASWORD: not a Kafka client setting"):
        Settings()


def test_the_cli_says_which_setting_it_cannot_use(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "GOVSHARE_HOME": str(tmp_path), "GOVSHARE_KAFKA_SASL_PASWORD": "x"}
    done = subprocess.run([sys.executable, "-m", "infra.cli", "query", "rejections"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "Traceback" not in done.stderr, "a setting's exit code, as for the others"
    assert done.stderr.startswith("govshare: GOVSHARE_KAFKA_SASL_PASWORD: not a Kafka client setting")
    assert "sasl.password" in done.stderr


def test_the_production_broker_keeps_writers_off_govshare_s_outputs():
    compose = yaml.safe_load((INFRA / "compose.yaml").read_text())
    broker = compose["services"]["kafka-1"]["environment"]
    assert broker["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert broker["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert "PLAINTEXT" not in broker["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
    assert broker["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    script = compose["services"]["kafka-access"]["command"][0]
    writes = [line for line in script.splitlines() if "--operation Write" in line]
    # Departments write the inboxes only; the outputs only govshare's own principal.
    assert all("govshare.inbox." in line for line in writes if '"$$department"' in line)
    assert {line.split()[1] for line in writes if "govshare.inbox." not in line} == {"govshare"}
    # Every service on govshare's image (each stage, the API, topics, migrate) is a secured client.
    clients = {name: s["environment"] for name, s in compose["services"].items() if s.get("image") == "govshare:latest"}
    assert clients
    expected = {k: v for k, v in SECURED.items() if k != "GOVSHARE_KAFKA_SASL_PASSWORD"}
    for name, client in clients.items():
        assert {k: client[k] for k in expected} == expected, name
    tomllib.loads((INFRA / "topics.toml").read_text())


def test_a_webhook_backoff_cap_below_its_base_is_refused(monkeypatch):
    from infra.environment import SettingError
    monkeypatch.setenv("GOVSHARE_WEBHOOK_BACKOFF_BASE", "10")
    monkeypatch.setenv("GOVSHARE_WEBHOOK_BACKOFF_CAP", "1")
    with pytest.raises(SettingError, match=r"GOVSHARE_WEBHOOK_BACKOFF_CAP=1: must be at least "
                                           r"GOVSHARE_WEBHOOK_BACKOFF_BASE \(10\)"):
        Settings()
