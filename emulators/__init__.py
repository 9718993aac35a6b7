"""The local stack: Google's Pub/Sub and Firestore emulators, the Elasticsearch stand-in, and the dev runner."""
