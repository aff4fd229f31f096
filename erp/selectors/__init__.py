"""ERP reads other apps may import: one module per domain (finance, inventory, procurement, sales, production, hr)."""
