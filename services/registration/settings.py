from pydantic_settings import SettingsConfigDict

from services.registry import service
from services.runtime.settings import ServiceSettings

ENTRY = service("registration")


class RegistrationSettings(ServiceSettings):
    """Environment variables are prefixed `REGISTRATION_` (e.g. `REGISTRATION_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix=ENTRY.env_prefix, extra="ignore")

    service_name: str = ENTRY.name
    http_port: int = ENTRY.http_port
