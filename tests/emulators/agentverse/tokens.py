"""Bearer tokens for the engine and the refresh grant of the auth server (``POST /v1/tokens``).

One access token and one refresh token are valid at a time. A refresh replaces both (or only the
access token when rotation is off, in which case the answer omits ``refresh_token``), so the old
ones stop working: a second refresh with the same refresh token gets the 422 the notes describe.
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

from aiohttp import web

from .validation import Errors, Invalid, detail, error, field, invalid, json_response, v_dict, v_str
from .wire import (
    ACCESS_EXPIRES_IN_S,
    BAD_CLIENT,
    BAD_GRANT,
    CLIENT_ID,
    GRANT_TYPE,
    INVALID_TOKEN,
    NOT_AUTHENTICATED,
    REFRESH_EXPIRES_IN_S,
    REFRESH_REJECTED,
    SCOPE,
    TOKEN_EXPIRED,
)

ExpiresInStyle = Literal["seconds", "epoch"]


class TokenStore:
    """The currently valid tokens, every token ever issued, and the refresh logic."""

    def __init__(
        self,
        access_token: str,
        refresh_token: str | None,
        *,
        access_ttl_s: float | None = None,
        rotate_refresh: bool = True,
        expires_in_style: ExpiresInStyle = "seconds",
    ) -> None:
        self.access_token = access_token
        self.refresh_token = refresh_token
        """``None`` means a static API key: every refresh is refused."""
        self.access_ttl_s = access_ttl_s
        self.rotate_refresh = rotate_refresh
        self.expires_in_style: ExpiresInStyle = expires_in_style
        self.refresh_count = 0
        self.auth_failure_status = 401
        self._issued = {access_token} if refresh_token is None else {access_token, refresh_token}
        self._access_expired = False
        self._refresh_expired = False
        self._issued_at = time.monotonic()

    # -- engine side -----------------------------------------------------------------------------

    @property
    def issued(self) -> frozenset[str]:
        """Every access and refresh token handed out so far, the initial pair included."""
        return frozenset(self._issued)

    def access_valid(self, token: str) -> bool:
        if token != self.access_token or self._access_expired:
            return False
        return self.access_ttl_s is None or time.monotonic() - self._issued_at < self.access_ttl_s

    def reject(self, token: str | None) -> web.Response | None:
        """``None`` if ``token`` is the live access token, else the 401 (or scripted 403) to answer."""
        if token is None:
            return detail(401, NOT_AUTHENTICATED)
        if self.access_valid(token):
            return None
        return detail(self.auth_failure_status, TOKEN_EXPIRED if token in self._issued else INVALID_TOKEN)

    def expire_access(self, status: int = 401) -> None:
        self._access_expired = True
        self.auth_failure_status = status

    def expire_refresh(self) -> None:
        self._refresh_expired = True

    # -- auth server side ------------------------------------------------------------------------

    def _mint(self, kind: str) -> str:
        token = f"av-{kind}-{self.refresh_count + 2}"  # the initial pair is generation 1
        while token in self._issued:
            token += "x"
        self._issued.add(token)
        return token

    def _expires_in(self, seconds: float) -> int:
        whole = math.ceil(seconds)
        return int(time.time()) + whole if self.expires_in_style == "epoch" else whole

    def refresh(self, body: Any) -> web.Response:
        """Answer a refresh grant: 422 for a malformed body or a bad refresh token, 400 for a bad client."""
        try:
            src = v_dict(body)
        except Invalid as exc:
            return invalid([error(["body"], exc.msg, exc.type)])
        errors: Errors = []
        sent = {
            name: field(src, name, ["body"], v_str, errors, required=True) for name in ("grant_type", "refresh_token")
        }
        sent.update(
            {name: field(src, name, ["body"], v_str, errors, required=False) for name in ("client_id", "scope")}
        )
        if errors:
            return invalid(errors)
        if sent["grant_type"] != GRANT_TYPE:
            return detail(400, BAD_GRANT)
        if sent["client_id"] != CLIENT_ID or sent["scope"] != SCOPE:
            return detail(400, BAD_CLIENT)
        if self.refresh_token is None or self._refresh_expired or sent["refresh_token"] != self.refresh_token:
            return detail(422, REFRESH_REJECTED)
        access = self._mint("access")
        answer: dict[str, Any] = {
            "access_token": access,
            "expires_in": self._expires_in(self.access_ttl_s or ACCESS_EXPIRES_IN_S),
            "refresh_expires_in": self._expires_in(REFRESH_EXPIRES_IN_S),
            "token_type": "Bearer",
        }
        if self.rotate_refresh:
            self.refresh_token = answer["refresh_token"] = self._mint("refresh")
        self.refresh_count += 1
        self.access_token, self._access_expired, self._issued_at = access, False, time.monotonic()
        return json_response(200, answer)
