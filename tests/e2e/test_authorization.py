"""Every route of the four services, walked from their OpenAPI: who may call it, who may not.

For each operation: without a token, and with an expired, not-yet-valid, wrong-issuer,
wrong-audience, tampered, `alg: none`, HMAC-confused, foreign-key or garbage token, 401; with a
valid token of a role the route does not admit, 403; with a valid token of an admitted role
scoped to another ward, 404 — the same answer as an id that does not exist, so nothing leaks;
with each admitted role scoped right, 2xx. A route added without a declared rule cannot start
(`create_app` refuses it) and a route whose parameters this test cannot fill fails it.

The tree is the demo's (`demo_directory.py`): "here" is phường Láng with the THCS Láng Thượng
school and its union chair; "elsewhere" is phường Nghĩa Đô with Bệnh viện E and its nurse. The
demo's teacher authors nothing here: what she is told belongs to `thidua up --demo`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import tempfile
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from services.devstack.demo import DEMO_INITIATIVE
from services.devstack.demo_directory import (
    DONGDA,
    HOSPITAL,
    SCHOOL,
    TEACHER,
    WARD_LANG,
    WARD_NGHIADO,
)
from services.devstack.identity import LocalIssuer
from tests.support.campaigns import campaign_body, launch, new_units, today
from tests.support.identity import ADMIN, ISSUER, mint

pytestmark = pytest.mark.integration

NURSE = "m-bve-0031"
CHAIR = "m-lt-0012"  # the school union's chair, a member like any other here

# Each role's token scoped here, and (for roles with a scope) scoped elsewhere.
HERE = {
    "city_admin": {},
    "auditor": {},
    "upper_official": {"unit": WARD_LANG},
    "grassroots_official": {"unit": SCHOOL},
    "council_reviewer": {"unit": WARD_LANG},
    "integrator": {"unit": WARD_LANG},
    "member": {"member": CHAIR},
}
ELSEWHERE = {
    "upper_official": {"unit": WARD_NGHIADO},
    "grassroots_official": {"unit": HOSPITAL},
    "council_reviewer": {"unit": WARD_NGHIADO},
    "integrator": {"unit": WARD_NGHIADO},
    "member": {"member": NURSE},
}


def submission() -> dict:
    """An initiative of the school, authored by its chair (so he may submit it himself)."""
    author = {"member_id": CHAIR, "full_name": "Trần Văn Minh", "direct_worker": False}
    return DEMO_INITIATIVE | {"initiative_id": f"ini-{uuid.uuid4().hex[:12]}",
                              "authors": [author]}


@pytest.fixture(scope="module")
async def here_initiative(clients, directory_seeded) -> str:
    body = submission()
    answer = await clients["registration"].post(
        "/initiatives", json=body, headers=_auth(mint("grassroots_official", unit=SCHOOL)))
    assert answer.status_code == 202, answer.text
    return body["initiative_id"]


HERE_WEBHOOK = "wh-authorization-here"
HERE_DELIVERY = "msg-authorization-here"


@pytest.fixture(scope="module")
async def here_webhook(system, directory_seeded) -> str:
    """The here integrator's webhook (as its token's subject owns it), with a parked delivery."""
    pool = system["notify"].state.runtime.pool
    owner = _integrator_subject()
    await pool.execute(
        """INSERT INTO webhooks (webhook_id, owner, url, event_types, district)
           VALUES ($1, $2, 'http://127.0.0.1:9/hook', '{thidua.award.eligibility_changed.v1}',
                   $3) ON CONFLICT DO NOTHING""", HERE_WEBHOOK, owner, WARD_LANG)
    await pool.execute(
        """INSERT INTO webhook_deliveries (delivery_id, webhook_id, event_id, event_type, body,
               status, attempts, next_attempt_at)
           VALUES ($1, $2, 'ev-authorization', 'thidua.award.eligibility_changed.v1', '{}',
                   'parked', 8, now() + interval '1 day') ON CONFLICT DO NOTHING""",
        HERE_DELIVERY, HERE_WEBHOOK)
    return HERE_WEBHOOK


def _integrator_subject() -> str:
    return jwt.decode(mint("integrator", **HERE["integrator"]),
                      options={"verify_signature": False})["sub"]


# Lists filtered by the caller's scope: elsewhere they answer, without what lies here.
FILTERED_LISTS = {
    ("notify", "get", "/webhooks"),
    ("registration", "get", "/imports"),
    ("registration", "get", "/exports/units"),
    ("registration", "get", "/exports/members"),
    ("registration", "get", "/exports/initiatives"),
    ("scoring", "get", "/campaigns/{campaign_id}/phases/{phase_id}/standings"),
    ("scoring", "post", "/campaigns/{campaign_id}/phases/{phase_id}/what-if"),
    ("scoring", "get", "/initiative-totals"),
    ("awards", "get", "/proposals"),
    ("awards", "get", "/decisions"),
    ("awards", "get", "/decisions/export"),
    ("awards", "get", "/statistics/awards"),
} | {("registration", "get", path) for path in ("/campaigns", "/clusters", "/registrations",
                                                "/pledges", "/works")}
# Uploads whose rows are checked one by one: elsewhere the job is accepted and each row of
# another subtree refused in its report (tests/e2e/test_directory_import.py).
UPLOADS = {("post", "/imports/units"): "unit_id,name,kind,parent_id,effective_from\r\n",
           ("post", "/imports/members"): "member_id,unit_id,full_name,gender,effective_from\r\n"}
HERE_IMPORT = "imp-authorization-here"


@pytest.fixture(scope="module")
async def here_import(system, directory_seeded) -> str:
    """An import job made by the school's official (so scoped to the school)."""
    await system["registration"].state.runtime.pool.execute(
        """INSERT INTO import_jobs (job_id, kind, format, on_error, status, size_bytes,
               scope_unit_id, requested_by, correlation_id, finished_at)
           VALUES ($1, 'members', 'csv', 'refuse', 'succeeded', 0, $2, '{}', $1, now())
           ON CONFLICT DO NOTHING""", HERE_IMPORT, SCHOOL)
    return HERE_IMPORT


