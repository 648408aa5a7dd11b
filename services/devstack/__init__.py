"""The local and test stack: infrastructure, process supervisor, demo, topic admin, the CLI.

Nothing in services/runtime or a service imports it (import-linter checks). The CLI loads the
modules that need the `local` extra's packages (tansu, embedded PostgreSQL, testcontainers)
only for `up` and `infra`, so `thidua <service>` runs from a production install.
"""
