"""Request signing, exactly as docs/signing.md specifies (scheme IMGFORGE-HMAC-SHA256-V1).

`signed_headers` signs any request (REST or gRPC); `SigningInterceptor` signs every gRPC call
made through a channel, hashing the serialized request message the stub is about to send.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qsl, quote

import grpc
from google.protobuf.message import Message

SCHEME = "IMGFORGE-HMAC-SHA256-V1"

HEADER_KEY = "x-imgforge-key"
HEADER_USER = "x-imgforge-user"
HEADER_TIMESTAMP = "x-imgforge-timestamp"
HEADER_NONCE = "x-imgforge-nonce"
HEADER_CONTENT_SHA256 = "x-imgforge-content-sha256"
HEADER_SIGNATURE = "x-imgforge-signature"


@dataclass(frozen=True)
class Credentials:
    """An API key id, its secret and the end user the calls are made for."""

    key: str
    secret: str
    user: str

    def __repr__(self) -> str:
        # The secret never reaches a log line through repr().
        return f"Credentials(key={self.key!r}, secret='***', user={self.user!r})"


def _encode(text: str) -> str:
    # RFC 3986: everything but unreserved characters is percent-encoded, uppercase hex.
    return quote(text, safe="-._~")


def canonical_query(query: str) -> str:
    """The query string decoded, re-encoded and sorted by name, then value (byte order)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((_encode(name), _encode(value)) for name, value in pairs)
    return "&".join(f"{name}={value}" for name, value in encoded)


def _check_line(name: str, value: str) -> None:
    if value == "" or "\n" in value or "\r" in value:
        raise ValueError(f"{name} must be non-empty and on one line, got {value!r}")


def canonical_string(
    *,
    method: str,
    path: str,
    query: str,
    key: str,
    user: str,
    timestamp_ms: int,
    nonce: str,
    body_sha256: str,
) -> str:
    """The string that is signed: nine lines joined by "\\n", no trailing newline."""
    for name, value in [("method", method), ("path", path), ("key", key), ("user", user), ("nonce", nonce)]:
        _check_line(name, value)
    return "\n".join(
        [
            SCHEME,
            method.upper(),
            path,
            canonical_query(query),
            key,
            user,
            str(timestamp_ms),
            nonce,
            body_sha256,
        ]
    )


def signature(secret: str, canonical: str) -> str:
    """HMAC-SHA256 of the canonical string keyed by the UTF-8 secret, lowercase hex."""
    return hmac.new(secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """128 random bits as 32 lowercase hex digits."""
    return secrets.token_hex(16)


def signed_headers(
    credentials: Credentials,
    *,
    method: str,
    path: str,
    body: bytes,
    query: str = "",
    timestamp_ms: int | None = None,
    nonce: str | None = None,
) -> list[tuple[str, str]]:
    """The six signature headers for one request. `body` is the raw HTTP body, or for gRPC the
    serialized request message (without the 5-byte gRPC frame header)."""
    timestamp_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    nonce = new_nonce() if nonce is None else nonce
    body_sha256 = hashlib.sha256(body).hexdigest()
    canonical = canonical_string(
        method=method,
        path=path,
        query=query,
        key=credentials.key,
        user=credentials.user,
        timestamp_ms=timestamp_ms,
        nonce=nonce,
        body_sha256=body_sha256,
    )
    return [
        (HEADER_KEY, credentials.key),
        (HEADER_USER, credentials.user),
        (HEADER_TIMESTAMP, str(timestamp_ms)),
        (HEADER_NONCE, nonce),
        (HEADER_CONTENT_SHA256, body_sha256),
        (HEADER_SIGNATURE, signature(credentials.secret, canonical)),
    ]


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, details: grpc.ClientCallDetails, metadata: tuple[tuple[str, str | bytes], ...]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


class SigningInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Signs every unary and server-streaming call: `grpc.intercept_channel(channel, it)`.

    The body hash is over `request.SerializeToString()`, the same call the generated stub
    uses to serialize, so it covers the bytes actually sent. Do not enable per-message
    compression on signed calls (the hash is over the uncompressed message either way).
    """

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def _sign(self, details: grpc.ClientCallDetails, request: object) -> _CallDetails:
        if not isinstance(request, Message):
            raise TypeError(f"imgforge signing: request {type(request).__name__} is not a protobuf message")
        method = details.method.decode() if isinstance(details.method, bytes) else details.method
        headers = signed_headers(
            self._credentials, method="POST", path=method, body=request.SerializeToString()
        )
        return _CallDetails(details, tuple(details.metadata or ()) + tuple(headers))

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Request], grpc._CallFuture[_Response]],
        client_call_details: grpc.ClientCallDetails,
        request: _Request,
    ) -> grpc._CallFuture[_Response]:
        return continuation(self._sign(client_call_details, request), request)

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Request], grpc._CallIterator[_Response]],
        client_call_details: grpc.ClientCallDetails,
        request: _Request,
    ) -> grpc._CallIterator[_Response]:
        return continuation(self._sign(client_call_details, request), request)
