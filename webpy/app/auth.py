"""Authentication for handlers: HTTP Basic (RFC 7617) and Bearer tokens (RFC 6750).

    from webpy.app.auth import READ_METHODS, BasicAuthHandler

    class Notes(BasicAuthHandler):
        realm = "notes"
        users = {"alice": "wonderland"}
        public_methods = READ_METHODS       # anyone reads, only users write

        def do_put(self):
            return 200, f"stored for {self.user}"

Both handlers check the ``Authorization`` field in `prepare`, which runs
after routing and before the body is read: a request without valid
credentials is refused with 401 and a ``WWW-Authenticate`` challenge, its
body is never read, and a client waiting on ``Expect: 100-continue`` never
sends it. A malformed ``Authorization`` field is 400. After a successful
check `self.user` says who made the request; it is None on a public method
reached without credentials.

Credentials sent on a public method are still checked (wrong ones are a 401,
not an anonymous request), so a handler may show more to a signed-in reader.
Credentials for another scheme are treated as none at all.

The handlers are ordinary `HTTPHandler` subclasses that call
``super().prepare()`` after their own check, so they combine with other
handler bases by multiple inheritance: ``class Notes(BasicAuthHandler,
FormHandler)``. Their `prepare` must run for the check to happen: a subclass
overriding it calls ``super().prepare()``, before its own checks if those
should not answer anyone who has not signed in.
Basic credentials travel in clear text; serve them over TLS.
"""

from __future__ import annotations

import base64
import hmac
import re
import unicodedata
from collections.abc import Collection, Mapping
from email.utils import quote
from typing import Any, ClassVar

from .errors import HTTPError
from .handler import HTTPHandler

#: The methods that only read: a `public_methods` value for "anyone reads, only users write".
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BasicAuthHandler(HTTPHandler):
    """Requires HTTP Basic credentials (RFC 7617) unless the method is public.

    By default a user name and password are accepted when `users` maps the
    name to that password; override `authenticate` to check them elsewhere
    (a database, hashed passwords). Credentials are UTF-8, as announced by
    the challenge's ``charset="UTF-8"``, and are normalised to NFC before
    the check, so store names and passwords in NFC. `self.user` is then the
    user name, a str.
    """

    #: The protection space named in the challenge; browsers show it in their login prompt.
    realm: ClassVar[str] = "webpy"
    #: Methods anyone may use without credentials, e.g. `READ_METHODS`.
    #: HEAD is public whenever GET is, since it is answered from `do_get`.
    public_methods: ClassVar[Collection[str]] = frozenset()
    #: User name -> password, for the default `authenticate`. Plain text: fine for a
    #: small private service or tests; override `authenticate` to check hashes.
    users: ClassVar[Mapping[str, str]] = {}

    #: Who made the request once `prepare` has run; None when anonymous.
    user: Any = None

    def prepare(self) -> None:
        """Check the credentials, then let the other bases vet the request."""
        credentials = _credentials(self, "Basic")
        if credentials is not None:
            user, password = _decode_basic(credentials)
            if not self.authenticate(user, password):
                raise HTTPError(401, "wrong user name or password",
                                headers={"WWW-Authenticate": self._challenge()})
            self.user = self.request.user = user  # the request's for the access log
        elif not _is_public(self):
            raise HTTPError(401, "credentials required",
                            headers={"WWW-Authenticate": self._challenge()})
        super().prepare()

    def authenticate(self, user: str, password: str) -> bool:
        """Whether `password` is `user`'s; by default looked up in `users`.

        The password is compared in constant time, and an unknown user costs
        the same comparison, so timing tells nothing about either. May raise
        `HTTPError` (e.g. 403 for a known user who may not use this resource).
        """
        known = self.users.get(user)
        expected = password if known is None else known
        matches = hmac.compare_digest(expected.encode("utf-8"), password.encode("utf-8"))
        return known is not None and matches

    def _challenge(self) -> str:
        return f'Basic realm="{quote(self.realm)}", charset="UTF-8"'


