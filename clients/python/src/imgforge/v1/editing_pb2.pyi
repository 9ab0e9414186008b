from imgforge.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CutoutMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CUTOUT_MODE_UNSPECIFIED: _ClassVar[CutoutMode]
    CUTOUT_MODE_CUTOUT: _ClassVar[CutoutMode]
    CUTOUT_MODE_MASK: _ClassVar[CutoutMode]
    CUTOUT_MODE_SOLID_BACKGROUND: _ClassVar[CutoutMode]

class EdgeRefinement(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EDGE_REFINEMENT_UNSPECIFIED: _ClassVar[EdgeRefinement]
    EDGE_REFINEMENT_NONE: _ClassVar[EdgeRefinement]
    EDGE_REFINEMENT_GUIDED_FILTER: _ClassVar[EdgeRefinement]
    EDGE_REFINEMENT_ALPHA_MATTING: _ClassVar[EdgeRefinement]
CUTOUT_MODE_UNSPECIFIED: CutoutMode
CUTOUT_MODE_CUTOUT: CutoutMode
CUTOUT_MODE_MASK: CutoutMode
CUTOUT_MODE_SOLID_BACKGROUND: CutoutMode
EDGE_REFINEMENT_UNSPECIFIED: EdgeRefinement
EDGE_REFINEMENT_NONE: EdgeRefinement
EDGE_REFINEMENT_GUIDED_FILTER: EdgeRefinement
EDGE_REFINEMENT_ALPHA_MATTING: EdgeRefinement

class RemoveBackgroundRequest(_message.Message):
    __slots__ = ("image", "model", "mode", "background_color", "crop_to_subject", "crop_margin", "refine", "output")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    BACKGROUND_COLOR_FIELD_NUMBER: _ClassVar[int]
    CROP_TO_SUBJECT_FIELD_NUMBER: _ClassVar[int]
    CROP_MARGIN_FIELD_NUMBER: _ClassVar[int]
    REFINE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageInput
    model: str
    mode: CutoutMode
    background_color: str
    crop_to_subject: bool
    crop_margin: int
    refine: EdgeRefinement
    output: _common_pb2.OutputOptions
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., model: _Optional[str] = ..., mode: _Optional[_Union[CutoutMode, str]] = ..., background_color: _Optional[str] = ..., crop_to_subject: _Optional[bool] = ..., crop_margin: _Optional[int] = ..., refine: _Optional[_Union[EdgeRefinement, str]] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class RemoveBackgroundResponse(_message.Message):
    __slots__ = ("task", "image")
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    task: _common_pb2.TaskReport
    image: _common_pb2.ImageOutput
    def __init__(self, task: _Optional[_Union[_common_pb2.TaskReport, _Mapping]] = ..., image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ...) -> None: ...

class Placement(_message.Message):
    __slots__ = ("scale", "x", "y")
    SCALE_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    scale: float
    x: float
    y: float
    def __init__(self, scale: _Optional[float] = ..., x: _Optional[float] = ..., y: _Optional[float] = ...) -> None: ...

class ChangeBackgroundRequest(_message.Message):
    __slots__ = ("base_image", "ref_image", "ref_prompt", "n", "placement", "shadow", "output")
    BASE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    REF_IMAGE_FIELD_NUMBER: _ClassVar[int]
    REF_PROMPT_FIELD_NUMBER: _ClassVar[int]
    N_FIELD_NUMBER: _ClassVar[int]
    PLACEMENT_FIELD_NUMBER: _ClassVar[int]
    SHADOW_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    base_image: _common_pb2.ImageInput
    ref_image: _common_pb2.ImageInput
    ref_prompt: str
    n: int
    placement: Placement
    shadow: bool
    output: _common_pb2.OutputOptions
    def __init__(self, base_image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., ref_image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., ref_prompt: _Optional[str] = ..., n: _Optional[int] = ..., placement: _Optional[_Union[Placement, _Mapping]] = ..., shadow: _Optional[bool] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class ChangeBackgroundResponse(_message.Message):
    __slots__ = ("task", "images")
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    task: _common_pb2.TaskReport
    images: _containers.RepeatedCompositeFieldContainer[_common_pb2.ImageOutput]
    def __init__(self, task: _Optional[_Union[_common_pb2.TaskReport, _Mapping]] = ..., images: _Optional[_Iterable[_Union[_common_pb2.ImageOutput, _Mapping]]] = ...) -> None: ...

class ChangeClothesRequest(_message.Message):
    __slots__ = ("person_image", "top_garment", "bottom_garment", "model", "output")
    PERSON_IMAGE_FIELD_NUMBER: _ClassVar[int]
    TOP_GARMENT_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_GARMENT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    person_image: _common_pb2.ImageInput
    top_garment: _common_pb2.ImageInput
    bottom_garment: _common_pb2.ImageInput
    model: str
    output: _common_pb2.OutputOptions
    def __init__(self, person_image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., top_garment: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., bottom_garment: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., model: _Optional[str] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class ChangeClothesResponse(_message.Message):
    __slots__ = ("task", "image")
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    task: _common_pb2.TaskReport
    image: _common_pb2.ImageOutput
    def __init__(self, task: _Optional[_Union[_common_pb2.TaskReport, _Mapping]] = ..., image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ...) -> None: ...

class ExpandRequest(_message.Message):
    __slots__ = ("base_image", "top_scale", "bottom_scale", "left_scale", "right_scale", "prompt", "output")
    BASE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    TOP_SCALE_FIELD_NUMBER: _ClassVar[int]
    BOTTOM_SCALE_FIELD_NUMBER: _ClassVar[int]
    LEFT_SCALE_FIELD_NUMBER: _ClassVar[int]
    RIGHT_SCALE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    base_image: _common_pb2.ImageInput
    top_scale: float
    bottom_scale: float
    left_scale: float
    right_scale: float
    prompt: str
    output: _common_pb2.OutputOptions
    def __init__(self, base_image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., top_scale: _Optional[float] = ..., bottom_scale: _Optional[float] = ..., left_scale: _Optional[float] = ..., right_scale: _Optional[float] = ..., prompt: _Optional[str] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class ExpandResponse(_message.Message):
    __slots__ = ("task", "image")
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    task: _common_pb2.TaskReport
    image: _common_pb2.ImageOutput
    def __init__(self, task: _Optional[_Union[_common_pb2.TaskReport, _Mapping]] = ..., image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ...) -> None: ...

class FixRequest(_message.Message):
    __slots__ = ("base_image", "prompt", "upscale_factor", "output")
    BASE_IMAGE_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    UPSCALE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    base_image: _common_pb2.ImageInput
    prompt: str
    upscale_factor: int
    output: _common_pb2.OutputOptions
    def __init__(self, base_image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., prompt: _Optional[str] = ..., upscale_factor: _Optional[int] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ...) -> None: ...

class FixResponse(_message.Message):
    __slots__ = ("task", "image")
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    task: _common_pb2.TaskReport
    image: _common_pb2.ImageOutput
    def __init__(self, task: _Optional[_Union[_common_pb2.TaskReport, _Mapping]] = ..., image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ...) -> None: ...

class RemoveWatermarkRequest(_message.Message):
    __slots__ = ("image", "output", "mask")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    MASK_FIELD_NUMBER: _ClassVar[int]
    image: _common_pb2.ImageInput
    output: _common_pb2.OutputOptions
    mask: _common_pb2.ImageInput
    def __init__(self, image: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ..., output: _Optional[_Union[_common_pb2.OutputOptions, _Mapping]] = ..., mask: _Optional[_Union[_common_pb2.ImageInput, _Mapping]] = ...) -> None: ...

class RemoveWatermarkResponse(_message.Message):
    __slots__ = ("task", "image")
    TASK_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    task: _common_pb2.TaskReport
    image: _common_pb2.ImageOutput
    def __init__(self, task: _Optional[_Union[_common_pb2.TaskReport, _Mapping]] = ..., image: _Optional[_Union[_common_pb2.ImageOutput, _Mapping]] = ...) -> None: ...
