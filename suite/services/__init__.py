"""Every write of the platform's models goes through a function here."""
