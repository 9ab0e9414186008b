from imgforge.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StylePreset(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STYLE_PRESET_UNSPECIFIED: _ClassVar[StylePreset]
    STYLE_PRESET_DEFAULT: _ClassVar[StylePreset]
    STYLE_PRESET_CARTOON: _ClassVar[StylePreset]
    STYLE_PRESET_WATERCOLOR: _ClassVar[StylePreset]
STYLE_PRESET_UNSPECIFIED: StylePreset
STYLE_PRESET_DEFAULT: StylePreset
STYLE_PRESET_CARTOON: StylePreset
STYLE_PRESET_WATERCOLOR: StylePreset

class CreateCharacterRequest(_message.Message):
    __slots__ = ("photo", "style_preset", "output")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    STYLE_PRESET_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    photo: _common_pb2.ImageInput
    style_preset: StylePreset
    output: _common_pb2.OutputOptions
    def __init__(self, photo: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., style_preset: _Optional[_Union[StylePreset, str]] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class CreateCharacterResponse(_message.Message):
    __slots__ = ("image", "provider", "notes")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageOutput
    provider: str
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ..., provider: _Optional[str] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...
