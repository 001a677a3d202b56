"""Signed-cookie sessions and flash messages, the way Flask keeps them (itsdangerous).

Owns the `Session` dict (which knows whether it was changed), reading it from the request's
cookie, and the `Set-Cookie` line that writes it back. The cookie is the whole state: signed
with SECRET_KEY (not encrypted: a client can read what it holds), so any worker or host that
has the key serves the next request. A cookie that was tampered with, has expired, was signed
with an unknown key or is garbage reads as an empty session; it never fails the request.

Nothing here runs until a handler touches `request.session`: the request path of an app that
does not use sessions is not changed. itsdangerous is imported on first use (`rush[sessions]`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from rush.exceptions import ConfigError
from rush.protocol.writer import encode_fields
from rush.response import Response

#: Keeps the signatures of session cookies apart from anything else signed with the same key.
SALT = "cookie-session"


def signer_settings() -> dict[str, Any]:
    """Flask's signer settings (SecureCookieSessionInterface): with the same secret key, a
    session cookie a Flask app set is read here and the other way round, for plain values.
    Made on first use: hashlib loads OpenSSL's libcrypto (3.5 MB in every worker)."""
    import hashlib

    return {"key_derivation": "hmac", "digest_method": hashlib.sha1}


_FLASHES = "_flashes"
_PERMANENT = "_permanent"
_SAMESITE = ("Strict", "Lax", "None", None)
VARY_COOKIE = b"Vary: Cookie\r\n"


class Session(dict):  # type: ignore[type-arg]
    """The session of one request: a dict that notes when it is changed, so that the cookie
    is sent again only then. Changing a value in place (`session["cart"].append(x)`) is not
    seen: set `session.modified = True` after such a change."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.modified = False
        #: Whether the request came with a session cookie (an emptied session deletes it).
        self.had_cookie = False

    @property
    def permanent(self) -> bool:
        """True: the cookie lives PERMANENT_SESSION_LIFETIME in the browser (Max-Age); False
        (the default): until the browser closes. Either way the signature expires then."""
        return bool(self.get(_PERMANENT, False))

    @permanent.setter
    def permanent(self, value: bool) -> None:
        self[_PERMANENT] = bool(value)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: Any, *default: Any) -> Any:
        self.modified = True
        return super().pop(key, *default)

    def popitem(self) -> tuple[Any, Any]:
        self.modified = True
        return super().popitem()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.modified = True
        super().update(*args, **kwargs)

    def __ior__(self, other: Any) -> Session:  # type: ignore[misc]
        self.modified = True
        super().update(other)
        return self

    def __repr__(self) -> str:
        return f"<Session {dict.__repr__(self)}{' modified' if self.modified else ''}>"


NO_SECRET_KEY = (
    "the session needs a secret key: set app.config['SECRET_KEY'] "
    "(or Rush(secret_key=...), or the RUSH_SECRET_KEY environment variable)"
)


class NullSession(Session):
    """`request.session` of an app without a secret key, as in Flask: it reads as empty (so a
    layout may call get_flashed_messages), and changing it is a ConfigError naming the key."""

    @property  # type: ignore[override]
    def modified(self) -> bool:
        return False

    @modified.setter
    def modified(self, value: bool) -> None:
        if value:
            raise ConfigError(NO_SECRET_KEY)


class _CompactJSON:
    """itsdangerous' payload serializer: JSON without spaces (the cookie must stay small)."""

    @staticmethod
    def dumps(value: Any) -> str:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    @staticmethod
    def loads(text: str | bytes) -> Any:
        return json.loads(text)


