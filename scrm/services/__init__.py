"""scrm services: one module per aggregate."""
