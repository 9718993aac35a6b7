"""Data API and proxy tests (a package, so their processes stop when they are done)."""
