"""Secrets out of everything shown: database and tracking URLs redacted, error messages scrubbed.

Done on the text, not through a URL parser: a password with an unencoded '@', '#' or '/'
is not parsed as a password by URL parsers and would leak as part of a host or a path.
"""

from __future__ import annotations

import re

# a secret parameter's value runs to the next '&': an unencoded '#' in a password is not a fragment to a database driver
SECRET_PARAMETER = re.compile(r"([?&][^=&#]*(?:pass|pwd|secret|token|key|credential|auth)[^=&#]*=)[^&]*", re.I)


def redact(url: str) -> str:
    """A URL with its credentials and any secret-looking query parameter replaced, safe to print or log.

    Done on the text, not through a parser: a password with an unencoded '@' or '#' is
    not parsed as a password by URL parsers, and would leak as part of the host.
    Everything before the authority's last '@' goes; so do the values of query
    parameters named like a secret (password=, sslpassword=, token=, ...).
    """
    scheme, separator, rest = str(url).partition("://")
    userinfo = _userinfo(rest) if separator else None
    if userinfo and ":" in userinfo:  # a user alone is no secret
        rest = userinfo.split(":", 1)[0] + ":***" + rest[len(userinfo):]
    return SECRET_PARAMETER.sub(r"\1***", f"{scheme}{separator}{rest}" if separator else rest)


def _userinfo(rest: str) -> str | None:
    """What precedes the authority's last '@' in the part of a URL after '://' (user and password), if any."""
    at = rest.rfind("@", 0, _authority_end(rest)) if "@" in rest else -1
    return rest[:at] if at >= 0 else None


def scrub(text: str, urls) -> str:
    """``text`` without any secret of ``urls``, nor any piece of one a driver may have split off.

    A password with an unencoded '@' is cut by drivers at that '@' and echoed as part of a
    host name ("could not translate host name \"ss#w0rd@127.0.0.1\""): so every piece of a
    secret that starts or ends at a URL delimiter goes too, down to four characters.
    """
    pieces = sorted({piece for url in urls if url for secret in url_secrets(str(url)) for piece in _pieces(secret)},
                    key=len, reverse=True)
    for piece in pieces:
        text = text.replace(piece, "***")
    return text


def url_secrets(url: str) -> list[str]:
    """The password of a URL's authority and the values of its secret-looking query parameters."""
    _, separator, rest = url.partition("://")
    secrets = []
    userinfo = _userinfo(rest) if separator else None
    if userinfo and ":" in userinfo:
        secrets.append(userinfo.split(":", 1)[1])
    secrets += [match.group(0).split("=", 1)[1] for match in SECRET_PARAMETER.finditer(url)]
    return [s for s in secrets if s]


def _pieces(secret: str, shortest: int = 4) -> set[str]:
    cuts = [0] + [i for i, c in enumerate(secret) if c in "@:/#?%&"] + [len(secret)]
    pieces = {secret}
    for i in cuts:
        for j in cuts:
            piece = secret[i:j].strip("@:/#?%&")
            if len(piece) >= shortest:
                pieces.add(piece)
    return pieces


def _authority_end(rest: str) -> int:
    """Where the host part ends: the first '/' or '?' after the last '@' that precedes them (or the end)."""
    last_at = rest.rfind("@")
    for index, char in enumerate(rest[last_at + 1:] if last_at >= 0 else rest, start=last_at + 1):
        if char in "/?":
            return index
    return len(rest)
