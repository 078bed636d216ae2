"""Operability: structured logs, Prometheus metrics, readiness checks and optional
OpenTelemetry spans. Nothing here decides a business rule; the rest of the code calls the
few hooks (`current_scope`, `observe_job`, `count_import_rows`) and stays unaware of the rest."""
