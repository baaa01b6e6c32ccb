"""The return_to allow-list: after sign-in the browser goes only where the operator allows.

An open redirect on a sign-in endpoint hands phishing pages a trusted link, so
anything not on ``GATEWAY_SSO_RETURN_TO_ALLOWED`` lands on the gateway's own page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_LENGTH = 2048


def allowed_return_to(value: str | None, prefixes: list[str]) -> str | None:
    """``value`` when it starts with an allow-listed prefix, else ``None`` (no open redirect).

    Compared as parsed URLs: same scheme, same host and port, and a path under
    the prefix's path; user info, backslashes and control characters never pass.
    """
    if not value or len(value) > MAX_LENGTH:
        return None
    if any(ch in value for ch in "\\\r\n\t ") or any(
        ord(ch) < 32 or ord(ch) == 127 for ch in value
    ):
        return None
    try:
        target = urlsplit(value)
    except ValueError:
        return None
    if target.scheme not in ("http", "https") or not target.netloc or "@" in target.netloc:
        return None
    for prefix in prefixes:
        allowed = urlsplit(prefix)
        if (target.scheme, target.netloc.lower()) != (allowed.scheme, allowed.netloc.lower()):
            continue
        base = allowed.path or "/"
        if base.endswith("/"):
            if (target.path or "/").startswith(base):
                return value
        elif target.path == base or target.path.startswith(base + "/"):
            return value
    return None
