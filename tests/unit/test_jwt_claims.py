"""A JWT refused for a missing claim says which claim, not the library's exception name."""

from __future__ import annotations

import time

import grpc
import jwt
import pytest

from genmedia.domain.errors import ServiceError
from genmedia.serving.auth import JwtSettings

SECRET, AUDIENCE, ISSUER = "a-secret-of-thirty-two-bytes-or-more", "genmedia", "https://auth.example"


@pytest.mark.parametrize("missing", ["exp", "sub", "aud", "iss"])
def test_a_token_without_a_required_claim_names_it(missing: str) -> None:
    claims = {"sub": "carol", "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 300}
    del claims[missing]
    settings = JwtSettings(AUDIENCE, ISSUER, hs256_secret=SECRET)
    with pytest.raises(ServiceError) as refused:
        settings.decode(jwt.encode(claims, SECRET, algorithm="HS256"))
    error = refused.value
    assert error.code == grpc.StatusCode.UNAUTHENTICATED and error.reason == "TOKEN_CLAIM_MISSING"
    assert f"no {missing!r} claim" in error.message and "Error" not in error.message, error.message
    assert error.metadata == {"claim": missing}


def test_other_invalid_tokens_say_what_is_wrong_without_an_exception_name() -> None:
    settings = JwtSettings(AUDIENCE, ISSUER, hs256_secret=SECRET)
    claims = {"sub": 42, "aud": AUDIENCE, "iss": ISSUER, "exp": int(time.time()) + 300}
    with pytest.raises(ServiceError) as refused:
        settings.decode(jwt.encode(claims, SECRET, algorithm="HS256"))
    assert refused.value.reason == "TOKEN_INVALID" and "Error" not in refused.value.message, refused.value.message
