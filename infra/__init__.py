"""Shared library of every service: config, identity, telemetry model, Firestore, Pub/Sub and Elasticsearch."""
