"""pensieve_core: the bottom layer of Pensieve.

The ``Engine`` protocol, the chat and generation domain types, model descriptions and the whole
error tree. It imports nothing heavy (standard library only), so every other layer can depend on it.
"""

from pensieve_core.addresses import base_url, is_loopback
from pensieve_core.engine import Engine, Generation, GenerationHandle
from pensieve_core.errors import (
    ConfigError,
    ContextLengthExceededError,
    EngineError,
    EngineUnavailableError,
    InvalidRequestError,
    ListenError,
    ModelError,
    ModelFormatError,
    ModelLoadError,
    ModelNameError,
    ModelNotFoundError,
    OverloadedError,
    PensieveError,
    RequestError,
    UnsupportedContentError,
    UnsupportedModelError,
)
from pensieve_core.generation import (
    Finished,
    FinishReason,
    GenerationEvent,
    GenerationRequest,
    PromptProgress,
    SamplingParams,
    TextDelta,
    ThinkingDelta,
    Timings,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
)
from pensieve_core.messages import (
    ContentPart,
    ImagePart,
    Message,
    Role,
    TextPart,
    ThinkingPart,
    ToolCallPart,
    ToolChoice,
    ToolResultPart,
    ToolSpec,
)
from pensieve_core.models import EngineStats, ModelInfo, RankStats

__all__ = (
    # the protocol
    "Engine",
    "Generation",
    "GenerationHandle",
    # chat
    "ContentPart",
    "ImagePart",
    "Message",
    "Role",
    "TextPart",
    "ThinkingPart",
    "ToolCallPart",
    "ToolChoice",
    "ToolResultPart",
    "ToolSpec",
    # generation
    "FinishReason",
    "Finished",
    "GenerationEvent",
    "GenerationRequest",
    "PromptProgress",
    "SamplingParams",
    "TextDelta",
    "ThinkingDelta",
    "Timings",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallStart",
    "Usage",
    # addresses
    "base_url",
    "is_loopback",
    # models
    "EngineStats",
    "RankStats",
    "ModelInfo",
    # errors
    "ConfigError",
    "ContextLengthExceededError",
    "EngineError",
    "EngineUnavailableError",
    "InvalidRequestError",
    "ListenError",
    "ModelError",
    "ModelFormatError",
    "ModelLoadError",
    "ModelNameError",
    "ModelNotFoundError",
    "OverloadedError",
    "PensieveError",
    "RequestError",
    "UnsupportedContentError",
    "UnsupportedModelError",
)
