"""Shared pytest fixtures: companies, users with roles, actors, API clients. See suite/testing.py."""

pytest_plugins = ["suite.testing", "suite.testing_worker", "suite.testing_flush"]
