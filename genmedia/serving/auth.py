"""Authentication, roles and rate limits of every public RPC, checked by the serving kit before a servicer runs.

Callers send `authorization: Bearer <token>` metadata, where the token is an API key (from
GENMEDIA_API_KEYS_FILE, each mapped to a user and a role), a JWT (HS256 with a shared secret or RS256
with a public key; exp, nbf, aud and iss checked) or the internal credential the services use among
themselves (GENMEDIA_INTERNAL_TOKEN). Health and reflection stay open. Keys and tokens are compared by
their SHA-256 and never logged or echoed."""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import jwt

from genmedia.config import ConfigError, Section, Var, env_str, secret
from genmedia.domain.errors import ServiceError
from genmedia.serving.ratelimit import DEFAULT_LIMITS, RateLimiter, limits_from

log = logging.getLogger(__name__)

ROLES = ("user", "admin", "internal")
OPEN_PREFIXES = ("/grpc.health.", "/grpc.reflection.")
# Only the services' own credential may call these: they write the job record or the delivery log (which
# returns notification targets unredacted), or generate media.
INTERNAL_METHODS = ("/genmedia.v1.ProgressService/ReportProgress", "/genmedia.v1.ProgressService/ReportProgressBatch",
                    "/genmedia.v1.ProgressService/ReportProgressStream",
                    "/genmedia.v1.ProgressService/PurgeJobs", "/genmedia.v1.ProgressService/RecordDelivery",
                    "/genmedia.v1.ImageService/", "/genmedia.v1.VideoService/")
