"""The browser's cookies: the session and the sign-in binding.

Both carry a random value and an HMAC of it under the gateway's cookie key,
so a forged or truncated cookie is turned away before any database read. The
session cookie is HttpOnly, SameSite=Lax (Entra's redirect back is a
top-level GET, which Lax lets through), Secure when the public URL is https,
and scoped to ``/user/external``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from gateway.crypto import SecretBox
from gateway.store.sso_keys import COOKIE, active_keys

SESSION_COOKIE = "gw_sso_session"
BINDING_COOKIE = "gw_sso_binding"
COOKIE_PATH = "/user/external"
# The binding only has to outlive one trip to Entra (10 minutes) with room.
BINDING_MAX_AGE = 3600


def _new_cookie_key() -> tuple[str, str]:
    return uuid.uuid4().hex, secrets.token_urlsafe(32)


def load_cookie_signer(engine: Engine, box: SecretBox) -> CookieSigner:
    """The signer under the store's cookie keys (one is made on first use)."""
    keys = active_keys(engine, box, COOKIE, _new_cookie_key)
    # Replicas starting at once may each make a key; all of them verify, and
    # every replica signs with the same (the oldest) one.
    return CookieSigner(*(key.private.reveal().encode() for key in reversed(keys)))


class CookieSigner:
    """``value.mac`` cookies: signed with the first key, accepted under any."""

    def __init__(self, key: bytes, *older: bytes) -> None:
        self._keys = (key, *older)

    @staticmethod
    def _mac(key: bytes, value: str) -> str:
        digest = hmac.new(key, value.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def sign(self, value: str) -> str:
        return f"{value}.{self._mac(self._keys[0], value)}"

    def unsign(self, cookie: str | None) -> str | None:
        if not cookie or cookie.count(".") != 1:
            return None
        value, mac = cookie.split(".")
        if not value:
            return None
        for key in self._keys:
            if hmac.compare_digest(mac.encode(), self._mac(key, value).encode()):
                return value
        return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


class Cookies:
    """Reads and writes this feature's cookies with the right attributes."""

    def __init__(self, signer: CookieSigner, *, secure: bool, session_max_age: int) -> None:
        self._signer = signer
        self._secure = secure
        self._session_max_age = session_max_age

    def session_token(self, request: Request) -> str | None:
        return self._signer.unsign(request.cookies.get(SESSION_COOKIE))

    def binding(self, request: Request) -> str | None:
        return self._signer.unsign(request.cookies.get(BINDING_COOKIE))

    def set_session(self, response: Response, token: str) -> None:
        self._set(response, SESSION_COOKIE, self._signer.sign(token), self._session_max_age)

    def set_binding(self, response: Response, binding: str) -> None:
        self._set(response, BINDING_COOKIE, self._signer.sign(binding), BINDING_MAX_AGE)

    def clear_session(self, response: Response) -> None:
        response.delete_cookie(
            SESSION_COOKIE,
            path=COOKIE_PATH,
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    def _set(self, response: Response, name: str, value: str, max_age: int) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            path=COOKIE_PATH,
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )
