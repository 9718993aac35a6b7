"""One sub-package per Cloud Run service: thin adapters (HTTP/WebSocket/MQTT to domain calls) and app factories."""
