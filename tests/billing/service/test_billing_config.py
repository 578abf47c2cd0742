"""Choosing the active cancellation policy from configuration."""

from __future__ import annotations

import secrets
from importlib import resources

import pytest
from billing.bootstrap import active_policy, build
from billing.config import BillingSettings
from billing.domain import PolicyError, UnknownPolicyError, parse_policy_reference, policy_reference


def settings(**values):
    return BillingSettings(**{"database_url": "sqlite://", **values})


def test_defaults():
    defaults = BillingSettings()
    assert (defaults.http_port, defaults.cancellation_policy) == (8002, "uantwerp-en")
    assert defaults.database_url == "sqlite:///./var/billing.db" and defaults.policy_dir is None


def test_settings_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CANCELLATION_POLICY", "ugent@1")
    monkeypatch.setenv("POLICY_DIR", str(tmp_path))
    monkeypatch.setenv("HTTP_PORT", "9002")
    first, second = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    monkeypatch.setenv("API_TOKENS", f"finance:{first}:billing:export; desk : {second} : billing:read ")
    loaded = BillingSettings()
    assert (loaded.cancellation_policy, loaded.policy_dir, loaded.http_port) == ("ugent@1", tmp_path, 9002)
    assert [(entry.name, entry.token, entry.scopes) for entry in loaded.api_tokens] == [
        ("finance", first, {"billing:export"}),
        ("desk", second, {"billing:read"}),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("uantwerp-en", ("uantwerp-en", None)), ("vub@1", ("vub", 1)), ("ugent@2026-09-01", ("ugent", "2026-09-01"))],
)
def test_policy_references(text, expected):
    assert parse_policy_reference(text) == expected


def test_the_latest_version_is_active_unless_one_is_pinned(tmp_path):
    text = resources.files("billing").joinpath("policies/vub.yaml").read_text(encoding="utf-8")
    (tmp_path / "vub.v2.yaml").write_text(text.replace("version: 1", "version: 2"), encoding="utf-8")
    assert policy_reference(active_policy(settings(cancellation_policy="vub"))) == "vub@1"
    assert policy_reference(active_policy(settings(cancellation_policy="vub", policy_dir=tmp_path))) == "vub@2"
    assert policy_reference(active_policy(settings(cancellation_policy="vub@1", policy_dir=tmp_path))) == "vub@1"


def test_a_policy_dir_cannot_redefine_a_shipped_version(tmp_path):
    text = resources.files("billing").joinpath("policies/vub.yaml").read_text(encoding="utf-8")
    (tmp_path / "vub.yaml").write_text(text.replace("16 March", "17 March"), encoding="utf-8")
    with pytest.raises(ValueError, match="already registered"):
        active_policy(settings(policy_dir=tmp_path))


def test_a_broken_policy_file_names_file_and_field(tmp_path):
    (tmp_path / "broken.yaml").write_text("id: broken\nversion: 0\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"broken\.yaml"):
        active_policy(settings(policy_dir=tmp_path))


def test_an_unknown_policy_stops_the_service_at_start(tmp_path):
    with pytest.raises(UnknownPolicyError, match="no-such-policy"):
        build(settings(cancellation_policy="no-such-policy", database_url=f"sqlite:///{tmp_path}/b.db"))
    with pytest.raises(UnknownPolicyError, match="version 7"):
        active_policy(settings(cancellation_policy="uantwerp-en@7"))
    with pytest.raises(ValueError, match="POLICY_DIR"):
        active_policy(settings(policy_dir=tmp_path / "missing"))


def test_build_migrates_a_new_sqlite_file_in_a_new_directory(tmp_path):
    app, runtime = build(settings(database_url=f"sqlite:///{tmp_path}/var/billing.db"))
    assert (tmp_path / "var" / "billing.db").exists()
    assert app.title == "Billing service" and runtime.service == "billing"
    assert runtime.consumed_topics() == ["enrolment.events", "catalogue.microcredentials"]
    assert set(runtime.declared().handlers()) == {"EnrolmentCreated", "EnrolmentCancelled", "MicroCredentialPublished"}
    runtime.engine.dispose()
