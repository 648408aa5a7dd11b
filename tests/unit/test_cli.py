"""`thidua` parses its commands and hands each service process the right environment."""

from __future__ import annotations

import os
import types

import pytest

from services.devstack import cli
from services.devstack.infrastructure import Infrastructure
from services.devstack.supervisor import service_command, service_env, service_port
from services.registry import NAMES, SERVICES, service

INFRA = Infrastructure("127.0.0.1:39092", "postgresql://postgres:@/thidua?host=/tmp/pg", "embedded")


def test_up_defaults_to_port_8100_without_demo():
    args = cli.build_parser().parse_args(["up"])
    assert (args.command, args.demo, args.exit_after_demo, args.base_port, args.infra) == (
        "up", False, False, 8100, "auto")


def test_up_accepts_demo_exit_and_base_port():
    args = cli.build_parser().parse_args(
        ["up", "--demo", "--exit-after-demo", "--base-port", "9000", "--infra", "embedded"])
    assert (args.demo, args.exit_after_demo, args.base_port, args.infra) == (
        True, True, 9000, "embedded")


@pytest.mark.parametrize("name", NAMES)
def test_each_service_is_a_command_with_its_role_from_the_environment_by_default(name):
    args = cli.build_parser().parse_args([name])
    assert (args.command, args.role) == (name, None)


@pytest.mark.parametrize("role", ["api", "worker", "all"])
def test_a_service_takes_a_role(role):
    assert cli.build_parser().parse_args(["scoring", "--role", role]).role == role


def test_an_unknown_role_is_refused():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["scoring", "--role", "relay"])


def test_an_unknown_command_is_refused():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["ranking"])


def test_services_listen_one_port_each_above_the_base_their_defaults_from_8100():
    assert [service_port(s.name, 8100) for s in SERVICES] == [s.http_port for s in SERVICES]
    assert service_port("notify", 9000) == 9004


def test_a_service_process_runs_the_registrys_module():
    assert service_command("awards")[1:] == ["-m", "services.awards"]


def test_a_service_process_gets_the_infrastructure_and_its_own_port():
    env = service_env("scoring", 8102, INFRA, {"PATH": "/usr/bin"})
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:39092"
    assert env["DATABASE_URL"] == "postgresql://postgres:@/thidua?host=/tmp/pg"
    assert env["SCORING_HTTP_PORT"] == "8102"
    assert "REGISTRATION_HTTP_PORT" not in env
    assert (env["LOG_FORMAT"], env["PATH"]) == ("console", "/usr/bin")


def test_a_log_format_already_set_is_kept():
    assert service_env("notify", 8104, INFRA, {"LOG_FORMAT": "json"})["LOG_FORMAT"] == "json"


def test_the_infrastructure_found_overrides_inherited_addresses():
    env = service_env("awards", 8103, INFRA, {"KAFKA_BOOTSTRAP_SERVERS": "elsewhere:9092"})
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "127.0.0.1:39092"


def test_one_service_without_infrastructure_fails_clearly(monkeypatch, capsys):
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("AWARDS_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("DATABASE_URL", "postgresql://x/y")
    assert cli.main(["awards"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS (or AWARDS_KAFKA_BOOTSTRAP_SERVERS)" in capsys.readouterr().err


def test_the_services_own_infrastructure_variables_are_enough():
    scoring = service("scoring")
    prefixed = {"SCORING_KAFKA_BOOTSTRAP_SERVERS": "k:9092", "SCORING_DATABASE_URL": "postgresql://x"}
    assert cli.missing_infrastructure(scoring, prefixed) == []
    assert cli.missing_infrastructure(scoring, {"KAFKA_BOOTSTRAP_SERVERS": "k:9092",
                                                "SCORING_DATABASE_URL": "postgresql://x"}) == []
    # Another service's variables are not this one's.
    assert cli.missing_infrastructure(service("awards"), prefixed) == [
        "KAFKA_BOOTSTRAP_SERVERS (or AWARDS_KAFKA_BOOTSTRAP_SERVERS)",
        "DATABASE_URL (or AWARDS_DATABASE_URL)"]


@pytest.mark.parametrize(("argv", "inherited", "seen"), [
    (["scoring", "--role", "worker"], None, "worker"),
    (["scoring", "--role", "api"], "worker", "api"),  # the command line wins
    (["scoring"], "worker", "worker"),  # without --role the environment decides
    (["scoring"], None, None),  # and without either the settings' default (all)
])
def test_the_role_reaches_the_service_as_its_prefixed_variable(monkeypatch, argv, inherited, seen):
    monkeypatch.setenv("SCORING_KAFKA_BOOTSTRAP_SERVERS", "k:9092")
    monkeypatch.setenv("SCORING_DATABASE_URL", "postgresql://x")
    if inherited is None:
        monkeypatch.delenv("SCORING_ROLE", raising=False)
    else:
        monkeypatch.setenv("SCORING_ROLE", inherited)
    started = []
    entrypoint = types.SimpleNamespace(main=lambda: started.append(os.environ.get("SCORING_ROLE")))
    monkeypatch.setattr(cli.importlib, "import_module",
                        lambda name: entrypoint if name == "services.scoring.__main__" else None)
    assert cli.main(argv) == 0
    assert started == [seen]
