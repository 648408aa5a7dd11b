"""Commands for operators and integrators, run from the same `thidua` entry point as the
services and needing only what a production install has (no local stack)."""