# Bulk commands answer each item: elsewhere they answer, every item refused.
ITEM_REPORTS = {("awards", "post", "/proposals/approvals")}

HERE_PROPOSAL = "prop-authorization-here"
HERE_OBJECTION = "obj-authorization-here"
HERE_DECISION = "dec-authorization-here"


async def _insert_proposal(pool, proposal_id: str, issuer: str, *, published: bool = False,
                           objection: str | None = None) -> None:
    """A proposal of the school's chair, issued by `issuer`, its disclosure period over (or
    still running when `published`), with an open objection when asked."""
    await pool.execute(
        """INSERT INTO proposals (proposal_id, campaign_id, phase_id, year, title, level,
               subject_kind, subject_id, subject_name, unit_id, issuer_unit_id, points,
               rank, candidate_count, standing, direct_worker, status, proposed_at,
               disclosure_ends_at)
           VALUES ($1, 'c-' || $1, 'p-' || $1, 2025, 'good_worker',
                   'grassroots', 'member', $2, 'Trần Văn Minh', $3, $4, 30, 1, 1,
                   'rank 1 of 1', false, 'proposed', now(),
                   now() + CASE WHEN $5 THEN interval '7 days' ELSE interval '-1 second' END)
           ON CONFLICT DO NOTHING""", proposal_id, CHAIR, SCHOOL, issuer, published)
    if objection:
        await pool.execute(
            """INSERT INTO objections (objection_id, proposal_id, text, raised_by, raised_at)
               VALUES ($1, $2, 'Chưa đủ ngày công', '{}', now()) ON CONFLICT DO NOTHING""",
            objection, proposal_id)


@pytest.fixture(scope="module")
async def here_awards(system, directory_seeded):
    """A proposal, an objection to it and a decision of the school."""
    pool = system["awards"].state.runtime.pool
    await _insert_proposal(pool, HERE_PROPOSAL, SCHOOL, published=True, objection=HERE_OBJECTION)
    await pool.execute(
        """INSERT INTO decisions (decision_id, decision_number, issuer_unit_id, issuer_name,
               year, decision_date, signatory, recipient_count, total_cash_vnd, recorded_by,
               recorded_at)
           VALUES ($1, 'authorization/2025/QĐ-KT', $2, 'Công đoàn Trường THCS Láng Thượng', 2025,
                   '2025-12-20', 'Trần Văn Minh', 0, 0, '{}', now())
           ON CONFLICT DO NOTHING""", HERE_DECISION, SCHOOL)
    return pool


