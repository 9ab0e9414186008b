"""Streams a cover generation and prints each progress event.

    python examples/stream_cover.py --addr 127.0.0.1:50051 cover.png

The attributes are codes from ListCoverOptions (seed 001's catalogue). Until the server has a
generation backend configured, the call fails with a status that names what to configure; the
example prints it and exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc

from imgforge.client import CoverFailedError, generate_cover
from imgforge.v1 import common_pb2, cover_pb2, cover_service_pb2_grpc


def show(event: cover_pb2.GenerateCoverResponse) -> None:
    kind = event.WhichOneof("event")
    if kind == "queued":
        print(f"queued, {event.queued.position} ahead")
    elif kind == "running":
        print(f"running {event.running.percent:.0f}% ({event.running.stage})")
    elif kind == "preview":
        print(f"preview {event.preview.image.width}x{event.preview.image.height}")
    elif kind == "completed":
        print(f"completed {event.completed.image.width}x{event.completed.image.height}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50051", help="imgforge gRPC address")
    parser.add_argument("out", type=Path, help="where to write the cover")
    args = parser.parse_args(argv)

    request = cover_pb2.GenerateCoverRequest(
        gender=common_pb2.GENDER_FEMALE,
        age="18-25",
        ethnicity="Asian",
        body_type="Slim",
        breast_size="Medium",
        butt_size="Medium",
        hair_color="black",
        hair_style="Long",
    )
    channel = grpc.insecure_channel(args.addr, options=[("grpc.max_receive_message_length", 64 << 20)])
    stub = cover_service_pb2_grpc.CoverServiceStub(channel)
    try:
        done = generate_cover(stub, request, on_event=show)
    except grpc.RpcError as err:
        print(f"cover refused: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    except CoverFailedError as err:
        print(err, file=sys.stderr)
        return 1
    args.out.write_bytes(done.image.data)
    print(f"cover {done.cover_id} (valid until {done.expires_at.ToJsonString()}) written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
