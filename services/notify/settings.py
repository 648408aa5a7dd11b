from pydantic_settings import SettingsConfigDict

from services.runtime.settings import ServiceSettings


class NotifySettings(ServiceSettings):
    """Environment variables are prefixed `NOTIFY_` (e.g. `NOTIFY_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFY_", extra="ignore")

    service_name: str = "notify"
    http_port: int = 8104
