"""Resizes a photo (a file or an http(s) URL) with imgforge and writes the result.

    python examples/resize_photo.py --addr 127.0.0.1:50051 photo.jpg small.jpg --max-dim 512

With IMGFORGE_KEY, IMGFORGE_SECRET and IMGFORGE_USER set, the call is signed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import grpc

from imgforge.client import Credentials, SigningInterceptor, image_input
from imgforge.v1 import utility_pb2, utility_service_pb2_grpc


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--addr", default="127.0.0.1:50051", help="imgforge gRPC address")
    parser.add_argument("source", help="a photo: file path or http(s) URL")
    parser.add_argument("out", type=Path, help="where to write the result")
    parser.add_argument("--max-dim", type=int, default=512, help="longest side, at most")
    args = parser.parse_args(argv)

    channel = grpc.insecure_channel(args.addr, options=[("grpc.max_receive_message_length", 64 << 20)])
    if os.environ.get("IMGFORGE_KEY"):
        creds = Credentials(
            os.environ["IMGFORGE_KEY"], os.environ["IMGFORGE_SECRET"], os.environ["IMGFORGE_USER"]
        )
        channel = grpc.intercept_channel(channel, SigningInterceptor(creds))
    stub = utility_service_pb2_grpc.UtilityServiceStub(channel)
    try:
        reply = stub.Resize(
            utility_pb2.ResizeRequest(image=image_input(args.source), max_dim=args.max_dim),
            timeout=60,
        )
    except grpc.RpcError as err:
        print(f"resize failed: {err.code().name}: {err.details()}", file=sys.stderr)
        return 1
    args.out.write_bytes(reply.image.data)
    print(
        f"{reply.original_width}x{reply.original_height} -> "
        f"{reply.image.width}x{reply.image.height} {reply.image.media_type}, written to {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
