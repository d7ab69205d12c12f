"""Who is asking: the logged-in dashboard user or the API token's owner, and the login rate limit."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from functools import wraps

from flask import abort, g
from flask_login import UserMixin, current_user

from fspbx_sms.web.scope import Scope


class LoginUser(UserMixin):
    """The Flask-Login view of a user: its id and its :class:`Scope`."""

    def __init__(self, scope: Scope):
        self.scope = scope

    def get_id(self) -> str:
        """Flask-Login's session key for the user."""
        return str(self.scope.user_id)


def current_scope() -> Scope:
    """The scope of the API token's owner, else of the logged-in user (views require login first)."""
    api_scope = g.get("api_scope")
    if api_scope is not None:
        return api_scope
    if not current_user.is_authenticated:
        abort(401)
    return current_user.scope


def admin_required(view: Callable) -> Callable:
    """403 for extension users: the view is for superadmins and domain admins."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_scope().is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


class LoginThrottle:
    """In-memory failed-login counter per (client address, username).

    ``max_failures`` failures within ``lockout_seconds`` lock the key for ``lockout_seconds`` from the last one;
    after the lockout the count starts again from zero.
    """

    def __init__(self, max_failures: int, lockout_seconds: float, clock: Callable[[], float] = time.monotonic):
        self.max_failures = max_failures
        self.lockout_seconds = lockout_seconds
        self._clock = clock
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._locked_until: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def retry_after(self, key: tuple[str, str]) -> float:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        with self._lock:
            remaining = self._locked_until.get(key, 0.0) - self._clock()
            if remaining <= 0:
                self._locked_until.pop(key, None)
                return 0.0
            return remaining

    def failed(self, key: tuple[str, str]) -> None:
        """Count one failed login; the ``max_failures``-th within the window starts a lockout."""
        with self._lock:
            now = self._clock()
            recent = [stamp for stamp in self._failures.get(key, ()) if stamp > now - self.lockout_seconds]
            recent.append(now)
            if len(recent) >= self.max_failures:
                self._locked_until[key] = now + self.lockout_seconds
                self._failures.pop(key, None)
            else:
                self._failures[key] = recent

    def succeeded(self, key: tuple[str, str]) -> None:
        """Forget the failures of ``key`` after a good login."""
        with self._lock:
            self._failures.pop(key, None)