JWT_LEEWAY_SECONDS = 5
REQUIRED_CLAIMS = ("exp", "sub", "aud", "iss")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the user id jobs are owned by, and the role that decides what they may do."""

    user: str
    role: str

    @property
    def admin(self) -> bool:
        return self.role in ("admin", "internal")


# While authentication is off every caller is this one, and may do everything.
ANONYMOUS = Principal("anonymous", "admin")
_caller: contextvars.ContextVar[Principal] = contextvars.ContextVar("genmedia_caller", default=ANONYMOUS)


def caller() -> Principal:
    """The authenticated caller of the RPC being served."""
    return _caller.get()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _unauthenticated(message: str, reason: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, message, reason)


@dataclass(frozen=True)
class JwtSettings:
    audience: str
    issuer: str
    hs256_secret: str = ""
    rs256_public_key: str = ""
    role_claim: str = "role"

    def decode(self, token: str) -> Principal:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
        except jwt.PyJWTError:
            raise _unauthenticated("the bearer token is not a well-formed JWT", "TOKEN_MALFORMED") from None
        key = {"HS256": self.hs256_secret, "RS256": self.rs256_public_key}.get(algorithm or "")
        if not key:
            raise _unauthenticated(f"JWT algorithm {str(algorithm)[:20]!r} is not accepted here", "TOKEN_INVALID")
        try:
            claims = jwt.decode(token, key, algorithms=[algorithm], audience=self.audience, issuer=self.issuer,
                                leeway=JWT_LEEWAY_SECONDS, options={"require": list(REQUIRED_CLAIMS)})
        except jwt.ExpiredSignatureError:
            raise _unauthenticated("the token has expired", "TOKEN_EXPIRED") from None
        except jwt.ImmatureSignatureError:
            raise _unauthenticated("the token is not valid yet (nbf)", "TOKEN_NOT_YET_VALID") from None
        except jwt.InvalidAudienceError:
            raise _unauthenticated(f"the token is not for this audience ({self.audience})", "TOKEN_INVALID") from None
        except jwt.InvalidIssuerError:
            raise _unauthenticated(f"the token was not issued by {self.issuer}", "TOKEN_INVALID") from None
        except jwt.InvalidSignatureError:
            raise _unauthenticated("the token's signature does not verify", "TOKEN_INVALID") from None
        except jwt.MissingRequiredClaimError as err:
            raise ServiceError(grpc.StatusCode.UNAUTHENTICATED, f"the token has no {err.claim!r} claim; it needs "
                               f"{', '.join(REQUIRED_CLAIMS)}", "TOKEN_CLAIM_MISSING",
                               metadata={"claim": err.claim}) from None
        except jwt.PyJWTError as err:  # PyJWT's messages say what is wrong and never quote the token
            raise _unauthenticated(f"the token is invalid: {str(err)[:200] or 'it does not decode'}",
                                   "TOKEN_INVALID") from None
        role = claims.get(self.role_claim, "user")
        user = claims.get("sub")
        if role not in ("user", "admin") or not isinstance(user, str) or not 0 < len(user) <= 200:
            raise _unauthenticated("the token needs a sub of 1-200 characters and a role of user or admin",
                                   "TOKEN_INVALID")
        return Principal(user, role)


@dataclass
class Authenticator:
    """Checks the credentials and role of each call and sets `caller()` for the servicer."""

    enabled: bool
    keys: dict[str, Principal] = field(default_factory=dict)  # sha256(key) -> principal
    jwt: JwtSettings | None = None
    limiter: RateLimiter | None = None

    async def __call__(self, method: str, context: grpc.aio.ServicerContext) -> None:
        if method.startswith(OPEN_PREFIXES):
            return
        if not self.enabled:
            _caller.set(ANONYMOUS)
            return
        principal = self.authenticate(_authorization(context))
        internal_only = method.startswith(INTERNAL_METHODS)
        if internal_only and principal.role != "internal":
            raise ServiceError(grpc.StatusCode.PERMISSION_DENIED,
                               f"{method.rsplit('/', 1)[-1]} is internal: only genmedia's services may call it",
                               "INTERNAL_ONLY")
        if self.limiter is not None and principal.role != "internal":
            self.limiter.check(principal.user, principal.role, method)
        _caller.set(principal)

    def authenticate(self, header: str) -> Principal:
        if not header:
            raise _unauthenticated("credentials are missing: send 'authorization: Bearer <API key or JWT>'",
                                   "CREDENTIALS_MISSING")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() not in ("bearer", "apikey") or not token:
            raise _unauthenticated("the authorization metadata must be 'Bearer <API key or JWT>'",
                                   "CREDENTIALS_MALFORMED")
        principal = self.keys.get(_sha256(token))
        if principal is not None:
            return principal
        if token.count(".") == 2 and self.jwt is not None:
            return self.jwt.decode(token)
        raise _unauthenticated("the API key or token is not valid", "CREDENTIALS_INVALID")

    @classmethod
    def from_env(cls) -> Authenticator:
        """GENMEDIA_AUTH: `auto` (on when any credential is configured), `on` or `off`."""
        mode = env_str("GENMEDIA_AUTH", "auto").lower()
        if mode not in ("auto", "on", "off"):
            raise ConfigError(f"GENMEDIA_AUTH must be auto, on or off, got {mode!r}")
        keys = _api_keys()
        internal = secret("GENMEDIA_INTERNAL_TOKEN")
        if internal:
            keys[_sha256(internal)] = Principal("genmedia-internal", "internal")
        jwt_settings = _jwt_settings()
        configured = bool(keys or jwt_settings)
        enabled = mode == "on" or (mode == "auto" and configured)
        if enabled and not internal:
            raise ConfigError("GENMEDIA_INTERNAL_TOKEN (or GENMEDIA_INTERNAL_TOKEN_FILE) is required when "
                              "authentication is on: the services use it to call each other")
        if enabled and not (keys.keys() - {_sha256(internal)} or jwt_settings):
            raise ConfigError("authentication is on but no user credential is configured: set GENMEDIA_API_KEYS_FILE "
                              "or GENMEDIA_JWT_HS256_SECRET / GENMEDIA_JWT_RS256_PUBLIC_KEY_FILE")
        limits_text = env_str("GENMEDIA_LIMITS", "")
        limits = limits_from(limits_text, "GENMEDIA_LIMITS") if limits_text else dict(DEFAULT_LIMITS)
        return cls(enabled, keys, jwt_settings, RateLimiter(limits) if enabled else None)

    def warn_if_off(self, service: str) -> None:
        if not self.enabled:
            log.warning("%s: AUTHENTICATION IS OFF - every caller is 'anonymous' with full access. Configure "
                        "GENMEDIA_API_KEYS_FILE or GENMEDIA_JWT_* and GENMEDIA_INTERNAL_TOKEN for anything "
                        "but local use.", service)


def _authorization(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return value if isinstance(value, str) else ""
    return ""


def _api_keys() -> dict[str, Principal]:
    """GENMEDIA_API_KEYS_FILE: a JSON list of {"key" or "key_sha256", "user", "role"}."""
    path = env_str("GENMEDIA_API_KEYS_FILE", "")
    if not path:
        return {}
    try:
        entries = json.loads(Path(path).read_text())
    except OSError as err:
        raise ConfigError(f"GENMEDIA_API_KEYS_FILE: cannot read {path}: {err.strerror}") from None
    except ValueError as err:
        raise ConfigError(f"GENMEDIA_API_KEYS_FILE: {path} is not JSON: {err}") from None
    keys: dict[str, Principal] = {}
    for i, entry in enumerate(entries if isinstance(entries, list) else [None]):
        if not isinstance(entry, dict):
            raise ConfigError(f"GENMEDIA_API_KEYS_FILE: entry {i} must be an object with key, user and role")
        digest = entry.get("key_sha256") or (_sha256(entry["key"]) if entry.get("key") else "")
        user, role = entry.get("user", ""), entry.get("role", "user")
        if not digest or not isinstance(user, str) or not user or role not in ("user", "admin"):
            raise ConfigError(f"GENMEDIA_API_KEYS_FILE: entry {i} needs a key (or key_sha256), a user, "
                              "and a role of user or admin")
        keys[digest.lower()] = Principal(user, role)
    return keys


def _jwt_settings() -> JwtSettings | None:
    hs256 = secret("GENMEDIA_JWT_HS256_SECRET")
    key_file = env_str("GENMEDIA_JWT_RS256_PUBLIC_KEY_FILE", "")
    if not hs256 and not key_file:
        return None
    public_key = ""
    if key_file:
        try:
            public_key = Path(key_file).read_text()
        except OSError as err:
            raise ConfigError(f"GENMEDIA_JWT_RS256_PUBLIC_KEY_FILE: cannot read {key_file}: {err.strerror}") from None
    audience, issuer = env_str("GENMEDIA_JWT_AUDIENCE", ""), env_str("GENMEDIA_JWT_ISSUER", "")
    if not audience or not issuer:
        raise ConfigError("GENMEDIA_JWT_AUDIENCE and GENMEDIA_JWT_ISSUER are required with JWT authentication")
    return JwtSettings(audience, issuer, hs256, public_key, env_str("GENMEDIA_JWT_ROLE_CLAIM", "role"))



ENV = Section("Authentication (docs/security.md)", (
    Var("GENMEDIA_AUTH", "auto", "`auto` (on when any credential is configured), `on` or `off`"),
    Var("GENMEDIA_API_KEYS_FILE", "unset",
        'a JSON list of `{"key"` (or `"key_sha256"`)`, "user", "role"}`; role `user` or `admin`'),
    Var("GENMEDIA_INTERNAL_TOKEN", "unset",
        "the credential the services send each other; required when authentication is on"),
    Var("GENMEDIA_INTERNAL_TOKEN_FILE", "unset", "a file holding GENMEDIA_INTERNAL_TOKEN (wins over it)"),
    Var("GENMEDIA_JWT_HS256_SECRET", "unset", "accept JWTs signed HS256 with this shared secret"),
    Var("GENMEDIA_JWT_HS256_SECRET_FILE", "unset", "a file holding GENMEDIA_JWT_HS256_SECRET (wins over it)"),
    Var("GENMEDIA_JWT_RS256_PUBLIC_KEY_FILE", "unset", "accept JWTs signed RS256 by this public key (PEM)"),
    Var("GENMEDIA_JWT_AUDIENCE", "unset", "the `aud` every JWT must carry; required with JWTs"),
    Var("GENMEDIA_JWT_ISSUER", "unset", "the `iss` every JWT must carry; required with JWTs"),
    Var("GENMEDIA_JWT_ROLE_CLAIM", "role", "the claim that holds the caller's role (`user` when absent)"),
    Var("GENMEDIA_LIMITS", "user: create 5/s burst 20, read 50/s burst 200, 100 active jobs; admin: none",
        'per-role limits as JSON: `{"user": {"create": [rate, burst], "read": [rate, burst], '
        '"max_active_jobs": n}}`'),
))
