"""`thidua` parses its commands and hands each service process the right environment."""

from __future__ import annotations

import json
import os
import types

import jwt
import pytest

from services.devstack import cli
from services.devstack.identity import LocalIssuer
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


# --- thidua token ------------------------------------------------------------------------------

@pytest.fixture
def identity(monkeypatch, tmp_path):
    monkeypatch.setenv("THIDUA_IDENTITY_DIR", str(tmp_path / "identity"))
    return LocalIssuer(tmp_path / "identity")


def test_token_mint_prints_the_token_alone_signed_by_the_local_keys(identity, capsys):
    assert cli.main(["token", "mint", "--role", "grassroots_official", "--unit", "cd-hanoi-001",
                     "--name", "Lan", "--ttl", "600"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert out == token + "\n" and err == ""
    keys = jwt.PyJWKSet.from_dict(identity.jwks())
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, keys[header["kid"]], algorithms=["EdDSA"], audience="thidua",
                        issuer="thidua-local")
    assert (claims["thidua_role"], claims["thidua_unit"], claims["name"], claims["sub"]) == (
        "grassroots_official", "cd-hanoi-001", "Lan", "local:grassroots_official:cd-hanoi-001")
    assert claims["exp"] - claims["iat"] == 600


def test_token_mint_takes_subject_member_and_audience(identity, capsys):
    assert cli.main(["token", "mint", "--role", "member", "--member", "m-7", "--subject", "u-7",
                     "--audience", "thidua-mobile"]) == 0
    claims = jwt.decode(capsys.readouterr().out.strip(), options={"verify_signature": False})
    assert (claims["sub"], claims["thidua_member"], claims["aud"]) == ("u-7", "m-7",
                                                                       "thidua-mobile")


@pytest.mark.parametrize(("argv", "message"), [
    (["--role", "mayor"], "`thidua_role` must be one of city_admin,"),
    (["--role", "council_reviewer"], "names its unit in `thidua_unit`"),
    (["--role", "member"], "names the member in `thidua_member`"),
    (["--role", "auditor", "--ttl", "0"], "ttl_seconds must be positive"),
])
def test_token_mint_refuses_a_token_no_service_would_accept(identity, capsys, argv, message):
    assert cli.main(["token", "mint", *argv]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("thidua token mint: ") and message in err


def test_token_rotate_prints_the_new_kid_and_jwks_publishes_old_and_new(identity, capsys):
    assert cli.main(["token", "jwks"]) == 0  # creates the first key
    (first,) = [key["kid"] for key in json.loads(capsys.readouterr().out)["keys"]]
    assert cli.main(["token", "rotate"]) == 0
    new = capsys.readouterr().out.strip()
    assert new != first and new.startswith("local-")
    assert cli.main(["token", "jwks"]) == 0
    published = json.loads(capsys.readouterr().out)["keys"]
    assert [key["kid"] for key in published] == [first, new]
    assert all("d" not in key for key in published)  # public halves only


def test_services_get_the_local_issuer_unless_the_operator_named_a_key_source(identity):
    identity.ensure_keys()
    local = identity.service_environment()
    env = service_env("scoring", 8102, INFRA, {"PATH": "/usr/bin"}, local)
    assert {name: env[name] for name in local} == local
    operator = {"AUTH_JWKS_URL": "https://kc/certs", "AUTH_ISSUER": "https://kc"}
    env = service_env("scoring", 8102, INFRA, operator, local)
    assert (env["AUTH_JWKS_URL"], env["AUTH_ISSUER"]) == ("https://kc/certs", "https://kc")
    assert "AUTH_JWKS_FILE" not in env
    own_file = {"SCORING_AUTH_JWKS_FILE": "/etc/thidua/jwks.json"}
    assert "AUTH_JWKS_FILE" not in service_env("scoring", 8102, INFRA, own_file, local)
    assert service_env("awards", 8103, INFRA, own_file, local)["AUTH_JWKS_FILE"] == (
        local["AUTH_JWKS_FILE"])


def test_up_creates_the_local_keys_and_tells_how_to_mint(identity, monkeypatch):
    monkeypatch.delenv("AUTH_JWKS_URL", raising=False)
    monkeypatch.delenv("AUTH_JWKS_FILE", raising=False)
    environment, hint = cli.local_identity()
    assert environment["AUTH_JWKS_FILE"] == str(identity.jwks_path.resolve())
    assert identity.kids
    assert "TOKEN=$(thidua token mint --role city_admin)" in hint
    table = cli._ready_table([], INFRA, 1.0, hint)
    assert f"  tokens      {hint}" in table.splitlines()


def test_up_leaves_an_operators_key_source_alone(identity, monkeypatch):
    monkeypatch.setenv("AUTH_JWKS_URL", "https://kc/certs")
    environment, hint = cli.local_identity()
    assert environment == {}
    assert "AUTH_JWKS_URL=https://kc/certs" in hint
    assert not identity.jwks_path.exists()
