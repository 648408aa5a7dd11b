from pydantic_settings import SettingsConfigDict

from services.registry import service
from services.runtime.settings import PlanCacheMode, ServiceSettings

ENTRY = service("scoring")


class ScoringSettings(ServiceSettings):
    """Environment variables are prefixed `SCORING_` (e.g. `SCORING_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix=ENTRY.env_prefix, extra="ignore")

    service_name: str = ENTRY.name
    http_port: int = ENTRY.http_port
    # A batch's partitions on two transactions: the worker's statements are the database's
    # work, and two run on two cores (benchmarks/scoring_throughput.py).
    consumer_apply_connections: int = 2
    # Publish → visible score: a batch takes in what was published while the previous one was
    # applied (benchmarks/scoring_latency.py).
    consumer_top_up_ms: int = 20
    # The record and the reprice are large statements sent with new arrays every batch:
    # planned once per connection they cost 2.2 and 2.4 ms a batch, against 4.0 to 5.3 and
    # 2.9 to 3.3 ms planned each time (benchmarks/scoring_latency.py). Their joins on stored rows
    # are key probes whatever the plan, so a plan made while the tables were small stays good.
    consumer_plan_cache_mode: PlanCacheMode = "force_generic_plan"
