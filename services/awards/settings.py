from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.registry import service
from services.runtime.settings import ServiceSettings

ENTRY = service("awards")


class AwardsSettings(ServiceSettings):
    """Environment variables are prefixed `AWARDS_` (e.g. `AWARDS_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix=ENTRY.env_prefix, extra="ignore")

    service_name: str = ENTRY.name
    http_port: int = ENTRY.http_port
    base_salary_vnd: int = Field(
        2_340_000, ge=0, le=10**12,
        description="Base salary (lương cơ sở) the rule sets' cash multiples apply to: 2,340,000 "
        "VND since 1 Jul 2024 (DOMAIN-RULES.md, Decree 152 arts. 50, 54).")
    decision_number_format: str = Field(
        "{number}/{year}/QĐ-KT",
        description="How decision numbers are written: `{number}` counts from 1 per issuing "
        "unit and year, `{year}` the award year, `{issuer}` the issuing unit's id.")