# Commands on a proposal decide it once: each call gets a new one of the school's chair, issued
# by the caller's own unit when it lies here (by the school otherwise, so it lies elsewhere for
# a caller from elsewhere).
AWARD_COMMANDS = {"/proposals/{proposal_id}/approval", "/proposals/{proposal_id}/rejection",
                  "/proposals/{proposal_id}/objections",
                  "/proposals/{proposal_id}/objections/{objection_id}/answer",
                  "/proposals/approvals"}


async def award_target(pool, path: str, claims: dict) -> tuple[str, dict]:
    issuer = claims.get("unit") if claims.get("unit") in (SCHOOL, WARD_LANG) else SCHOOL
    proposal_id = f"prop-auth-{uuid.uuid4().hex[:12]}"
    objection_id = f"obj-auth-{uuid.uuid4().hex[:12]}"
    await _insert_proposal(pool, proposal_id, issuer, published=path.endswith("/objections"),
                           objection=objection_id if path.endswith("/answer") else None)
    return path.format(proposal_id=proposal_id, objection_id=objection_id), {
        "/proposals/approvals": {"signatory": "Chủ tịch", "proposal_ids": [proposal_id]},
        "/proposals/{proposal_id}/approval": {"signatory": "Chủ tịch"},
        "/proposals/{proposal_id}/rejection": {"reason": "Chưa đủ tiêu chuẩn"},
        "/proposals/{proposal_id}/objections": {"text": "Chưa đủ ngày công"},
        "/proposals/{proposal_id}/objections/{objection_id}/answer": {
            "answer": "Đã đối chiếu", "upheld": False},
    }[path]


# Files the import routes take: one row of the school's chair or the school.
IMPORT_FILES = {
    "/exclusions/imports": lambda: (
        "member_id,year,kind,source\n"
        f"{CHAIR},{1975 + next(_changes) % 100},disciplined,quyết định kỷ luật\n"),
    "/title-history/imports": lambda: (
        "subject_kind,subject_id,title,level,year,decision_number,issuer_name,unit_id\n"
        f"member,{CHAIR},good_worker,grassroots,2023,5/QĐ-CĐ,CĐ THCS Láng Thượng,{SCHOOL}\n"),
}

# Registration's workflows here: a campaign of the school, a campaign of phường Láng reaching
# a cluster of the school and four unions beside it, a pledge of that cluster, a school's work.
FLOWS: dict = {}


@pytest.fixture(scope="module")
async def here_flows(system, clients, directory_seeded) -> dict:
    registration = clients["registration"]
    pool = system["registration"].state.runtime.pool
    units = [SCHOOL, *await new_units(registration, pool, WARD_LANG, 4, prefix="u-authz")]
    school = await launch(registration, SCHOOL, prefix="cmp-authz")
    # Pledges are signed within a cluster of the campaign's year; a year no other test uses
    # (a unit sits in one cluster of an organiser a year), its phase open from today.
    year = today().year + 5
    ward = campaign_body(WARD_LANG, prefix="cmp-authz", year=year)
    ward["phases"] = [{"phase_id": f"{ward['campaign_id']}-now", "name": "Đợt dài",
                       "starts_on": today().isoformat(), "ends_on": f"{year}-01-31"}]
    answer = await registration.post("/campaigns", json=ward)
    assert answer.status_code == 201, answer.text
    ward["open_phase"] = f"{ward['campaign_id']}-now"
    FLOWS.update(units=units, school=school, ward=ward)
    for name, cluster_year in (("cluster", year + 1), ("ward_cluster", year)):
        FLOWS[name] = f"cl-authz-{uuid.uuid4().hex[:8]}"
        formed = await registration.post("/clusters", json={
            "cluster_id": FLOWS[name], "name": "Cụm thi đua thử", "organizer_unit_id": WARD_LANG,
            "year": cluster_year, "member_unit_ids": units})
        assert formed.status_code == 201, formed.text
    FLOWS["pledge"] = (await new_pledge(registration))
    FLOWS["work"] = (await new_work(registration))
    return FLOWS


