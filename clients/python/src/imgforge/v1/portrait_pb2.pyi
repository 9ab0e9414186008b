import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from imgforge.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PortraitTaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PORTRAIT_TASK_STATE_UNSPECIFIED: _ClassVar[PortraitTaskState]
    PORTRAIT_TASK_STATE_WAITING: _ClassVar[PortraitTaskState]
    PORTRAIT_TASK_STATE_RUNNING: _ClassVar[PortraitTaskState]
    PORTRAIT_TASK_STATE_SUCCEEDED: _ClassVar[PortraitTaskState]
    PORTRAIT_TASK_STATE_PARTLY_SUCCEEDED: _ClassVar[PortraitTaskState]
    PORTRAIT_TASK_STATE_FAILED: _ClassVar[PortraitTaskState]

class PortraitTaskType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PORTRAIT_TASK_TYPE_UNSPECIFIED: _ClassVar[PortraitTaskType]
    PORTRAIT_TASK_TYPE_TRAINING: _ClassVar[PortraitTaskType]
    PORTRAIT_TASK_TYPE_GENERATION: _ClassVar[PortraitTaskType]
PORTRAIT_TASK_STATE_UNSPECIFIED: PortraitTaskState
PORTRAIT_TASK_STATE_WAITING: PortraitTaskState
PORTRAIT_TASK_STATE_RUNNING: PortraitTaskState
PORTRAIT_TASK_STATE_SUCCEEDED: PortraitTaskState
PORTRAIT_TASK_STATE_PARTLY_SUCCEEDED: PortraitTaskState
PORTRAIT_TASK_STATE_FAILED: PortraitTaskState
PORTRAIT_TASK_TYPE_UNSPECIFIED: PortraitTaskType
PORTRAIT_TASK_TYPE_TRAINING: PortraitTaskType
PORTRAIT_TASK_TYPE_GENERATION: PortraitTaskType

class UploadBasePhotoRequest(_message.Message):
    __slots__ = ("image", "tenant")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageInput
    tenant: str
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., tenant: _Optional[str] = ...) -> None: ...

class UploadBasePhotoResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class CreateUserModelRequest(_message.Message):
    __slots__ = ("img_set", "callback_url")
    IMG_SET_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    img_set: _containers.RepeatedScalarFieldContainer[str]
    callback_url: str
    def __init__(self, img_set: _Optional[_Iterable[str]] = ..., callback_url: _Optional[str] = ...) -> None: ...

class CreateUserModelResponse(_message.Message):
    __slots__ = ("task_id", "user_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    user_id: str
    def __init__(self, task_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class ListPortraitStylesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class PortraitStyle(_message.Message):
    __slots__ = ("name", "style", "template", "sex")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    SEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    style: str
    template: str
    sex: _common_pb2.Gender
    def __init__(self, name: _Optional[str] = ..., style: _Optional[str] = ..., template: _Optional[str] = ..., sex: _Optional[_Union[_common_pb2.Gender, str]] = ...) -> None: ...

class ListPortraitStylesResponse(_message.Message):
    __slots__ = ("styles",)
    STYLES_FIELD_NUMBER: _ClassVar[int]
    styles: _containers.RepeatedCompositeFieldContainer[PortraitStyle]
    def __init__(self, styles: _Optional[_Iterable[_Union[PortraitStyle, _Mapping]]] = ...) -> None: ...

class CreatePortraitTaskRequest(_message.Message):
    __slots__ = ("user_id", "style", "callback_url")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    STYLE_FIELD_NUMBER: _ClassVar[int]
    CALLBACK_URL_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    style: str
    callback_url: str
    def __init__(self, user_id: _Optional[str] = ..., style: _Optional[str] = ..., callback_url: _Optional[str] = ...) -> None: ...

class CreatePortraitTaskResponse(_message.Message):
    __slots__ = ("task_id", "user_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    user_id: str
    def __init__(self, task_id: _Optional[str] = ..., user_id: _Optional[str] = ...) -> None: ...

class GetPortraitTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class GetPortraitTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: PortraitTask
    def __init__(self, task: _Optional[_Union[PortraitTask, _Mapping]] = ...) -> None: ...

class WatchPortraitTaskRequest(_message.Message):
    __slots__ = ("task_id",)
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    def __init__(self, task_id: _Optional[str] = ...) -> None: ...

class WatchPortraitTaskResponse(_message.Message):
    __slots__ = ("task",)
    TASK_FIELD_NUMBER: _ClassVar[int]
    task: PortraitTask
    def __init__(self, task: _Optional[_Union[PortraitTask, _Mapping]] = ...) -> None: ...

class DeleteUserModelRequest(_message.Message):
    __slots__ = ("user_id",)
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    def __init__(self, user_id: _Optional[str] = ...) -> None: ...

class DeleteUserModelResponse(_message.Message):
    __slots__ = ("user_id", "deleted_tasks")
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    DELETED_TASKS_FIELD_NUMBER: _ClassVar[int]
    user_id: str
    deleted_tasks: int
    def __init__(self, user_id: _Optional[str] = ..., deleted_tasks: _Optional[int] = ...) -> None: ...

class PortraitTask(_message.Message):
    __slots__ = ("id", "state", "type", "result_paths", "user_id", "error", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    RESULT_PATHS_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    state: PortraitTaskState
    type: PortraitTaskType
    result_paths: _containers.RepeatedScalarFieldContainer[str]
    user_id: str
    error: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., state: _Optional[_Union[PortraitTaskState, str]] = ..., type: _Optional[_Union[PortraitTaskType, str]] = ..., result_paths: _Optional[_Iterable[str]] = ..., user_id: _Optional[str] = ..., error: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
