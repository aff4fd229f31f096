"""CRM writes: one module per aggregate; the only code that saves CRM models."""
