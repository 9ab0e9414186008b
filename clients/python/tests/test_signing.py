"""The request-signing helper against the worked examples of docs/signing.md, and the
interceptor against a gRPC server that checks what really arrives."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest

from imgforge.client.signing import (
    HEADER_CONTENT_SHA256,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    HEADER_USER,
    Credentials,
    SigningInterceptor,
    canonical_query,
    canonical_string,
    signed_headers,
)
from imgforge.v1 import common_pb2, utility_pb2, utility_service_pb2_grpc

CREDS = Credentials(key="ak_test_2026", secret="sk_test_9f8e7d6c5b4a", user="user-42")
TIMESTAMP = 1767225600000
NONCE = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_rest_vector() -> None:
    headers = dict(
        signed_headers(
            CREDS,
            method="post",
            path="/v1/agent/cover",
            query="b=2&a=x%20y&a=1&c",
            body=b'{"gender":"female","age":"25"}',
            timestamp_ms=TIMESTAMP,
            nonce=NONCE,
        )
    )
    assert headers == {
        "x-imgforge-key": "ak_test_2026",
        "x-imgforge-user": "user-42",
        "x-imgforge-timestamp": "1767225600000",
        "x-imgforge-nonce": NONCE,
        "x-imgforge-content-sha256": "d1a3c903e2577d86495ae8fe0e77a5f41d6712ed37f5c044ec457fc5bf472856",
        "x-imgforge-signature": "0703ca08d075b0f444957050734e485f2dfc3ae4cb7d0caaeb6d32194b204b46",
    }
    assert canonical_string(
        method="post",
        path="/v1/agent/cover",
        query="b=2&a=x%20y&a=1&c",
        key=CREDS.key,
        user=CREDS.user,
        timestamp_ms=TIMESTAMP,
        nonce=NONCE,
        body_sha256="d1a3c903e2577d86495ae8fe0e77a5f41d6712ed37f5c044ec457fc5bf472856",
    ) == "\n".join(
        [
            "IMGFORGE-HMAC-SHA256-V1",
            "POST",
            "/v1/agent/cover",
            "a=1&a=x%20y&b=2&c=",
            "ak_test_2026",
            "user-42",
            "1767225600000",
            NONCE,
            "d1a3c903e2577d86495ae8fe0e77a5f41d6712ed37f5c044ec457fc5bf472856",
        ]
    )


def test_grpc_vector() -> None:
    request = utility_pb2.ResizeRequest(
        image=common_pb2.ImageInput(url="https://example.com/photo.jpg"), max_dim=512
    )
    body = request.SerializeToString()
    assert body.hex() == "0a1f121d68747470733a2f2f6578616d706c652e636f6d2f70686f746f2e6a7067188004"
    headers = dict(
        signed_headers(
            CREDS,
            method="POST",
            path="/imgforge.v1.UtilityService/Resize",
            body=body,
            timestamp_ms=TIMESTAMP,
            nonce=NONCE,
        )
    )
    assert headers[HEADER_CONTENT_SHA256] == "05f4fdec777d2d4317c5cc6d4ef7e23bb65266bd0dffdc1689d6f3831fc2411e"
    assert headers[HEADER_SIGNATURE] == "6c6fdc9542a726d3354623889f404ac408dbd8a98004028dbfd384e0ba638072"


def test_query_is_decoded_reencoded_and_sorted() -> None:
    assert canonical_query("z=%7e&a=b+c&a=%41&%E4%B8%AD=1") == "%E4%B8%AD=1&a=A&a=b%20c&z=~"
    assert canonical_query("") == ""


def test_multi_line_values_are_refused() -> None:
    with pytest.raises(ValueError, match="user"):
        signed_headers(Credentials("k", "s", "a\nb"), method="POST", path="/p", body=b"")


def test_repr_hides_the_secret() -> None:
    assert CREDS.secret not in repr(CREDS)


class _Recorder(utility_service_pb2_grpc.UtilityServiceServicer):
    """Checks the signature of every call against the raw message bytes received."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    def Resize(  # noqa: N802 (generated name)
        self, request: utility_pb2.ResizeRequest, context: grpc.ServicerContext
    ) -> utility_pb2.ResizeResponse:
        meta = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        body = request.SerializeToString()
        assert hashlib.sha256(body).hexdigest() == meta[HEADER_CONTENT_SHA256]
        canonical = canonical_string(
            method="POST",
            path="/imgforge.v1.UtilityService/Resize",
            query="",
            key=meta["x-imgforge-key"],
            user=meta[HEADER_USER],
            timestamp_ms=int(meta[HEADER_TIMESTAMP]),
            nonce=meta[HEADER_NONCE],
            body_sha256=meta[HEADER_CONTENT_SHA256],
        )
        expected = hmac.new(CREDS.secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, meta[HEADER_SIGNATURE]):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "signature is wrong")
        self.seen.append(meta)
        return utility_pb2.ResizeResponse(original_width=1)


@pytest.fixture
def recorder() -> Iterator[tuple[_Recorder, str]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = _Recorder()
    utility_service_pb2_grpc.add_UtilityServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield servicer, f"127.0.0.1:{port}"
    server.stop(None)


def test_interceptor_signs_the_bytes_sent(recorder: tuple[_Recorder, str]) -> None:
    servicer, addr = recorder
    with grpc.insecure_channel(addr) as channel:
        signed = grpc.intercept_channel(channel, SigningInterceptor(CREDS))
        stub = utility_service_pb2_grpc.UtilityServiceStub(signed)
        request = utility_pb2.ResizeRequest(image=common_pb2.ImageInput(data=b"\x89PNG"), max_dim=7)
        assert stub.Resize(request, timeout=10).original_width == 1
        assert stub.Resize(request, timeout=10).original_width == 1
    assert len(servicer.seen) == 2
    # A fresh nonce per call, so a server refusing replays accepts both.
    assert servicer.seen[0][HEADER_NONCE] != servicer.seen[1][HEADER_NONCE]
