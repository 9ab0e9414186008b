"""The hand-written layer and the generated stubs against the real server."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest

from conftest import Server
from imgforge.client import (
    CoverFailedError,
    Credentials,
    SigningInterceptor,
    generate_cover,
    image_input,
    upload_input,
)
from imgforge.v1 import (
    common_pb2,
    cover_pb2,
    cover_service_pb2_grpc,
    utility_pb2,
    utility_service_pb2_grpc,
)
from photos import png, png_size


def test_resize_a_file_through_a_signed_channel(channel: grpc.Channel, tmp_path: Path) -> None:
    path = tmp_path / "photo.bin"
    path.write_bytes(png(640, 480))
    signed = grpc.intercept_channel(channel, SigningInterceptor(Credentials("ak", "sk", "py-test")))
    stub = utility_service_pb2_grpc.UtilityServiceStub(signed)
    reply = stub.Resize(utility_pb2.ResizeRequest(image=image_input(path), max_dim=320), timeout=60)
    assert (reply.original_width, reply.original_height) == (640, 480)
    assert reply.original_format == common_pb2.IMAGE_FORMAT_PNG
    assert png_size(reply.image.data) == (320, 240)
    assert (reply.image.width, reply.image.height, reply.image.media_type) == (320, 240, "image/png")


def test_a_url_is_fetched_by_the_server(server: Server, channel: grpc.Channel) -> None:
    stub = utility_service_pb2_grpc.UtilityServiceStub(channel)
    url = f"http://example.com:{server.photo_port}/photo.jpg"
    assert image_input(url).url == url
    upload = stub.UploadImage(utility_pb2.UploadImageRequest(image=image_input(url)), timeout=60)
    assert (upload.width, upload.height, upload.format) == (640, 480, common_pb2.IMAGE_FORMAT_PNG)
    converted = stub.ConvertToPng(
        utility_pb2.ConvertToPngRequest(image=upload_input(upload.upload_id)), timeout=60
    )
    assert png_size(converted.images[0].data) == (640, 480)


def test_a_url_the_server_may_not_fetch_is_a_clear_error(channel: grpc.Channel) -> None:
    stub = utility_service_pb2_grpc.UtilityServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.UploadImage(
            utility_pb2.UploadImageRequest(image=image_input("http://127.0.0.1:9/x.png")), timeout=60
        )
    assert err.value.code() != grpc.StatusCode.OK
    assert "127.0.0.1" in (err.value.details() or "")


def test_bad_inputs_are_refused_before_sending(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        image_input(tmp_path / "missing.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        image_input(tmp_path / "empty.jpg")
    with pytest.raises(ValueError):
        image_input(b"")


def test_not_an_image_is_invalid_argument(channel: grpc.Channel) -> None:
    stub = utility_service_pb2_grpc.UtilityServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        stub.Resize(utility_pb2.ResizeRequest(image=image_input(b"not an image")), timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_generate_cover_without_a_backend_is_a_clear_error(channel: grpc.Channel) -> None:
    stub = cover_service_pb2_grpc.CoverServiceStub(channel)
    events: list[cover_pb2.GenerateCoverResponse] = []
    with pytest.raises(grpc.RpcError) as err:
        generate_cover(
            stub,
            cover_pb2.GenerateCoverRequest(gender=common_pb2.GENDER_MALE, age="age_25_30"),
            on_event=events.append,
            timeout=30,
        )
    assert err.value.code() in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.FAILED_PRECONDITION)
    assert "cover" in (err.value.details() or "")
    assert events == []


def test_generate_cover_streams_from_a_backend_and_the_cover_can_be_fetched(
    cover_server: Server,
) -> None:
    with cover_server.channel() as channel:
        stub = cover_service_pb2_grpc.CoverServiceStub(channel)
        events: list[str] = []
        done = generate_cover(
            stub,
            cover_pb2.GenerateCoverRequest(
                gender=common_pb2.GENDER_MALE,
                age="26-35",
                ethnicity="Caucasian",
                body_type="Athletic",
                hair_color="brown",
                hair_style="Short",
            ),
            on_event=lambda e: events.append(e.WhichOneof("event") or ""),
            timeout=60,
        )
        assert events[0] == "queued" and "running" in events and events[-1] == "completed", events
        assert png_size(done.image.data) == (done.image.width, done.image.height)
        fetched = stub.GetCover(cover_pb2.GetCoverRequest(cover_id=done.cover_id), timeout=30)
        assert fetched.image.data == done.image.data


def test_an_unknown_cover_attribute_names_the_field(cover_server: Server) -> None:
    with cover_server.channel() as channel:
        stub = cover_service_pb2_grpc.CoverServiceStub(channel)
        with pytest.raises(grpc.RpcError) as err:
            generate_cover(
                stub,
                cover_pb2.GenerateCoverRequest(gender=common_pb2.GENDER_MALE, age="age_25_30"),
                timeout=30,
            )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "age" in (err.value.details() or "")


class _ScriptedCovers(cover_service_pb2_grpc.CoverServiceServicer):
    """A stand-in CoverService that streams a fixed script, to test the stream handling."""

    def __init__(self, ending: cover_pb2.GenerateCoverResponse | None) -> None:
        self.ending = ending

    def GenerateCover(  # noqa: N802 (generated name)
        self, request: cover_pb2.GenerateCoverRequest, context: grpc.ServicerContext
    ) -> Iterator[cover_pb2.GenerateCoverResponse]:
        yield cover_pb2.GenerateCoverResponse(queued=cover_pb2.CoverQueued(position=2))
        for percent in (10.0, 55.0):
            yield cover_pb2.GenerateCoverResponse(
                running=cover_pb2.CoverRunning(percent=percent, stage="sampling")
            )
        if self.ending is not None:
            yield self.ending


def _scripted(ending: cover_pb2.GenerateCoverResponse | None) -> tuple[grpc.Server, str]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    cover_service_pb2_grpc.add_CoverServiceServicer_to_server(_ScriptedCovers(ending), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, f"127.0.0.1:{port}"


@pytest.mark.parametrize("ending", ["completed", "failed", "none"])
def test_generate_cover_follows_the_stream(ending: str) -> None:
    last = {
        "completed": cover_pb2.GenerateCoverResponse(
            completed=cover_pb2.CoverCompleted(cover_id="c-1", image=common_pb2.ImageOutput(data=b"x"))
        ),
        "failed": cover_pb2.GenerateCoverResponse(
            failed=cover_pb2.CoverFailed(code="unavailable", message="backend down")
        ),
        "none": None,
    }[ending]
    server, addr = _scripted(last)
    events: list[str] = []
    try:
        with grpc.insecure_channel(addr) as channel:
            stub = cover_service_pb2_grpc.CoverServiceStub(channel)

            def call() -> cover_pb2.CoverCompleted:
                return generate_cover(
                    stub,
                    cover_pb2.GenerateCoverRequest(),
                    on_event=lambda e: events.append(e.WhichOneof("event") or ""),
                    timeout=30,
                )

            if ending == "completed":
                assert call().cover_id == "c-1"
                assert events == ["queued", "running", "running", "completed"]
            elif ending == "failed":
                with pytest.raises(CoverFailedError, match="unavailable.*backend down"):
                    call()
            else:
                with pytest.raises(RuntimeError, match="without a completed"):
                    call()
    finally:
        server.stop(None)
