"""Decoders and encoders, created once: decode at the edge, encode on the way out."""

from __future__ import annotations

import msgspec

from pensieve_api.anthropic.requests import CountTokensRequest, MessagesRequest
from pensieve_api.openai.chat import ChatCompletionRequest

encoder = msgspec.json.Encoder()
messages_decoder = msgspec.json.Decoder(MessagesRequest)
count_tokens_decoder = msgspec.json.Decoder(CountTokensRequest)
chat_decoder = msgspec.json.Decoder(ChatCompletionRequest)
