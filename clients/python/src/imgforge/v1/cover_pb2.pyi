import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from imgforge.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GenerateCoverRequest(_message.Message):
    __slots__ = ("gender", "age", "ethnicity", "body_type", "breast_size", "butt_size", "hair_color", "hair_style", "ref_image_id", "output")
    GENDER_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    ETHNICITY_FIELD_NUMBER: _ClassVar[int]
    BODY_TYPE_FIELD_NUMBER: _ClassVar[int]
    BREAST_SIZE_FIELD_NUMBER: _ClassVar[int]
    BUTT_SIZE_FIELD_NUMBER: _ClassVar[int]
    HAIR_COLOR_FIELD_NUMBER: _ClassVar[int]
    HAIR_STYLE_FIELD_NUMBER: _ClassVar[int]
    REF_IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    gender: _common_pb2.Gender
    age: str
    ethnicity: str
    body_type: str
    breast_size: str
    butt_size: str
    hair_color: str
    hair_style: str
    ref_image_id: str
    output: _common_pb2.OutputOptions
    def __init__(self, gender: _Optional[_Union[_common_pb2.Gender, str]] = ..., age: _Optional[str] = ..., ethnicity: _Optional[str] = ..., body_type: _Optional[str] = ..., breast_size: _Optional[str] = ..., butt_size: _Optional[str] = ..., hair_color: _Optional[str] = ..., hair_style: _Optional[str] = ..., ref_image_id: _Optional[str] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class GenerateCoverResponse(_message.Message):
    __slots__ = ("trace_id", "at", "queued", "running", "preview", "completed", "failed")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    at: _timestamp_pb2.Timestamp
    queued: CoverQueued
    running: CoverRunning
    preview: CoverPreview
    completed: CoverCompleted
    failed: CoverFailed
    def __init__(self, trace_id: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., queued: _Optional[_Union[CoverQueued, _Mapping]] = ..., running: _Optional[_Union[CoverRunning, _Mapping]] = ..., preview: _Optional[_Union[CoverPreview, _Mapping]] = ..., completed: _Optional[_Union[CoverCompleted, _Mapping]] = ..., failed: _Optional[_Union[CoverFailed, _Mapping]] = ...) -> None: ...

class CoverQueued(_message.Message):
    __slots__ = ("position",)
    POSITION_FIELD_NUMBER: _ClassVar[int]
    position: int
    def __init__(self, position: _Optional[int] = ...) -> None: ...

class CoverRunning(_message.Message):
    __slots__ = ("percent", "stage")
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    percent: float
    stage: str
    def __init__(self, percent: _Optional[float] = ..., stage: _Optional[str] = ...) -> None: ...

class CoverPreview(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageOutput
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ...) -> None: ...

class CoverCompleted(_message.Message):
    __slots__ = ("cover_id", "image", "expires_at", "notes")
    COVER_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    cover_id: str
    image: _common_pb2.ImageOutput
    expires_at: _timestamp_pb2.Timestamp
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, cover_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class CoverFailed(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListCoverOptionsRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class CoverOption(_message.Message):
    __slots__ = ("code", "label", "genders")
    CODE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    GENDERS_FIELD_NUMBER: _ClassVar[int]
    code: str
    label: str
    genders: _containers.RepeatedScalarFieldContainer[_common_pb2.Gender]
    def __init__(self, code: _Optional[str] = ..., label: _Optional[str] = ..., genders: _Optional[_Iterable[_Union[_common_pb2.Gender, str]]] = ...) -> None: ...

class CoverOptionGroup(_message.Message):
    __slots__ = ("name", "options")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    options: _containers.RepeatedCompositeFieldContainer[CoverOption]
    def __init__(self, name: _Optional[str] = ..., options: _Optional[_Iterable[_Union[CoverOption, _Mapping]]] = ...) -> None: ...

class ListCoverOptionsResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[CoverOptionGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[CoverOptionGroup, _Mapping]]] = ...) -> None: ...

class UploadReferenceImageRequest(_message.Message):
    __slots__ = ("image",)
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageInput
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ...) -> None: ...

class UploadReferenceImageResponse(_message.Message):
    __slots__ = ("ref_image_id", "expires_at")
    REF_IMAGE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    ref_image_id: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, ref_image_id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetCoverRequest(_message.Message):
    __slots__ = ("cover_id",)
    COVER_ID_FIELD_NUMBER: _ClassVar[int]
    cover_id: str
    def __init__(self, cover_id: _Optional[str] = ...) -> None: ...

class GetCoverResponse(_message.Message):
    __slots__ = ("cover_id", "image", "expires_at")
    COVER_ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    cover_id: str
    image: _common_pb2.ImageOutput
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, cover_id: _Optional[str] = ..., image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
