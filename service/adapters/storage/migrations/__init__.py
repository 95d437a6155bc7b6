"""Alembic migrations of the service database, applied by :mod:`service.adapters.storage.migrate`."""
