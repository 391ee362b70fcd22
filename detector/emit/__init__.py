"""Inference-log events from custom Python model servers: :class:`Emitter` (any server) and
:class:`InferenceLogMiddleware` (ASGI: Starlette, FastAPI)."""

from detector.emit.emitter import Emitter, EmitterStats
from detector.event import contract_event
from detector.emit.middleware import InferenceLogMiddleware

__all__ = ["Emitter", "EmitterStats", "InferenceLogMiddleware", "contract_event"]
