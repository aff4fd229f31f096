"""erp models: one module per domain."""