async def new_pledge(registration) -> str:
    answer = await registration.post("/pledges", json=pledge_body(), headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def pledge_body() -> dict:
    ward = FLOWS["ward"]
    return {"campaign_id": ward["campaign_id"], "phase_id": ward["open_phase"],
            "cluster_id": FLOWS["ward_cluster"],
            "targets": [{"target_id": "sk", "description": "Mỗi đơn vị 5 sáng kiến",
                         "target_value": 5, "unit_of_measure": "sáng kiến"}]}


def work_body() -> dict:
    school = FLOWS["school"]
    return {"campaign_id": school["campaign_id"], "phase_id": school["open_phase"],
            "unit_id": SCHOOL, "name": "Phòng đọc sách công đoàn", "value_vnd": 50_000_000,
            "occasion": "Kỷ niệm Ngày thành lập Công đoàn Việt Nam (28/7)"}


async def new_work(registration) -> str:
    answer = await registration.post("/works", json=work_body(), headers=ADMIN)
    assert answer.status_code == 201, answer.text
    return answer.json()["work_id"]


_years = itertools.count(2040)


def cluster_body() -> dict:
    """Each call forms a cluster of its own year (a unit sits in one cluster a year)."""
    return {"name": "Cụm thi đua thử", "organizer_unit_id": WARD_LANG, "year": next(_years),
            "member_unit_ids": FLOWS["units"]}


def _path_values(here_initiative: str) -> dict[str, str]:
    """A value, here, for every path parameter any route has; a new parameter fails below."""
    return {"unit_id": SCHOOL, "member_id": CHAIR, "initiative_id": here_initiative,
            "subject_kind": "member", "subject_id": CHAIR, "webhook_id": HERE_WEBHOOK,
            "delivery_id": HERE_DELIVERY, "job_id": HERE_IMPORT,
            "campaign_id": FLOWS["school"]["campaign_id"],
            "phase_id": FLOWS["school"]["open_phase"], "cluster_id": FLOWS["cluster"],
            "pledge_id": FLOWS["pledge"], "work_id": FLOWS["work"], "proposal_id": HERE_PROPOSAL,
            "objection_id": HERE_OBJECTION, "decision_id": HERE_DECISION}


_changes = itertools.count(1)


def _later() -> str:
    """A date after every change recorded so far (changes to one unit or member only go
    forward)."""
    return (date(2090, 1, 1) + timedelta(days=next(_changes))).isoformat()


def new_unit() -> dict:
    return {"unit_id": f"u-test-{uuid.uuid4().hex[:12]}", "name": "Công đoàn bộ phận thử",
            "kind": "grassroots_union", "parent_id": SCHOOL, "effective_from": "2025-11-01"}


def new_member() -> dict:
    return {"member_id": f"m-test-{uuid.uuid4().hex[:12]}", "unit_id": SCHOOL,
            "full_name": "Lê Văn Thử", "gender": "male", "effective_from": "2025-11-01"}


BODIES = {
    ("post", "/initiatives"): submission,
    ("post", "/initiatives/{initiative_id}/reviews"): lambda: {
        "outcome": "accepted", "grade": "B", "recognised_benefit_vnd": 1_000_000,
        "level": "grassroots"},
    ("post", "/units"): new_unit,
    ("post", "/campaigns"): lambda: campaign_body(SCHOOL, prefix="cmp-authz"),
    ("post", "/clusters"): cluster_body,
    ("post", "/pledges"): pledge_body,
    ("post", "/works"): work_body,
    ("post", "/units/{unit_id}/changes"): lambda: {"effective_from": _later(),
                                                   "member_count": 1000 + next(_changes)},
    ("post", "/members"): new_member,
    ("post", "/members/{member_id}/changes"): lambda: {
        "effective_from": _later(), "job_title": f"giáo viên {next(_changes)}"},
    ("put", "/members/{member_id}/contacts"): lambda: {"email": "minh.tran@example.vn",
                                                       "phone": "+84 912 345 678"},
    ("put", "/members/{member_id}/preferences"): lambda: {"language": "vi", "email": True,
                                                          "in_app": True},
    ("post", "/members/{member_id}/notifications/read"): lambda: {"all": True},
    ("post", "/webhooks"): lambda: {"url": "https://hr.example.vn/thidua-hook",
                                    "event_types": ["thidua.award.eligibility_changed.v1"],
                                    "unit_id": WARD_LANG},
    ("post", "/webhooks/{webhook_id}/secrets"): lambda: None,
    ("post", "/campaigns/{campaign_id}/phases/{phase_id}/what-if"): lambda: {
        "scoring": {"unit_score_basis": "total"}},
    ("delete", "/webhooks/{webhook_id}"): lambda: None,
    ("post", "/webhooks/{webhook_id}/deliveries/{delivery_id}/replay"): lambda: None,
    ("post", "/members/{member_id}/exclusions"): lambda: {
        "year": 1975 + next(_changes) % 120, "kind": "absent_40_days",
        "source": "bảng chấm công"},
}
# Routes whose body is not JSON: (content type, bytes).
RAW_BODIES = {
    ("post", "/units/{unit_id}/contacts/import"): lambda: (
        "text/csv", f"member_id,phone\n{CHAIR},+84 912 345 678\n".encode()),
}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def operations(system) -> list[tuple[str, str, str, dict]]:
    found = []
    for service, app in system.items():
        for path, item in app.openapi()["paths"].items():
            for method, operation in item.items():
                found.append((service, method, path, operation))
    return found


async def review_target(clients, claims: dict) -> tuple[str, dict]:
    """A review decides once per level: each call reviews a new initiative of the school, at
    the level of the caller's council (the ward's, at district level, once the school's council
    accepted it). The city administrator records the school council's decision."""
    body = submission()
    answer = await clients["registration"].post(
        "/initiatives", json=body, headers=_auth(mint("grassroots_official", unit=SCHOOL)))
    assert answer.status_code == 202, answer.text
    review = {"outcome": "accepted", "grade": "B", "recognised_benefit_vnd": 1_000_000,
              "level": "grassroots"}
    if claims.get("unit") in (WARD_LANG, WARD_NGHIADO):
        first = await clients["registration"].post(
            f"/initiatives/{body['initiative_id']}/reviews", json=review,
            headers=_auth(mint("council_reviewer", unit=SCHOOL)))
        assert first.status_code == 201, first.text
        review = review | {"level": "district"}
    elif not claims.get("unit"):
        review = review | {"council_unit_id": SCHOOL}
    return body["initiative_id"], review


async def registration_target(clients, claims: dict) -> tuple[str, dict]:
    """A member registers once a phase: each call registers the chair in a new campaign."""
    campaign = await launch(clients["registration"], SCHOOL, prefix="cmp-authz")
    return "/registrations", {"campaign_id": campaign["campaign_id"],
                              "phase_id": campaign["open_phase"], "subject_kind": "member",
                              "subject_id": CHAIR, "titles": ["good_worker"]}


async def results_target(clients, claims: dict) -> tuple[str, dict]:
    """A unit reports once a pledge: each call reports the school's on a new pledge."""
    pledge = await new_pledge(clients["registration"])
    return f"/pledges/{pledge}/results", {
        "unit_id": SCHOOL, "results": [{"target_id": "sk", "achieved_value": 6}]}


async def approval_target(clients, claims: dict) -> tuple[str, dict]:
    """A work is approved once: each call approves a new work of the school, by the ward's
    union (named by a caller without a unit)."""
    work = await new_work(clients["registration"])
    return f"/works/{work}/approval", {} if claims.get("unit") else {
        "approving_unit_id": WARD_LANG}


async def close_target(clients, claims: dict) -> tuple[str, None]:
    """A phase closes once: each call closes the open phase of a new campaign of the school."""
    campaign = await launch(clients["registration"], SCHOOL, prefix="cmp-authz")
    return f"/campaigns/{campaign['campaign_id']}/phases/{campaign['open_phase']}/close", None


TARGETS = {
    ("post", "/registrations"): registration_target,
    ("post", "/pledges/{pledge_id}/results"): results_target,
    ("post", "/works/{work_id}/approval"): approval_target,
    ("post", "/campaigns/{campaign_id}/phases/{phase_id}/close"): close_target,
}


async def call(clients, service, method, path, values, headers, claims=None, awards_pool=None):
    if service == "awards" and path in AWARD_COMMANDS:
        assert awards_pool is not None, "award commands need the here_awards fixture"
        url, body = await award_target(awards_pool, path, claims or {})
        return await clients[service].post(url, json=body, headers=headers)
    if service == "awards" and path in IMPORT_FILES:
        return await clients[service].post(
            path, content=IMPORT_FILES[path]().encode(),
            headers=headers | {"Content-Type": "text/csv"})
    if (method, path) == ("post", "/initiatives/{initiative_id}/reviews"):
        initiative_id, body = await review_target(clients, claims or {})
        return await clients[service].post(path.format(initiative_id=initiative_id),
                                           json=body, headers=headers)
    if service == "registration" and (method, path) in TARGETS:
        url, body = await TARGETS[(method, path)](clients, claims or {})
        return await clients[service].post(url, json=body, headers=headers)
    try:
        url = path.format(**values)
    except KeyError as missing:
        pytest.fail(f"{service} {method.upper()} {path}: no test value for path parameter "
                    f"{missing}; add one to _path_values")
    if (method, path) in UPLOADS:
        return await clients[service].post(url, content=UPLOADS[(method, path)].encode(),
                                           headers=headers | {"Content-Type": "text/csv"})
    if (method, path) in RAW_BODIES:
        content_type, content = RAW_BODIES[(method, path)]()
        return await clients[service].request(method.upper(), url, content=content,
                                              headers=headers | {"content-type": content_type})
    body = BODIES[(method, path)]() if (method, path) in BODIES else None
    if method != "get" and (method, path) not in BODIES:
        pytest.fail(f"{service} {method.upper()} {path}: no test body; add one to BODIES")
    return await clients[service].request(method.upper(), url, json=body, headers=headers)


def hmac_signed(signing_input: str, secret: bytes) -> str:
    """The key-confusion attack: the public key, which anyone has, as an HMAC secret (PyJWT
    refuses to build such a token, so it is built by hand)."""
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def bad_tokens() -> dict[str, str]:
    """Tokens that must all be refused, each otherwise a city administrator's."""
    now = datetime.now(UTC)
    good = mint("city_admin")
    header, payload, signature = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    kid = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]

    def b64(document: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).rstrip(b"=").decode()

    tampered = b64(claims | {"thidua_role": "auditor", "sub": "someone-else"})
    jwks = json.loads(ISSUER.jwks_path.read_text())
    public_bytes = json.dumps(jwks["keys"][0]).encode()
    foreign = LocalIssuer(Path(tempfile.mkdtemp(prefix="thidua-foreign-issuer-")))
    foreign.ensure_keys()
    return {
        "expired": ISSUER.mint(role="city_admin", now=now - timedelta(hours=3), ttl_seconds=3600),
        "not yet valid": ISSUER.mint(role="city_admin", now=now + timedelta(hours=1)),
        "wrong issuer": LocalIssuer(ISSUER.directory, issuer="https://idp.example/realms/x")
        .mint(role="city_admin"),
        "wrong audience": ISSUER.mint(role="city_admin", audience="another-system"),
        "tampered": f"{header}.{tampered}.{signature}",
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{payload}.",
        "HS256 keyed with the public key": hmac_signed(
            b64({"alg": "HS256", "typ": "JWT", "kid": kid}) + "." + payload, public_bytes),
        "foreign key": foreign.mint(role="city_admin"),
        "garbage": "not-a-token",
    }


