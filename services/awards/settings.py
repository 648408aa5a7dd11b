from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class AwardsSettings(ServiceSettings):
    """Environment variables are prefixed `AWARDS_` (e.g. `AWARDS_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix="AWARDS_", extra="ignore")

    service_name: str = "awards"
    http_port: int = 8103
