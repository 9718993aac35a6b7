"""Pipeline tests (a package, so the pipeline process of these tests stops when they are done)."""
