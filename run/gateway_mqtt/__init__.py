"""gateway-mqtt: an ingest-only MQTT 3.1.1/5 server over TCP and WebSocket (protocol core and transports)."""
