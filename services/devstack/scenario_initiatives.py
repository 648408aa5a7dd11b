"""The phase's initiatives, their councils' decisions level by level, the works put forward for
a union's plaque, and the one exclusion recorded against a member. Pure data.

Like the seeds' reports: production improvements in the enterprise block worth hundreds of
millions of đồng, teaching and hospital software, a farm co-operative's compost; one
submission is a near-copy of another school's (flagged at submission, turned down by its
council as a duplicate), and one hospital checklist is accepted at grassroots and not at
district.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from .demo_directory import CITY, HOSPITAL, SCHOOL, TEACHER
from .demo_population import population_members

Review = tuple[str, str, str | None, int]  # level, outcome, grade, recognised benefit (VND)


@dataclass(frozen=True)
class Initiative:
    key: str
    unit_id: str
    title: str
    field: str
    author_ids: tuple[str, ...]
    claimed_vnd: int
    reviews: tuple[Review, ...]
    comment: str = ""

    def initiative_id(self, phase_id: str) -> str:
        return f"sk-{phase_id}-{self.key}"


ACCEPTED, REJECTED = "accepted", "rejected"

INITIATIVES = (
    Initiative("lt-hoso", SCHOOL, "Ứng dụng phần mềm quản lý hồ sơ học sinh trực tuyến",
               "quản lý giáo dục", (TEACHER,), 120_000_000,
               (("grassroots", ACCEPTED, "A", 120_000_000), ("district", ACCEPTED, "A", 110_000_000),
                ("city", ACCEPTED, "A", 100_000_000))),
    # The near-copy: its title folds to almost the school's above.
    Initiative("ntt-hoso", "u-dd-thcs-nguyentruongto", "Ứng dụng phần mềm quản lý hồ sơ học sinh",
               "quản lý giáo dục", ("m-dd-thcs-nguyentruongto-0004",), 60_000_000,
               (("grassroots", REJECTED, None, 0),),
               "Trùng với sáng kiến của Công đoàn Trường THCS Láng Thượng"),
    Initiative("in-khuon", "u-dd-ct-inhanoi", "Cải tiến khuôn in ống đồng giảm 12% lượng mực",
               "kỹ thuật in", ("m-dd-ct-inhanoi-0003", "m-dd-ct-inhanoi-0009"), 350_000_000,
               (("grassroots", ACCEPTED, "A", 350_000_000), ("district", ACCEPTED, "A", 300_000_000))),
    Initiative("mt-xegom", "u-dd-xn-moitruong", "Xe gom rác cải tiến có nắp đậy thủy lực",
               "cơ khí", ("m-dd-xn-moitruong-0005",), 95_000_000,
               (("grassroots", ACCEPTED, "B", 90_000_000), ("district", ACCEPTED, "B", 85_000_000))),
    Initiative("vp-khungdet", "u-hd-ct-luavanphuc", "Cải tiến khung dệt lụa tơ tằm tăng năng suất 20%",
               "dệt may", ("m-hd-ct-luavanphuc-0002", "m-hd-ct-luavanphuc-0011"), 480_000_000,
               (("grassroots", ACCEPTED, "A", 480_000_000), ("district", ACCEPTED, "A", 450_000_000),
                ("city", ACCEPTED, "A", 420_000_000))),
    Initiative("ck-doga", "u-hd-ct-cokhi", "Đồ gá gia công chính xác trục cam",
               "cơ khí", ("m-hd-ct-cokhi-0006",), 210_000_000,
               (("grassroots", ACCEPTED, "A", 210_000_000), ("district", ACCEPTED, "B", 180_000_000))),
    Initiative("bvhd-tiepdon", "u-hd-bv-hadong", "Quy trình tiếp đón người bệnh không giấy tờ",
               "y tế", ("m-hd-bv-hadong-0008",), 150_000_000,
               (("grassroots", ACCEPTED, "A", 150_000_000), ("district", ACCEPTED, "A", 140_000_000))),
    Initiative("may-coao", "u-md-ct-maymyduc", "Chuyền may cụm chi tiết cổ áo sơ mi",
               "dệt may", ("m-md-ct-maymyduc-0004",), 260_000_000,
               (("grassroots", ACCEPTED, "A", 260_000_000), ("district", ACCEPTED, "A", 240_000_000),
                ("city", ACCEPTED, "B", 230_000_000))),
    Initiative("plt-phanvisinh", "u-md-htx-phuluute", "Quy trình ủ phân vi sinh từ rơm rạ",
               "nông nghiệp", ("m-md-htx-phuluute-0003",), 45_000_000,
               (("grassroots", ACCEPTED, "B", 45_000_000),)),
    Initiative("hs-sotay", "u-md-thcs-huongson", "Sổ tay điện tử theo dõi học sinh bán trú",
               "quản lý giáo dục", ("m-md-thcs-huongson-0002",), 15_000_000,
               (("grassroots", ACCEPTED, "C", 15_000_000),)),
    Initiative("bve-nhaclich", HOSPITAL, "Phần mềm nhắc lịch tái khám qua tin nhắn",
               "y tế", ("m-bve-0031",), 80_000_000,
               (("grassroots", ACCEPTED, "B", 80_000_000), ("district", ACCEPTED, "B", 80_000_000))),
    Initiative("bvdd-bangkiem", "u-dd-bv-dongda", "Bảng kiểm an toàn phẫu thuật điện tử",
               "y tế", ("m-dd-bv-dongda-0006",), 70_000_000,
               (("grassroots", ACCEPTED, "B", 60_000_000), ("district", REJECTED, None, 0)),
               "Chưa chứng minh được phạm vi ảnh hưởng ngoài đơn vị"),
)

def council(level: str, unit_id: str, ward: str) -> str:
    """The council deciding at a level over a unit today: its own union at grassroots, its
    ward or commune union at district (since 1 Oct 2025), the city federation at city level."""
    return {"grassroots": unit_id, "district": ward, "city": CITY}[level]


@dataclass(frozen=True)
class Work:
    key: str
    unit_id: str
    name: str
    value_vnd: int
    approving_unit_id: str  # a ward union's plaque is district level, the city's city level

    def work_id(self, phase_id: str) -> str:
        return f"ct-{phase_id}-{self.key}"


WORKS = (
    Work("may-nhavanhoa", "u-md-ct-maymyduc", "Nhà văn hóa công nhân Công ty May Mỹ Đức",
         2_500_000_000, "u-xa-myduc"),
    Work("bvhd-kythuatcao", "u-hd-bv-hadong", "Khu điều trị kỹ thuật cao Bệnh viện Đa khoa Hà Đông",
         12_000_000_000, CITY),
    Work("mt-trungchuyen", "u-dd-xn-moitruong", "Trạm trung chuyển rác thải kín Láng Hạ",
         1_800_000_000, "u-phuong-kimlien"),
)

# Recorded in awards before the round: 40 or more days off work in the year (DOMAIN-RULES.md,
# "Exclusions from awards") puts the co-author out of every member title.
EXCLUDED = ("m-dd-ct-inhanoi-0009", "absent_40_days", "Bảng chấm công năm")


@cache
def member_names() -> dict[str, tuple[str, bool]]:
    """Every population member's name and whether they work in direct production, plus the
    demo directory's."""
    names = {r.member_id: (r.full_name, r.direct_worker) for r in population_members()}
    return names | {TEACHER: ("Nguyễn Thị Lan", False), "m-bve-0031": ("Phạm Thu Hằng", True)}


