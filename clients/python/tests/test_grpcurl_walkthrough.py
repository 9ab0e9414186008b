"""The README's grpcurl walk-through, call by call, through server reflection (grpcurl itself
is not packaged for Debian). Each `$ grpcurl ...` line of the README's block is parsed and made
the way grpcurl makes it: service list, descriptors and JSON requests all come from reflection,
never from the generated code. Output shown in the README after a command must match.

Two substitutions keep the calls local: `$(base64 -w0 photo.jpg)` becomes a generated photo,
and https://example.com/ URLs point at the test's loopback photo server, which the test
configuration lets the server fetch (fetch.allow + fetch.resolve)."""

from __future__ import annotations

import base64
import json
import re
import shlex
from typing import Any

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from conftest import REPO, Server
from photos import png, png_size


def walkthrough() -> list[tuple[list[str], list[str]]]:
    """(grpcurl arguments, the output lines the README shows after it) for each command."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## grpcurl walk-through", 1)[1]
    block = section.split("```sh", 1)[1].split("```", 1)[0]
    commands: list[tuple[list[str], list[str]]] = []
    lines = iter(block.strip().splitlines())
    for line in lines:
        if line.startswith("$ grpcurl"):
            text = line[2:]
            while text.endswith("\\") or text.count('"') % 2 == 1:
                text = text.rstrip("\\") + "\n" + next(lines)
            text = text.replace("$(base64 -w0 photo.jpg)", "PHOTO_BASE64").replace("\\\n", " ")
            commands.append(([_substitute(arg) for arg in shlex.split(text)], []))
        elif line.strip() and not line.startswith("#") and commands:
            commands[-1][1].append(line.strip())
    return commands


PHOTO = png(1200, 800)


def _substitute(command: str) -> str:
    return command.replace("PHOTO_BASE64", base64.b64encode(PHOTO).decode())


class _V1Stub:
    def __init__(self, channel: grpc.Channel) -> None:
        # grpc.reflection.v1 has the same messages as v1alpha under a new package name.
        self.ServerReflectionInfo = channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )


class ReflectionV1Database(ProtoReflectionDescriptorDatabase):  # type: ignore[misc]
    """grpcio-reflection's client speaks only v1alpha; grpcurl asks v1 first, so do we.
    (Swaps the private `_stub` of the pinned grpcio-reflection; the v1alpha test below keeps
    the stock client covered.)"""

    def __init__(self, channel: grpc.Channel) -> None:
        super().__init__(channel)
        self._stub = _V1Stub(channel)


class Grpcurl:
    """The subset of grpcurl the walk-through uses: list, describe, and -d JSON calls."""

    def __init__(self, server: Server, channel: grpc.Channel) -> None:
        self.server = server
        self.channel = channel
        self.db = ReflectionV1Database(channel)
        self.pool = descriptor_pool.DescriptorPool(self.db)

    def run(self, args: list[str]) -> Any:
        assert args[0] == "grpcurl" and "-plaintext" in args, args
        data = args[args.index("-d") + 1] if "-d" in args else None
        rest = [a for a in args[1:] if a not in ("-plaintext", "-d", data)]
        assert rest[0] == "localhost:50051", rest  # the README's address, replaced by ours
        verb = rest[1:]
        if verb == ["list"]:
            return sorted(self.db.get_services())
        if verb[0] == "describe":
            return self.describe(verb[1])
        assert data is not None and len(verb) == 1, args
        return self.call(verb[0], data)

    def describe(self, symbol: str) -> list[str]:
        file = self.pool.FindFileContainingSymbol(symbol)
        name = symbol.removeprefix(file.package + ".")
        if name in file.services_by_name:
            return [m.name for m in file.services_by_name[name].methods]
        return [f.name for f in file.message_types_by_name[name].fields]

    def call(self, target: str, data: str) -> dict[str, Any]:
        service_name, method_name = target.split("/")
        method = self.pool.FindServiceByName(service_name).FindMethodByName(method_name)
        request_class = message_factory.GetMessageClass(method.input_type)
        response_class = message_factory.GetMessageClass(method.output_type)
        data = re.sub(
            r"https://example\.com/", f"http://example.com:{self.server.photo_port}/", data
        )
        request = json_format.Parse(data, request_class())
        rpc = self.channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=lambda message: message.SerializeToString(),
            response_deserializer=response_class.FromString,
        )
        reply = rpc(request, timeout=60)
        result: dict[str, Any] = json_format.MessageToDict(reply)
        return result


def test_the_walkthrough_runs_as_written(server: Server, channel: grpc.Channel) -> None:
    grpcurl = Grpcurl(server, channel)
    commands = walkthrough()
    assert len(commands) >= 6, commands
    calls = 0
    for args, shown in commands:
        result = grpcurl.run(args)
        verb = [a for a in args if not a.startswith("-") and a != "grpcurl"]
        if "list" in args:
            assert result == sorted(shown), f"README lists {shown}, the server {result}"
        elif "describe" in args:
            assert result, f"{args}: nothing described"
        else:
            calls += 1
            if shown:
                assert result == json.loads(" ".join(shown)), (args[-1], result)
            if verb[-1].endswith("/Resize"):
                image = result["image"]
                assert int(result["originalWidth"]) in (640, 1200), result.keys()
                if "data" in image:
                    assert max(png_size(base64.b64decode(image["data"]))) <= 1024
                else:
                    assert image["url"].startswith(f"http://{server.http_addr}/"), image
    assert calls >= 3


def test_the_walkthrough_parser_sees_every_command() -> None:
    readme_commands = [
        line for line in (REPO / "README.md").read_text().split("## grpcurl walk-through", 1)[1]
        .split("```sh", 1)[1].split("```", 1)[0].splitlines() if line.startswith("$ grpcurl")
    ]
    assert len(walkthrough()) == len(readme_commands)


def test_v1alpha_reflection_still_answers(channel: grpc.Channel) -> None:
    # Older grpcurl releases and grpcio-reflection's own client use v1alpha.
    db = ProtoReflectionDescriptorDatabase(channel)
    assert "imgforge.v1.UtilityService" in db.get_services()
    pool = descriptor_pool.DescriptorPool(db)
    assert pool.FindMessageTypeByName("imgforge.v1.UploadImageRequest").fields_by_name["image"]
