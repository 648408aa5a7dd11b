"""`thidua` parses its commands and hands each service process the right environment."""

from __future__ import annotations

import pytest

from services import cli
from services.runtime.infra import Infrastructure
from services.runtime.infra_supervisor import SERVICES, service_env, service_port

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


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_a_command(name):
    assert cli.build_parser().parse_args([name]).command == name


def test_an_unknown_command_is_refused():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["ranking"])


def test_services_listen_one_port_each_above_the_base():
    assert [service_port(n, 8100) for n in SERVICES] == [8101, 8102, 8103, 8104]
    assert service_port("notify", 9000) == 9004


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
    monkeypatch.setenv("DATABASE_URL", "postgresql://x/y")
    assert cli.main(["awards"]) == 2
    assert "KAFKA_BOOTSTRAP_SERVERS" in capsys.readouterr().err
