"""Input formats: what the records of a source hold, turned into contract events.

``native`` (the inference-event contract itself), ``kserve`` (KServe inference-logger CloudEvents),
``oip`` (Open Inference Protocol request/response pairs) and ``auto`` (told per record), chosen by
``--input-format`` / ``INVDET_INPUT_FORMAT``.
"""

from __future__ import annotations

from detector.formats.decoder import Decoder, NativeDecoder
from detector.formats.rejected import Rejected
from detector.settings import ConfigError, Settings

INPUT_FORMATS = ("native", "kserve", "oip", "auto")

__all__ = ["INPUT_FORMATS", "Decoder", "Rejected", "open_decoder"]


def open_decoder(settings: Settings) -> Decoder:
    """The decoder of ``settings.input_format``; raises :class:`ConfigError` when the format cannot work
    as configured (KServe events name no client unless a logged header does)."""
    if settings.input_format == "native":
        return NativeDecoder()
    from detector.formats.auto import AutoDecoder
    from detector.formats.client_identity import ClientIdentity
    from detector.formats.join import PairJoin
    from detector.formats.kserve import KServeDecoder
    from detector.formats.oip import OipDecoder
    from detector.formats.translate import Translator

    if settings.input_format == "kserve" and not settings.client_id_header:
        raise ConfigError([
            "setting client_id_header: the kserve input format needs the logged request header naming the client "
            "(--client-id-header, INVDET_CLIENT_ID_HEADER; e.g. X-Api-Key, listed in the logger's metadataHeaders)"
        ])  # fmt: skip
    key = settings.client_id_hash_key.get_secret_value() if settings.client_id_hash_key is not None else None
    translator = Translator(ClientIdentity(settings.client_id_header, key), settings.scores_tensor)
    if settings.input_format == "oip":
        return OipDecoder(translator)
    kserve = KServeDecoder(translator, PairJoin(settings.join_max_pending, settings.join_timeout_s))
    if settings.input_format == "kserve":
        return kserve
    return AutoDecoder(kserve, OipDecoder(translator))
