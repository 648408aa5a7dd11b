from pydantic_settings import SettingsConfigDict

from services.registry import service
from services.runtime.settings import ServiceSettings

ENTRY = service("awards")


class AwardsSettings(ServiceSettings):
    """Environment variables are prefixed `AWARDS_` (e.g. `AWARDS_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix=ENTRY.env_prefix, extra="ignore")

    service_name: str = ENTRY.name
    http_port: int = ENTRY.http_port
