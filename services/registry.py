"""The services of thidua, written down once: the CLI, the supervisor, settings, deploy and tests
read them from here.

Pure data and the standard library only: `thidua`, the container health probe and the settings
classes import it before anything heavy is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceEntry:
    name: str
    module: str  # `python -m <module>` runs it; `<module>.app.definition` composes it
    http_port: int  # default `<PREFIX>HTTP_PORT`; also the container port in deploy/
    env_prefix: str  # of its settings: `<PREFIX>DATABASE_URL`, `<PREFIX>ROLE`, ...
    settings_class: str  # the class in `<module>.settings`

    @property
    def app_module(self) -> str:
        return f"{self.module}.app"

    @property
    def settings_module(self) -> str:
        return f"{self.module}.settings"


# In start order: registration produces what the others consume.
SERVICES: tuple[ServiceEntry, ...] = (
    ServiceEntry("registration", "services.registration", 8101, "REGISTRATION_",
                 "RegistrationSettings"),
    ServiceEntry("scoring", "services.scoring", 8102, "SCORING_", "ScoringSettings"),
    ServiceEntry("awards", "services.awards", 8103, "AWARDS_", "AwardsSettings"),
    ServiceEntry("notify", "services.notify", 8104, "NOTIFY_", "NotifySettings"),
)

NAMES: tuple[str, ...] = tuple(s.name for s in SERVICES)

_BY_NAME = {s.name: s for s in SERVICES}


def service(name: str) -> ServiceEntry:
    """The entry of the service called `name`; KeyError names the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no service {name!r}; known: {', '.join(NAMES)}") from None
