from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.registry import service
from services.runtime.settings import ServiceSettings

ENTRY = service("registration")


class RegistrationSettings(ServiceSettings):
    """Environment variables are prefixed `REGISTRATION_` (e.g. `REGISTRATION_HTTP_PORT`)."""

    model_config = SettingsConfigDict(env_prefix=ENTRY.env_prefix, extra="ignore")

    service_name: str = ENTRY.name
    http_port: int = ENTRY.http_port
    # Under 0.3 almost any two titles share enough trigrams to be listed.
    duplicate_threshold: float = Field(
        0.5, ge=0.3, le=1.0,
        description="Title similarity (0.3–1) from which an earlier initiative is reported as a "
                    "possible duplicate of a submission.")
    cluster_min_units: int = Field(
        5, ge=2, le=100,
        description="Fewest units a cluster (cụm thi đua) groups; 5 as in the city federations' "
                    "practice (10–20 clusters of 5–11 units).")
    cluster_max_units: int = Field(
        11, ge=2, le=100, description="Most units a cluster groups; 11 by default.")

    # Bulk imports (import_api.py): the upload cap holds a directory of a million members as
    # CSV (about 90 MB) with room to spare.
    import_max_bytes: int = Field(
        256 * 1024 * 1024, ge=1024,
        description="Largest import file accepted (bytes); a larger upload answers 413.")
    import_dir: str = Field(
        "", description="Directory for uploads while they are imported (the system's temporary "
                        "directory when empty); needs room for the files of running jobs.")
    import_concurrency: int = Field(
        1, ge=1, le=8, description="Import jobs run at once per API process; the others wait "
                                   "as `queued`.")
    import_max_errors: int = Field(
        1000, ge=1, le=100_000, description="Errors a job's report keeps (all are counted).")
    import_stale_after_s: float = Field(
        120, ge=5, description="A running job without a heartbeat for this long reads as "
                               "failed (its process stopped).")
