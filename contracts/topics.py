"""The topic registry: every public topic, its partition key and default partition count.

Topics group events by aggregate family, not by event type, so that events about one unit
stay ordered across types (an initiative is submitted before it is reviewed).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Topic:
    name: str
    key: str
    partitions: int
    description: str

    @property
    def dlq(self) -> str:
        """Dead-letter topic: the original bytes of records a consumer rejected, with reasons."""
        return f"{self.name}.dlq"


ORG = Topic(
    name="thidua.org.v1",
    key="unit id",
    partitions=6,
    description="Org directory: units (as a tree with dated parent links), members, clusters.",
)
CAMPAIGNS = Topic(
    name="thidua.campaigns.v1",
    key="campaign id",
    partitions=3,
    description="Campaigns with their phases and rule sets; phase closes (the barrier).",
)
PARTICIPATION = Topic(
    name="thidua.participation.v1",
    key="unit id",
    partitions=12,
    description="Emulation registrations, pledges signed between units and their results.",
)
# Submissions bunch before a phase closes (10x the daily average): the most partitions.
INITIATIVES = Topic(
    name="thidua.initiatives.v1",
    key="unit id",
    partitions=24,
    description="Initiatives submitted and reviewed; works registered for a plaque.",
)
SCORES = Topic(
    name="thidua.scores.v1",
    key="unit id",
    partitions=24,
    description="Score changes per unit and member; finalized phase standings.",
)
AWARDS = Topic(
    name="thidua.awards.v1",
    key="unit id",
    partitions=6,
    description="Award eligibility, proposals within quotas, and granted award decisions.",
)
NOTIFICATIONS = Topic(
    name="thidua.notifications.v1",
    key="recipient id",
    partitions=12,
    description="Outcome of each notification: delivered or failed after its attempts.",
)

ALL_TOPICS: tuple[Topic, ...] = (
    ORG,
    CAMPAIGNS,
    PARTICIPATION,
    INITIATIVES,
    SCORES,
    AWARDS,
    NOTIFICATIONS,
)

_BY_NAME = {topic.name: topic for topic in ALL_TOPICS}


def topic_named(name: str) -> Topic:
    """The registered topic called `name`; a `.dlq` name is not a topic of its own here."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(sorted(_BY_NAME))
        raise KeyError(f"unknown topic {name!r}; known topics: {known}") from None


DLQ_HEADER_PREFIX = "thidua-dlq-"
"""Prefix of the headers a consumer adds to a dead-lettered record (reason, consumer, origin)."""
