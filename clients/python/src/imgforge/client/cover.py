"""`generate_cover`: runs CoverService.GenerateCover and follows its progress stream."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from imgforge.v1 import cover_pb2, cover_service_pb2_grpc


class CoverFailedError(Exception):
    """The stream ended with a `failed` event (the server's stable code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"cover generation failed ({code}): {message}")
        self.code = code
        self.message = message


def generate_cover(
    stub: cover_service_pb2_grpc.CoverServiceStub,
    request: cover_pb2.GenerateCoverRequest,
    *,
    on_event: Callable[[cover_pb2.GenerateCoverResponse], None] | None = None,
    timeout: float | None = 400.0,
    metadata: Sequence[tuple[str, str | bytes]] | None = None,
) -> cover_pb2.CoverCompleted:
    """Returns the `completed` event; every event (queued, running, preview) is passed to
    `on_event` first. A `failed` event raises CoverFailedError; an RPC error (for example
    FAILED_PRECONDITION when the server has no generation backend) raises grpc.RpcError; a
    stream that ends without either raises RuntimeError."""
    stream = stub.GenerateCover(
        request, timeout=timeout, metadata=tuple(metadata) if metadata is not None else None
    )
    for event in stream:
        if on_event is not None:
            on_event(event)
        kind = event.WhichOneof("event")
        if kind == "completed":
            completed: cover_pb2.CoverCompleted = event.completed
            return completed
        if kind == "failed":
            raise CoverFailedError(event.failed.code, event.failed.message)
    raise RuntimeError("the cover stream ended without a completed or failed event")
