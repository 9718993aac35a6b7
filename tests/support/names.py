"""Unique names so tests never see each other's resources."""

import uuid


def unique(prefix: str) -> str:
    """``prefix`` plus a short random suffix (Pub/Sub ids must start with a letter)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"
