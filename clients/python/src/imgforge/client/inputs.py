"""Turning what a caller has (a file, bytes, a URL, an upload id) into `ImageInput`."""

from __future__ import annotations

import os
from pathlib import Path

from imgforge.v1 import common_pb2


def image_input(source: str | os.PathLike[str] | bytes) -> common_pb2.ImageInput:
    """`bytes` are sent inline; a string starting with http:// or https:// is a URL the server
    fetches; anything else is a local file path whose bytes are sent inline. The server sniffs
    the format from the bytes, so file names and extensions do not matter."""
    if isinstance(source, bytes):
        if not source:
            raise ValueError("image bytes are empty")
        return common_pb2.ImageInput(data=source)
    text = os.fspath(source)
    if text.startswith(("http://", "https://")):
        return common_pb2.ImageInput(url=text)
    path = Path(text)
    if not path.is_file():
        raise FileNotFoundError(f"image file {text!r} does not exist or is not a file")
    data = path.read_bytes()
    if not data:
        raise ValueError(f"image file {text!r} is empty")
    return common_pb2.ImageInput(data=data)


def upload_input(upload_id: str) -> common_pb2.ImageInput:
    """An image stored earlier with UtilityService.UploadImage."""
    if not upload_id:
        raise ValueError("upload id is empty")
    return common_pb2.ImageInput(upload_id=upload_id)
