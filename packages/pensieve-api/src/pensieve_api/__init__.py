"""pensieve_api: the HTTP wire format, as msgspec structs.

Anthropic Messages (``pensieve_api.anthropic``) and OpenAI chat completions
(``pensieve_api.openai``), with both error shapes. It depends on msgspec only, so a client can use
it alone; the server translates wire <-> domain.
"""

from pensieve_api import anthropic, openai
from pensieve_api.codec import chat_decoder, count_tokens_decoder, encoder, messages_decoder
from pensieve_api.console import ConsoleStats, RequestDetail, RequestList, RequestRow
from pensieve_api.errors import (
    AnthropicErrorType,
    ErrorDetail,
    ErrorResponse,
    OpenAIErrorDetail,
    OpenAIErrorResponse,
)
from pensieve_api.health import HealthResponse, ModelHealth, RankHealth, health_decoder

__all__ = (
    # dialects
    "anthropic",
    "openai",
    # codecs
    "chat_decoder",
    "count_tokens_decoder",
    "encoder",
    "messages_decoder",
    # Pensieve's own
    "HealthResponse",
    "health_decoder",
    "ModelHealth",
    "RankHealth",
    "ConsoleStats",
    "RequestDetail",
    "RequestList",
    "RequestRow",
    # errors
    "AnthropicErrorType",
    "ErrorDetail",
    "ErrorResponse",
    "OpenAIErrorDetail",
    "OpenAIErrorResponse",
)
