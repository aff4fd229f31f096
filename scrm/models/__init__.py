"""scrm models: one module per aggregate."""
