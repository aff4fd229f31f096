"""erp services: one module per domain."""
