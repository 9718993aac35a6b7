"""Helpers shared by the tests (processes, clients, unique names)."""
