"""The directory: the effective-dated union tree, members and clusters of `thidua.org.v1`,
projected by every service into its own schema (`handlers`, `store`) and read on dates
(`queries.Directory`, reached as `runtime.directory`)."""

from .handlers import directory_handlers
from .queries import ClusterRow, Directory, MemberOnDate, UnitOnDate

__all__ = ["ClusterRow", "Directory", "MemberOnDate", "UnitOnDate", "directory_handlers"]
