"""SCRM reads other apps may import."""
