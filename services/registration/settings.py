from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    """Environment variables are prefixed `REGISTRATION_` (e.g. `REGISTRATION_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix="REGISTRATION_", extra="ignore")

    service_name: str = "registration"
    http_port: int = 8101
