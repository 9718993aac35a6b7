"""The bootstrapped admin's credentials: from ``IOT_ADMIN_PASSWORD``, or in development generated once into the
data folder (mode 0600) and printed by ``make dev``. There is no default password."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from infra.config import ConfigError, Settings
from infra.usecases.accounts import AdminAccount

ADMIN_PASSWORD_FILE = "admin-password"


def admin_account(settings: Settings) -> AdminAccount:
    """The admin's username and password from the settings; in development, generated once into the data folder.

    Raises:
        ConfigError: IOT_ADMIN_PASSWORD is unset outside development, or shorter than the password policy.
    """
    if settings.admin_password:
        if len(settings.admin_password) < 10:
            raise ConfigError("IOT_ADMIN_PASSWORD must be at least 10 characters")
        return AdminAccount(settings.admin_username, settings.admin_password)
    if not settings.development:
        raise ConfigError("IOT_ADMIN_PASSWORD is required outside development (there is no default password)")
    path = settings.data_dir / ADMIN_PASSWORD_FILE
    password, generated = _development_password(path)
    return AdminAccount(settings.admin_username, password, generated, path)


def _development_password(path: Path) -> tuple[str, bool]:
    """Read the generated admin password, generating it (mode 0600) first if needed; safe under races."""
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(18) + "\n")
    try:
        os.link(tmp, path)  # atomic: exactly one process's password wins, the others read it
        generated = True
    except FileExistsError:
        generated = False
    finally:
        tmp.unlink()
    return path.read_text().strip(), generated