def registered_members() -> list[str]:
    """The first author of every initiative registers for emulation; co-authors do not."""
    return [i.author_ids[0] for i in INITIATIVES]


def submission_body(initiative: Initiative, campaign_id: str, phase_id: str) -> dict:
    names = member_names()
    return {"initiative_id": initiative.initiative_id(phase_id), "campaign_id": campaign_id,
            "phase_id": phase_id, "unit_id": initiative.unit_id, "title": initiative.title,
            "field": initiative.field, "claimed_benefit_vnd": initiative.claimed_vnd,
            "authors": [{"member_id": m, "full_name": names[m][0], "direct_worker": names[m][1]}
                        for m in initiative.author_ids]}


def review_body(review: Review, council_unit_id: str, comment: str) -> dict:
    level, outcome, grade, benefit = review
    body = {"outcome": outcome, "level": level, "council_unit_id": council_unit_id,
            "recognised_benefit_vnd": benefit}
    if grade:
        body["grade"] = grade
    if outcome == REJECTED and comment:
        body["comment"] = comment
    return body


def work_body(work: Work, campaign_id: str, phase_id: str, year: int) -> dict:
    return {"work_id": work.work_id(phase_id), "campaign_id": campaign_id, "phase_id": phase_id,
            "unit_id": work.unit_id, "name": work.name, "value_vnd": work.value_vnd,
            "occasion": f"Chào mừng {year - 1929} năm Ngày thành lập Công đoàn Việt Nam "
                        "(28/7/1929)",
            "occasion_date": f"{year}-07-28"}
