"""Errors every layer raises; one Flask handler renders them as ``{"error": {"code", "message"}}``."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error with an HTTP status, a stable machine code and a message safe to show the caller."""

    status = 500
    code = "internal"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details
        self.headers = headers or {}

    def to_dict(self) -> dict:
        """Render the JSON error body of DESIGN.md §4.1."""
        error = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


class BadRequestError(AppError):
    status, code = 400, "bad_request"


class UnauthorizedError(AppError):
    status, code = 401, "unauthorized"

    def __init__(self, message: str = "authentication required", **kwargs):
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class ForbiddenError(AppError):
    status, code = 403, "forbidden"


class NotFoundError(AppError):
    status, code = 404, "not_found"


class ConflictError(AppError):
    status, code = 409, "conflict"


class PayloadTooLargeError(AppError):
    status, code = 413, "too_large"


class UnsupportedMediaTypeError(AppError):
    status, code = 415, "unsupported_media_type"


class ValidationError(AppError):
    status, code = 422, "invalid"


class _RetryableError(AppError):
    """An error the caller should retry after ``retry_after`` seconds (sent as ``Retry-After``)."""

    def __init__(self, message: str, *, retry_after: int = 1, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Retry-After"] = str(max(1, int(retry_after)))
        super().__init__(message, headers=headers, **kwargs)
        self.retry_after = max(1, int(retry_after))


class RateLimitedError(_RetryableError):
    status, code = 429, "rate_limited"


class ServiceUnavailableError(_RetryableError):
    status, code = 503, "unavailable"


class StoreUnavailableError(ServiceUnavailableError):
    """The time-series store could not be reached or refused the whole request; retry later (503)."""

    def __init__(self, message: str = "the time-series store is unavailable", **kwargs):
        kwargs.setdefault("retry_after", 5)
        super().__init__(message, code="store_unavailable", **kwargs)


class QueryError(ValueError):
    """A read request the store refuses (bad bounds, cursor, interval, aggregation or search body)."""