async def test_every_route_declares_who_may_call_it(system):
    for service, method, path, operation in operations(system):
        access = operation.get("x-thidua-access")
        assert access is not None, f"{service} {method.upper()} {path} declares no access rule"
        if access["rule"] != "public":
            assert operation.get("security") == [{"bearer": []}], (service, path)
            assert "**Who may call:**" in operation["description"]


async def test_public_routes_answer_without_a_token(system, clients):
    public = [(s, m, p) for s, m, p, op in operations(system)
              if op["x-thidua-access"]["rule"] == "public"]
    assert {p for _, _, p in public} >= {"/healthz", "/readyz", "/metrics", "/stats"}
    for service, method, path in public:
        answer = await clients[service].request(method.upper(), path, headers={})
        assert answer.status_code in (200, 503), (service, path, answer.status_code)


async def test_no_token_or_a_bad_one_is_401_on_every_route(system, clients, here_initiative,
                                                            here_webhook, here_import,
                                                            here_awards, here_flows):
    values = _path_values(here_initiative)
    bad = bad_tokens()
    for service, method, path, operation in operations(system):
        if operation["x-thidua-access"]["rule"] == "public":
            continue
        missing = await call(clients, service, method, path, values, {"Authorization": ""},
                             awards_pool=here_awards)
        assert missing.status_code == 401, (service, path, missing.text)
        assert missing.headers["www-authenticate"] == 'Bearer realm="thidua"'
        assert missing.json()["errors"][0]["code"] == "token_missing"
        for name, token in bad.items():
            answer = await call(clients, service, method, path, values, _auth(token),
                                awards_pool=here_awards)
            assert answer.status_code == 401, (service, path, name, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert 'error="invalid_token"' in answer.headers["www-authenticate"], name


async def test_each_role_is_admitted_here_refused_elsewhere_and_403_where_not_listed(
        system, clients, here_initiative, here_webhook, here_import, here_awards,
        here_flows):
    values = _path_values(here_initiative)
    # Deletions last: a deleted webhook refuses its secret's rotation and replays (409).
    for service, method, path, operation in sorted(operations(system),
                                                   key=lambda op: op[1] == "delete"):
        access = operation["x-thidua-access"]
        if access["rule"] == "public":
            continue
        admitted = set(access["roles"])
        for role, claims in HERE.items():
            answer = await call(clients, service, method, path, values,
                                _auth(mint(role, **claims)), claims, awards_pool=here_awards)
            where = (service, method, path, role, answer.text)
            if role in admitted:
                assert 200 <= answer.status_code < 300, where
            else:
                assert answer.status_code == 403, where
                assert answer.json()["errors"][0]["code"] == "role_not_allowed"
        for role, claims in ELSEWHERE.items():
            if role not in admitted:
                continue
            answer = await call(clients, service, method, path, values,
                                _auth(mint(role, **claims)), claims, awards_pool=here_awards)
            if (method, path) in UPLOADS:
                assert answer.status_code == 202, (service, path, role, answer.text)
                continue
            if (service, method, path) in ITEM_REPORTS:
                assert answer.status_code == 200, (service, path, role, answer.text)
                assert answer.json()["approved"] == 0, (service, path, role, answer.text)
                continue
            if (service, method, path) in FILTERED_LISTS:
                assert answer.status_code == 200, (service, path, role, answer.text)
                assert here_webhook not in answer.text, (service, path, role)
                assert here_import not in answer.text, (service, path, role)
                continue
            assert answer.status_code == 404, (service, method, path, role, answer.text)


async def test_an_initiative_is_hidden_from_a_member_who_did_not_author_it(clients,
                                                                          here_initiative):
    teacher = _auth(mint("member", member=TEACHER))
    hidden = await clients["registration"].get(f"/initiatives/{here_initiative}",
                                               headers=teacher)
    unknown = await clients["registration"].get("/initiatives/ini-does-not-exist",
                                                headers=teacher)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["errors"][0]["code"] == unknown.json()["errors"][0]["code"]


async def test_a_former_district_official_reads_history_but_acts_on_nothing(clients,
                                                                           directory_seeded):
    """Đống Đa's federation was dissolved on 1 Jul 2025: its official's subtree today is the
    dissolved unit alone, while what lay under it before stays readable."""
    former = _auth(mint("upper_official", unit=DONGDA))
    then = await clients["scoring"].get(f"/directory/units/{SCHOOL}?as_of=2025-06-30",
                                        headers=former)
    assert then.status_code == 200, then.text
    assert then.json()["ancestors"][:2] == [SCHOOL, DONGDA]
    today = await clients["scoring"].get(f"/directory/units/{SCHOOL}", headers=former)
    assert today.status_code == 404
    submit = await clients["registration"].post("/initiatives", json=submission(),
                                                headers=former)
    assert submit.status_code == 404, submit.text
    assert submit.json()["errors"][0]["field"] == "unit_id"


async def test_the_event_district_comes_from_the_directory_and_a_wrong_one_is_refused(
        clients, directory_seeded):
    official = _auth(mint("grassroots_official", unit=SCHOOL, subject="test:official-lt"))
    refused = await clients["registration"].post(
        "/initiatives", json=submission() | {"district": WARD_NGHIADO}, headers=official)
    assert refused.status_code == 422, refused.text
    error = refused.json()["errors"][0]
    assert (error["code"], error["field"]) == ("district_mismatch", "district")
    assert error["message"].startswith(f"unit {SCHOOL} belongs to district {WARD_LANG};")
    body = submission()
    accepted = await clients["registration"].post("/initiatives", json=body, headers=official)
    assert accepted.status_code == 202, accepted.text
    stored = (await clients["registration"].get(f"/initiatives/{body['initiative_id']}",
                                                headers=official)).json()
    assert stored["district"] == WARD_LANG
    assert stored["submitted_by"] == {"subject": "test:official-lt",
                                      "role": "grassroots_official", "unit_id": SCHOOL,
                                      "member_id": None, "name": None}


async def test_a_member_submits_only_what_they_author(clients, directory_seeded):
    teacher = _auth(mint("member", member=TEACHER))
    answer = await clients["registration"].post("/initiatives", json=submission(),
                                                headers=teacher)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["code"] == "member_not_author"
