from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """Environment variables are prefixed `SCORING_` (e.g. `SCORING_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix="SCORING_", extra="ignore")

    service_name: str = "scoring"
    http_port: int = 8102
