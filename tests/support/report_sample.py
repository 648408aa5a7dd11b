"""A closing report with the seeds' figures, for the report's rendering tests."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from services.devstack.demo_report import (
    ChannelDeliveries,
    DemoReport,
    DistrictInitiatives,
    Leaderboard,
    PyramidStep,
    Ranked,
)


def seeds_report() -> DemoReport:
    cluster = Leaderboard("cluster", "Cụm 3 — Giáo dục Đống Đa", (
        Ranked(1, "CĐCS Trường THCS Láng Thượng", Decimal(410), Decimal("661.29"), 62),
        Ranked(2, "CĐCS Trường THCS Nguyễn Trường Tộ", Decimal(530), Decimal("552.08"), 96),
        Ranked(3, "CĐCS Trường Tiểu học Kim Liên", Decimal(95), Decimal("211.11"), 45),
        Ranked(4, "CĐCS Trường Mầm non Văn Chương", Decimal(0), Decimal(0), 38),
    ))
    district = Leaderboard("district", "Đống Đa", (
        Ranked(1, "CĐCS Bệnh viện Đống Đa", Decimal(1220), Decimal("305"), 400),
        Ranked(2, "CĐCS Trường THCS Láng Thượng", Decimal(410), Decimal("661.29"), 62),
    ))
    return DemoReport(
        campaign="Thi đua lao động giỏi, lao động sáng tạo năm 2025",
        phase="Đợt 1 (01/01–30/06/2025)",
        generated_at=datetime(2025, 7, 5, 10, 4, tzinfo=UTC),
        leaderboards=(cluster, district),
        initiatives=(
            DistrictInitiatives("Đống Đa", 214, 187, Decimal(12_400_000_000)),
            DistrictInitiatives("Hà Đông", 168, 150, Decimal(9_150_500_000)),
            DistrictInitiatives("Mỹ Đức", 41, 33, Decimal(1_020_000_000)),
        ),
        pyramid=(
            PyramidStep("Lao động giỏi", "grassroots", 60_220),
            PyramidStep("Lao động giỏi", "district", 2_530),
            PyramidStep("Lao động giỏi", "city", 100),
            PyramidStep("Gia đình công nhân viên chức lao động tiêu biểu", "grassroots", 3_015),
            PyramidStep("Gia đình công nhân viên chức lao động tiêu biểu", "district", 62),
            PyramidStep("Gia đình công nhân viên chức lao động tiêu biểu", "city", 3),
        ),
        notifications=(ChannelDeliveries("in_app", 1_204), ChannelDeliveries("email", 318, 2),
                       ChannelDeliveries("webhook", 96)),
    )
