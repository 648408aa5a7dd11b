"""Bulk import of a generated directory — 10,000 units and 1,000,000 members by default —
through registration's HTTP API, beside PostgreSQL's own COPY of the same file.

Generates a city's directory (the city federation, district and sector federations, grassroots
unions of enterprises, schools, hospitals and offices with Vietnamese names and realistic
sizes), runs registration under uvicorn in a subprocess (as ops run it, its relay included) on
the real broker and database, uploads the units file then the members file, and prints:
- seconds from the members upload to its job committed (rows, states and outbox events), and
  rows per second beside the rows per second of a plain `COPY` of the same CSV into a table
  without indexes, measured in the same run (the ceiling: bytes into PostgreSQL, no checks);
- the importing process's peak RSS (`VmHWM`), whatever it did before;
- seconds until the relay has had every event acknowledged by the broker (outbox empty), and
  the records on `thidua.org.v1` (end offsets), which must reach units + members.

    python -m benchmarks.directory_import [--members 1000000] [--units 10000]

Targets: committed in under 60 s, peak RSS under 500 MB, every event published.
Uses KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL when set, else starts the embedded servers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.command_throughput import start_server
from contracts.topics import ORG
from services.devstack.infrastructure import provide_infrastructure
from services.devstack.processes import free_port
from services.devstack.topics import all_topic_specs, ensure_topics
from services.runtime.logs import configure_logging
from tests.support.identity import ADMIN

FAMILY = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi",
          "Đỗ", "Hồ", "Ngô", "Dương", "Lý", "Đinh", "Trịnh", "Mai", "Tạ")
MIDDLE_F = ("Thị", "Thị Thu", "Thị Hồng", "Ngọc", "Thị Minh", "Thùy", "Phương")
MIDDLE_M = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Công", "Thành")
GIVEN_F = ("Lan", "Hương", "Hoa", "Mai", "Ngọc", "Trang", "Hằng", "Thảo", "Linh", "Nhung",
           "Yến", "Hà", "Huyền", "Dung", "Vân")
GIVEN_M = ("An", "Bình", "Cường", "Dũng", "Hùng", "Khoa", "Long", "Minh", "Nam", "Phong",
           "Quân", "Sơn", "Tuấn", "Việt", "Hải")
DISTRICTS = ("Ba Đình", "Hoàn Kiếm", "Tây Hồ", "Long Biên", "Cầu Giấy", "Đống Đa",
             "Hai Bà Trưng", "Hoàng Mai", "Thanh Xuân", "Nam Từ Liêm", "Bắc Từ Liêm", "Hà Đông",
             "Sóc Sơn", "Đông Anh", "Gia Lâm", "Thanh Trì", "Mê Linh", "Sơn Tây", "Ba Vì",
             "Phúc Thọ", "Đan Phượng", "Hoài Đức", "Quốc Oai", "Thạch Thất", "Chương Mỹ",
             "Thanh Oai", "Thường Tín", "Phú Xuyên", "Ứng Hòa", "Mỹ Đức")
SECTOR_UNIONS = (("Công đoàn Ngành Giáo dục", "education"), ("Công đoàn Ngành Y tế", "health"),
                 ("Công đoàn Viên chức Thành phố", "administration"),
                 ("Công đoàn các Khu công nghiệp và chế xuất", "enterprise"),
                 ("Công đoàn Ngành Xây dựng", "enterprise"),
                 ("Công đoàn Ngành Giao thông vận tải", "enterprise"),
                 ("Công đoàn Ngành Công Thương", "enterprise"),
                 ("Công đoàn Ngành Nông nghiệp", "other"))
# (sector, share of grassroots unions, names, jobs, women's share, direct workers' share)
KINDS = (
    ("enterprise", 0.45, ("Công ty TNHH May {}", "Công ty CP Cơ khí {}", "Công ty TNHH Điện tử {}",
                          "Xí nghiệp Bánh kẹo {}"),
     ("công nhân may", "công nhân lắp ráp", "thợ cơ khí", "kỹ sư", "nhân viên kho"), 0.6, 0.8),
    ("education", 0.25, ("Trường THCS {}", "Trường Tiểu học {}", "Trường Mầm non {}",
                         "Trường THPT {}"),
     ("giáo viên", "nhân viên văn phòng", "bảo vệ", "cấp dưỡng"), 0.75, 0.05),
    ("health", 0.10, ("Trạm Y tế {}", "Bệnh viện Đa khoa {}", "Trung tâm Y tế {}"),
     ("bác sĩ", "điều dưỡng", "dược sĩ", "hộ lý"), 0.7, 0.1),
    ("administration", 0.15, ("UBND phường {}", "Chi cục Thuế {}", "Kho bạc Nhà nước {}"),
     ("chuyên viên", "cán bộ", "kế toán"), 0.5, 0.0),
    ("other", 0.05, ("Hợp tác xã {}", "Ban Quản lý chợ {}"),
     ("xã viên", "nhân viên"), 0.5, 0.3),
)
UNIT_HEADER = ("unit_id,name,kind,parent_id,effective_from,district_id,sector,member_count,"
               "direct_worker_count\n")
MEMBER_HEADER = ("member_id,unit_id,full_name,gender,direct_worker,union_officer,job_title,"
                 "effective_from\n")


def generate(directory: Path, units: int, members: int, seed: int = 7) -> tuple[Path, Path]:
    """The city's units file and its members file (written a row at a time)."""
    rng = random.Random(seed)
    # Fewer federations for a small directory (a quick run), all of them from 1,000 units on.
    districts = DISTRICTS[:max(1, min(len(DISTRICTS), units // 30))]
    sector_unions = SECTOR_UNIONS[:min(len(SECTOR_UNIONS), units // 120)]
    grassroots = units - 1 - len(districts) - len(sector_unions)
    if grassroots < 1:
        raise ValueError(f"{units} units leave no grassroots union under the federations")
    # Sizes from a skewed distribution (many small unions, a few large factories), scaled so
    # they sum to the members wanted.
    weights = [rng.lognormvariate(4.2, 0.9) for _ in range(grassroots)]
    scale = members / sum(weights)
    sizes = [max(1, int(w * scale)) for w in weights]
    sizes[-1] += members - sum(sizes)
    units_path, members_path = directory / "don-vi.csv", directory / "doan-vien.csv"
    with units_path.open("w", encoding="utf-8") as u, members_path.open("w",
                                                                         encoding="utf-8") as m:
        u.write(UNIT_HEADER)
        m.write(MEMBER_HEADER)
        u.write("u-hn,Liên đoàn Lao động Thành phố Hà Nội,city_federation,,2020-01-01,,other,0,0\n")
        for d, district in enumerate(districts):
            u.write(f"u-hn-d{d:02d},LĐLĐ {district},district_federation,u-hn,2020-01-01,"
                    f"u-hn-d{d:02d},other,0,0\n")
        for s, (name, sector) in enumerate(sector_unions):
            u.write(f"u-hn-s{s:02d},{name},sector_union,u-hn,2020-01-01,,{sector},0,0\n")
        cumulative = []
        total = 0
        for kind in KINDS:
            total += kind[1]
            cumulative.append((total, kind))
        member_no = 0
        for n, size in enumerate(sizes):
            pick = rng.random() * total
            sector, _, names, jobs, women, direct = next(k for c, k in cumulative if pick <= c)
            district = rng.randrange(len(districts))
            parent = (f"u-hn-s{rng.randrange(len(sector_unions)):02d}"
                      if rng.random() < 0.2 and sector_unions else f"u-hn-d{district:02d}")
            unit_id = f"u-hn-{n:05d}"
            directs = 0
            rows = []
            for _ in range(size):
                female = rng.random() < women
                is_direct = rng.random() < direct
                directs += is_direct
                name = (f"{rng.choice(FAMILY)} "
                        f"{rng.choice(MIDDLE_F if female else MIDDLE_M)} "
                        f"{rng.choice(GIVEN_F if female else GIVEN_M)}")
                rows.append(f"m-hn-{member_no:07d},{unit_id},{name},"
                            f"{'nữ' if female else 'nam'},{'x' if is_direct else ''},"
                            f"{'x' if rng.random() < 0.03 else ''},{rng.choice(jobs)},"
                            f"{2020 + rng.randrange(5)}-{1 + rng.randrange(12):02d}-01\n")
                member_no += 1
            m.writelines(rows)
            place = rng.choice(DISTRICTS)
            u.write(f"{unit_id},Công đoàn {rng.choice(names).format(place)} {n},"
                    f"grassroots_union,{parent},2020-01-01,u-hn-d{district:02d},{sector},"
                    f"{size},{directs}\n")
    return units_path, members_path


async def upload(client: httpx.AsyncClient, kind: str, path: Path) -> tuple[dict, float]:
    """Upload and poll the job to its end: the job and seconds from upload to its end."""
    started = time.perf_counter()

    async def chunks():
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    answer = await client.post(f"/imports/{kind}", content=chunks(), headers={
        **ADMIN, "Content-Type": "text/csv", "Content-Length": str(path.stat().st_size)})
    answer.raise_for_status()
    job = answer.json()
    while job["status"] not in ("succeeded", "refused", "failed"):
        await asyncio.sleep(0.2)
        job = (await client.get(f"/imports/{job['job_id']}", headers=ADMIN)).json()
    return job, time.perf_counter() - started


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


async def copy_ceiling(database_url: str, path: Path) -> tuple[int, float]:
    """A plain COPY of the members file into a table of text columns without indexes."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("""CREATE TEMP TABLE copy_ceiling (member_id text, unit_id text,
            full_name text, gender text, direct_worker text, union_officer text, job_title text,
            effective_from text)""")
        started = time.perf_counter()
        status = await conn.copy_to_table("copy_ceiling", source=str(path), format="csv",
                                          header=True)
        return int(status.split()[-1]), time.perf_counter() - started
    finally:
        await conn.close()


async def published(bootstrap: str) -> tuple[int, int]:
    """Records on the org topic, counted by reading them all (and the sum of end offsets)."""
    # A fetch answered "offset out of range" resets the position; to the latest offset (the
    # default) it would end the count at once, having read nothing.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20, auto_offset_reset="earliest")
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(ORG.name, p)
                      for p in consumer.partitions_for_topic(ORG.name) or ()]
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        read = 0
        for partition in partitions:
            # Past the end offset too, until a fetch brings nothing: the embedded broker's end
            # offsets can fall short of the records it holds.
            empty = 0
            while empty < 5:
                batch = await consumer.getmany(partition, timeout_ms=1000, max_records=10_000)
                got = sum(len(records) for records in batch.values())
                if not got and await consumer.position(partition) >= ends[partition]:
                    break
                empty = 0 if got else empty + 1
                read += got
        return read, sum(ends.values())
    finally:
        await consumer.stop()


async def run(args: argparse.Namespace, bootstrap: str, database_url: str, work: Path) -> None:
    started = time.perf_counter()
    units_path, members_path = generate(work, args.units, args.members)
    print(f"generated {args.units:,} units and {args.members:,} members in "
          f"{time.perf_counter() - started:.1f} s ({members_path.stat().st_size / 1e6:.0f} MB "
          f"of CSV)", flush=True)
    schema = f"importbench_{uuid.uuid4().hex[:8]}"
    before = await published(bootstrap)
    port = free_port()
    server = start_server(port, bootstrap, database_url, schema)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            # Migrations and the first consumer join take a while on a loaded machine.
            deadline = time.monotonic() + 300
            while True:
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("registration did not become ready")
                await asyncio.sleep(0.2)
            units_job, units_s = await upload(client, "units", units_path)
            print(f"units:   {units_job['registered']:,} registered in {units_s:.1f} s",
                  flush=True)
            members_job, members_s = await upload(client, "members", members_path)
            rss = peak_rss_mb(server.pid)
            print(f"members: {members_job['registered']:,} registered, committed with their "
                  f"outbox rows in {members_s:.1f} s (target < 60 s): "
                  f"{args.members / members_s:,.0f} rows/s", flush=True)
            print(f"peak RSS of the importing process: {rss:.0f} MB (target < 500 MB)",
                  flush=True)
            conn = await asyncpg.connect(database_url, server_settings={"search_path": schema})
            try:
                relay_started = time.perf_counter()
                while await conn.fetchval("SELECT count(*) FROM outbox") > 0:
                    await asyncio.sleep(0.5)
                relay_s = time.perf_counter() - relay_started
            finally:
                await conn.close()
        events, offsets = await published(bootstrap)
        events, offsets = events - before[0], offsets - before[1]
    finally:
        server.terminate()
        server.wait(30)
    for job in (units_job, members_job):
        if job["status"] != "succeeded":
            raise RuntimeError(f"import {job['kind']} ended {job['status']}: {job}")
    copied, copy_s = await copy_ceiling(database_url, members_path)
    rate, ceiling = args.members / members_s, copied / copy_s
    print(f"COPY ceiling (same CSV into an unindexed text table, same run): {ceiling:,.0f} "
          f"rows/s ({copy_s:.1f} s); import / COPY = {rate / ceiling:.2f}")
    expected = units_job["registered"] + members_job["registered"]
    print(f"relay: outbox drained {relay_s:.1f} s after the members commit; {events:,} records "
          f"read back from {ORG.name} (expected {expected:,}; end offsets moved by {offsets:,})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--units", type=int, default=10_000)
    args = parser.parse_args()
    configure_logging("bench", "console", "WARNING")
    with provide_infrastructure() as infra, tempfile.TemporaryDirectory() as work:
        asyncio.run(ensure_topics(infra.kafka_bootstrap_servers, all_topic_specs()))
        asyncio.run(run(args, infra.kafka_bootstrap_servers, infra.database_url, Path(work)))


if __name__ == "__main__":
    main()
