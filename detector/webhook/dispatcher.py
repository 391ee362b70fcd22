"""The webhook dispatcher: POSTs due outbox rows, signed, and records each outcome.

It runs as a background thread inside ``run`` (own database connections,
never blocking consumption) or alone as ``inversion-detector webhook``. The
body is the alert contract object, or its rendering in ``INVDET_WEBHOOK_FORMAT``
(:mod:`detector.webhook.body_format`); with a secret, the header
``X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`` signs the body as sent. The
secret and the URL's path and query (where webhook tokens often live) never
reach the logs.
"""

from __future__ import annotations

import logging
import threading

import httpx
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from detector import __version__
from detector.db.engine import make_engine
from detector.settings import ConfigError, Settings, mask_url
from detector.webhook.body_format import WebhookBody
from detector.webhook.outbox import Delivery, Outbox
from detector.webhook.policy import Outcome, RetryPolicy, classify_error, classify_response
from detector.webhook.signing import SIGNATURE_HEADER, sign
from detector.worker.backoff import Backoff
from detector.worker.metrics import WorkerMetrics

log = logging.getLogger(__name__)

CLAIM_BATCH = 10
"""Rows claimed at once; the lease covers sending all of them one after another."""
LEASE_MARGIN_S = 30.0


class Dispatcher:
    """Delivers due outbox rows to one URL."""

    def __init__(
        self,
        engine: Engine,
        url: str,
        *,
        secret: str | None,
        policy: RetryPolicy,
        timeout_s: float,
        metrics: WorkerMetrics | None = None,
        client: httpx.Client | None = None,
        body: WebhookBody | None = None,
    ) -> None:
        self.outbox = Outbox(engine)
        self.body = body or WebhookBody()
        self.url = url
        self.secret = secret
        self.policy = policy
        self.timeout_s = timeout_s
        self.metrics = metrics
        self.client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self.shown_url = mask_url(url, keep_path=False)

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine, metrics: WorkerMetrics | None = None) -> Dispatcher:
        if settings.webhook_url is None:
            raise ValueError("no webhook_url is set")
        if settings.webhook_format == "splunk-hec" and settings.webhook_hec_token is None:
            raise ConfigError(["setting webhook_hec_token: the splunk-hec webhook format needs the HEC token "
                               "(INVDET_WEBHOOK_HEC_TOKEN)"])  # fmt: skip
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret is not None else None
        token = settings.webhook_hec_token.get_secret_value() if settings.webhook_hec_token is not None else None
        body = WebhookBody(settings.webhook_format, hec_token=token, console_url=settings.console_url)
        policy = RetryPolicy(
            settings.webhook_max_attempts, Backoff(settings.webhook_backoff_s, settings.webhook_backoff_max_s)
        )
        return cls(
            engine, settings.webhook_url, secret=secret, policy=policy, timeout_s=settings.webhook_timeout_s,
            metrics=metrics, body=body,
        )  # fmt: skip

    @property
    def lease_s(self) -> float:
        return CLAIM_BATCH * (self.timeout_s + 1.0) + LEASE_MARGIN_S

    def deliver_due(self) -> int:
        """Claim a batch of due rows and attempt each once; how many were attempted."""
        deliveries = self.outbox.claim(CLAIM_BATCH, self.lease_s)
        for delivery in deliveries:
            self.attempt(delivery)
        return len(deliveries)

    def post(self, delivery: Delivery) -> Outcome:
        body = self.body.render(delivery.body)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"inversion-detector/{__version__}",
            "Idempotency-Key": delivery.alert_id,
            **self.body.headers(),
        }
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        try:
            response = self.client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return classify_error(exc)
        return classify_response(response.status_code, response.headers)

    def attempt(self, delivery: Delivery) -> Outcome:
        """One POST of a claimed row, and its outcome recorded."""
        outcome = self.post(delivery)
        context = {"alert_id": delivery.alert_id, "attempt": delivery.attempt, "webhook": self.shown_url}
        if outcome.kind == "delivered":
            self.outbox.delivered(delivery)
            self._count("delivered")
            log.info("webhook delivered", extra=context)
            return outcome
        delay = self.policy.delay_after(delivery.attempt, outcome)
        if delay is None:
            self.outbox.failed(delivery, outcome.detail)
            self._count("failed")
            log.error("webhook failed for good: %s", outcome.detail, extra=context)
        else:
            self.outbox.retry_later(delivery, delay, outcome.detail)
            self._count("retry")
            log.warning("webhook attempt failed, retrying in %.1f s: %s", delay, outcome.detail, extra=context)
        return outcome

    def _count(self, outcome: str) -> None:
        if self.metrics is None:
            return
        if outcome == "delivered":
            self.metrics.webhook_deliveries.inc()
        else:
            self.metrics.webhook_failures.labels(outcome).inc()

    def run(self, stop: threading.Event, poll_s: float) -> None:
        """Deliver until ``stop`` is set; a database outage is waited out with backoff."""
        backoff = Backoff(0.5, 30.0)
        log.info("webhook dispatcher started", extra={"webhook": self.shown_url, "signed": self.secret is not None})
        while not stop.is_set():
            try:
                attempted = self.deliver_due()
                if self.metrics is not None:
                    self.metrics.webhook_queue.set(self.outbox.depth())
            except SQLAlchemyError as exc:
                delay = backoff.next()
                log.warning("webhook dispatcher cannot reach the database, retrying in %.1f s: %s", delay,
                            str(getattr(exc, "orig", None) or exc).strip().splitlines()[0])  # fmt: skip
                stop.wait(delay)
                continue
            except Exception:  # a bug must not silently end deliveries: log it and go on
                delay = backoff.next()
                log.exception("webhook dispatcher error, retrying in %.1f s", delay)
                stop.wait(delay)
                continue
            backoff.reset()
            if attempted < CLAIM_BATCH:
                stop.wait(poll_s)

    def close(self) -> None:
        self.client.close()


class DispatcherThread:
    """A :class:`Dispatcher` in a daemon thread with its own database engine."""

    def __init__(self, dispatcher: Dispatcher, engine: Engine, poll_s: float) -> None:
        self.dispatcher = dispatcher
        self.engine = engine
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=dispatcher.run, args=(self.stopping, poll_s), name="webhook", daemon=True)

    @classmethod
    def start(cls, settings: Settings, metrics: WorkerMetrics | None = None) -> DispatcherThread:
        engine = make_engine(settings.database_url)
        running = cls(Dispatcher.from_settings(settings, engine, metrics), engine, settings.webhook_poll_s)
        running.thread.start()
        return running

    def stop(self, timeout_s: float) -> None:
        """Finish the POST in progress (within ``timeout_s``), then release connections."""
        self.stopping.set()
        self.thread.join(timeout_s)
        self.dispatcher.close()
        self.engine.dispose()
