"""Background jobs: thin functions over services, run by arq (Redis) or in-process."""
