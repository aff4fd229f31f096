"""API base classes shared by every app: errors, pagination, filters, permissions, viewsets, idempotency."""
