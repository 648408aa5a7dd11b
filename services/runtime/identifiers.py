"""The shape of every id a caller gives (units, members, campaigns, phases, initiatives...).

Ids travel in URL paths, Kafka keys and log lines: a `/` made an initiative impossible to
fetch, and spaces or control characters make ids that people cannot read back. Letters,
digits and `._:-`, starting with a letter or digit, at most 64 characters.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
