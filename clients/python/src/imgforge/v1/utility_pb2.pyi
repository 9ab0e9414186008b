import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from imgforge.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResizeRequest(_message.Message):
    __slots__ = ("image", "min_dim", "max_dim", "output")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MIN_DIM_FIELD_NUMBER: _ClassVar[int]
    MAX_DIM_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageInput
    min_dim: int
    max_dim: int
    output: _common_pb2.OutputOptions
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., min_dim: _Optional[int] = ..., max_dim: _Optional[int] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class ResizeResponse(_message.Message):
    __slots__ = ("image", "original_width", "original_height", "original_format")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_WIDTH_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FORMAT_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageOutput
    original_width: int
    original_height: int
    original_format: _common_pb2.ImageFormat
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ..., original_width: _Optional[int] = ..., original_height: _Optional[int] = ..., original_format: _Optional[_Union[_common_pb2.ImageFormat, str]] = ...) -> None: ...

class ConvertToPngRequest(_message.Message):
    __slots__ = ("image", "keep_animation", "overwrite", "output")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    KEEP_ANIMATION_FIELD_NUMBER: _ClassVar[int]
    OVERWRITE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageInput
    keep_animation: bool
    overwrite: bool
    output: _common_pb2.OutputOptions
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., keep_animation: _Optional[bool] = ..., overwrite: _Optional[bool] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class ConvertToPngResponse(_message.Message):
    __slots__ = ("original_format", "images", "reused")
    ORIGINAL_FORMAT_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    original_format: _common_pb2.ImageFormat
    images: _containers.RepeatedCompositeFieldContainer[_common_pb2.ImageOutput]
    reused: bool
    def __init__(self, original_format: _Optional[_Union[_common_pb2.ImageFormat, str]] = ..., images: _Optional[_Iterable[_Union[_common_pb2.ImageOutput, _Mapping]]] = ..., reused: _Optional[bool] = ...) -> None: ...

class UploadImageRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageInput
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ...) -> None: ...

class UploadImageResponse(_message.Message):
    __slots__ = ("upload_id", "format", "width", "height", "expires_at")
    UPLOAD_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    upload_id: str
    format: _common_pb2.ImageFormat
    width: int
    height: int
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, upload_id: _Optional[str] = ..., format: _Optional[_Union[_common_pb2.ImageFormat, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