class SessionStore:
    """One per app: reads and writes session cookies with the settings of `config` (SECRET_KEY,
    SECRET_KEY_FALLBACKS, SESSION_COOKIE_*, PERMANENT_SESSION_LIFETIME), read at each use."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self._serializers: dict[tuple[Any, ...], Any] = {}

    def serializer(self) -> Any:
        """The itsdangerous serializer for the current keys: signs with SECRET_KEY, accepts
        it and each of SECRET_KEY_FALLBACKS (key rotation)."""
        config = self.config
        secret = config.get("SECRET_KEY")
        if not secret:
            raise ConfigError(NO_SECRET_KEY)
        fallbacks = config.get("SECRET_KEY_FALLBACKS") or ()
        if isinstance(fallbacks, (str, bytes)):
            fallbacks = (fallbacks,)
        # itsdangerous signs with the last key and tries them newest first.
        keys = (*reversed(tuple(fallbacks)), secret)
        serializer = self._serializers.get(keys)
        if serializer is None:
            try:
                from itsdangerous import URLSafeTimedSerializer
            except ImportError:
                raise ConfigError(
                    "sessions need itsdangerous: pip install 'rush[sessions]'"
                ) from None
            serializer = URLSafeTimedSerializer(
                list(keys), salt=SALT, serializer=_CompactJSON, signer_kwargs=signer_settings()
            )
            if len(self._serializers) >= 8:  # keys rotate rarely; keep this bounded anyway
                self._serializers.clear()
            self._serializers[keys] = serializer
        return serializer

    def open(self, cookies: dict[str, str]) -> Session:
        """The session a request's cookies carry; empty when there is none or it is not valid."""
        if not self.config.get("SECRET_KEY"):
            return NullSession()
        serializer = self.serializer()
        value = cookies.get(self.config.get("SESSION_COOKIE_NAME") or "session")
        if not value:
            return Session()
        from itsdangerous import BadData

        try:
            data = serializer.loads(value, max_age=_seconds(self.lifetime()))
        except (BadData, ValueError, TypeError):
            data = None
        session = Session(data) if isinstance(data, dict) else Session()
        session.had_cookie = True
        return session

    def header_lines(self, session: Session) -> bytes:
        """What the answer carries for a session its request used: `Vary: Cookie`, and the
        `Set-Cookie` field of `cookie_fields` when there is one."""
        fields = self.cookie_fields(session)
        return VARY_COOKIE + encode_fields(fields) if fields else VARY_COOKIE

    def cookie_fields(self, session: Session) -> list[tuple[str, str]]:
        """The `Set-Cookie` field of a used session: none when unchanged, one that deletes the
        cookie when emptied (if there was one), else the signed session."""
        if not session.modified:
            return []
        config = self.config
        name = config.get("SESSION_COOKIE_NAME") or "session"
        path = config.get("SESSION_COOKIE_PATH") or "/"
        domain = config.get("SESSION_COOKIE_DOMAIN")
        if not session:
            if not session.had_cookie:
                return []
            cookie = Response(b"", content_type="")
            cookie.delete_cookie(name, path=path, domain=domain)
            return cookie.headers.items()
        samesite = config.get("SESSION_COOKIE_SAMESITE")
        if samesite not in _SAMESITE:
            raise ConfigError(f"SESSION_COOKIE_SAMESITE: {samesite!r} is not Strict, Lax or None")
        value = self.serializer().dumps(dict(session))
        cookie = Response(b"", content_type="")
        cookie.set_cookie(
            name,
            value,
            max_age=int(_seconds(self.lifetime())) if session.permanent else None,
            path=path,
            domain=domain,
            secure=bool(config.get("SESSION_COOKIE_SECURE")),
            httponly=bool(config.get("SESSION_COOKIE_HTTPONLY", True)),
            samesite=samesite,
        )
        return cookie.headers.items()

    def lifetime(self) -> timedelta | float:
        return self.config.get("PERMANENT_SESSION_LIFETIME") or timedelta(days=31)


def _seconds(lifetime: timedelta | float) -> float:
    return lifetime.total_seconds() if isinstance(lifetime, timedelta) else float(lifetime)


# -- flash messages: kept in the session until a later request reads them ------------------


def flash(session: Session, message: Any, category: str = "message") -> None:
    """Keep `message` for the next `get_flashed_messages` (usually after a redirect)."""
    flashes = list(session.get(_FLASHES, ()))
    flashes.append([category, message])
    session[_FLASHES] = flashes


def pop_flashes(session: Session) -> list[tuple[str, Any]]:
    """The flashed (category, message) pairs, taken out of the session."""
    if _FLASHES not in session:
        return []
    return [(category, message) for category, message in session.pop(_FLASHES)]


def select_flashes(
    flashes: list[tuple[str, Any]], with_categories: bool, category_filter: Iterable[str]
) -> list[Any]:
    """Flask's `get_flashed_messages` view of the pairs: filtered, with or without categories."""
    wanted = set(category_filter)
    if wanted:
        flashes = [pair for pair in flashes if pair[0] in wanted]
    if with_categories:
        return flashes
    return [message for _, message in flashes]