class TokenAuthHandler(HTTPHandler):
    """Requires a Bearer token (RFC 6750) in the Authorization field unless the method is public.

    `authenticate_token` turns a token into whoever it stands for (any object,
    kept as `self.user`) or None to reject it. By default it looks the token
    up in `tokens`. Tokens are taken from the Authorization field only, never
    from the query string, where they would end up in logs.
    """

    #: The protection space named in the challenge.
    realm: ClassVar[str] = "webpy"
    #: Methods anyone may use without a token, e.g. `READ_METHODS`.
    #: HEAD is public whenever GET is, since it is answered from `do_get`.
    public_methods: ClassVar[Collection[str]] = frozenset()
    #: Token -> whoever it stands for, for the default `authenticate_token`.
    tokens: ClassVar[Mapping[str, object]] = {}

    #: Whoever the token stands for once `prepare` has run; None when anonymous.
    user: Any = None

    def prepare(self) -> None:
        """Check the token, then let the other bases vet the request."""
        token = _credentials(self, "Bearer", self._challenge("invalid_request"))
        if token is not None:
            if not _TOKEN68.fullmatch(token):
                raise HTTPError(400, "malformed Bearer token",
                                headers={"WWW-Authenticate": self._challenge("invalid_request")})
            user = self.authenticate_token(token)
            if user is None:
                raise HTTPError(401, "invalid token",
                                headers={"WWW-Authenticate": self._challenge("invalid_token")})
            self.user = user
            self.request.user = _user_name(user)  # for the access log
        elif not _is_public(self):
            raise HTTPError(401, "token required",
                            headers={"WWW-Authenticate": self._challenge()})
        super().prepare()

    def authenticate_token(self, token: str) -> object | None:
        """Whoever `token` stands for, or None to refuse it; by default found in `tokens`.

        The default compares against every known token in constant time, so
        its cost grows with their number: override it for more than a few
        (look up a hash of the token instead). May raise `HTTPError`.
        """
        presented = token.encode("utf-8")
        found: object | None = None
        for known, user in self.tokens.items():
            if hmac.compare_digest(known.encode("utf-8"), presented):
                found = user
        return found

    def _challenge(self, error: str | None = None) -> str:
        challenge = f'Bearer realm="{quote(self.realm)}"'
        return f'{challenge}, error="{error}"' if error else challenge


#: b64token (RFC 6750 section 2.1), the syntax of a Bearer token.
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
#: Control characters, which RFC 7617 section 2 forbids in user names and passwords.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _credentials(handler: HTTPHandler, scheme: str, challenge: str | None = None) -> str | None:
    """The credentials following `scheme` in the Authorization field, or None if absent.

    A field for another scheme counts as absent; raises HTTPError(400) for
    repeated fields or a scheme with nothing after it.
    """
    values = handler.request.headers.get_all("Authorization")
    if not values:
        return None
    headers = {"WWW-Authenticate": challenge} if challenge else None
    if len(values) > 1:
        raise HTTPError(400, "more than one Authorization field", headers=headers)
    given_scheme, _, credentials = values[0].partition(" ")
    if given_scheme.lower() != scheme.lower():  # schemes are case-insensitive
        return None
    credentials = credentials.lstrip(" ")
    if not credentials:
        raise HTTPError(400, f"{scheme} credentials missing", headers=headers)
    return credentials


def _decode_basic(credentials: str) -> tuple[str, str]:
    """Split Basic credentials into NFC-normalised (user, password); HTTPError(400) if malformed."""
    try:
        text = base64.b64decode(credentials, validate=True).decode("utf-8")
    except ValueError:  # binascii.Error, UnicodeDecodeError, non-ASCII input
        raise HTTPError(400, "Basic credentials are not base64-encoded UTF-8") from None
    user, colon, password = text.partition(":")
    if not colon:
        raise HTTPError(400, "Basic credentials have no ':' between user name and password")
    if _CONTROL.search(text):
        raise HTTPError(400, "Basic credentials contain control characters")
    return unicodedata.normalize("NFC", user), unicodedata.normalize("NFC", password)


def _is_public(handler: BasicAuthHandler | TokenAuthHandler) -> bool:
    method = handler.request.method
    public = handler.public_methods
    return method in public or (method == "HEAD" and "GET" in public)


def _user_name(user: Any) -> str | None:
    """The name the access log shows for a token's user: itself if a str, else its `name`."""
    name = user if isinstance(user, str) else getattr(user, "name", None)
    return name if isinstance(name, str) else None
