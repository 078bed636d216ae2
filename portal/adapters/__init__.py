"""Adapters: SQLAlchemy tables and repositories, the job queue, file formats."""
