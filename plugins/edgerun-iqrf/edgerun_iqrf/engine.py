"""The DPA transaction engine: one transaction in flight per coordinator.

:meth:`DpaEngine.request` sends a request, waits for the confirmation (remote nodes and
broadcasts), then for the response for as long as :mod:`edgerun_iqrf.timing` computes from
the confirmation, and keeps the next request back until the mesh has finished routing. A
reader task takes every frame from the transport: the confirmation and response of the
pending request complete it; asynchronous responses (rcode bit 7), node-initiated requests
and the coordinator's reset message go to subscribers and are never mistaken for the
answer. Transport errors trigger a resynchronisation and, where the transport can, a TR
reset, and are retried a bounded number of times.

The confirmation itself comes within milliseconds of the request, so it is awaited for the
default 500 ms of the IQRF daemon. Requests to the coordinator (no confirmation) get the
same 500 ms or the caller's longer timeout (FRC and discovery pass their own estimate).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from typing import Final

from edgerun_iqrf import timing
from edgerun_iqrf.dpa import Confirmation, Frame, Request, Response, decode_frame, is_reset
from edgerun_iqrf.embed import decode_enumeration
from edgerun_iqrf.errors import DpaFormatError, DpaTimeout, TransportError
from edgerun_iqrf.transport import Transport

log = logging.getLogger(__name__)

Subscriber = Callable[[Frame], None]
MAX_RETRIES: Final = 5


class DpaEngine:
    """Runs DPA transactions over one transport.

    :param std_mode: RF mode for timeouts; updated from the coordinator's reset message.
    :param time_scale: multiplies every computed wait; 1.0 for real hardware (the simulator
        can run faster than real time for tests and demos).
    """

    def __init__(
        self,
        transport: Transport,
        *,
        std_mode: bool = True,
        time_scale: float = 1.0,
        reset_on_error: bool = True,
    ) -> None:
        self.transport = transport
        self.std_mode = std_mode
        self.time_scale = time_scale
        self.reset_on_error = reset_on_error
        self.counters: Counter[str] = Counter()
        self._lock = asyncio.Lock()
        self._subscribers: list[Subscriber] = []
        self._pending: Request | None = None
        self._conf: asyncio.Future[Confirmation] | None = None
        self._resp: asyncio.Future[Response] | None = None
        self._busy_until = 0.0
        self._task: asyncio.Task[None] | None = None
        self._failure: TransportError | None = None
        #: When the last response timeout was computed (ms), for diagnostics and tests.
        self.last_timeout_ms: int | None = None
        #: The confirmation of the last transaction to a node (hops for air-time estimates).
        self.last_confirmation: Confirmation | None = None

    # ----------------------------------------------------------------- life cycle

    async def start(self) -> None:
        self._task = asyncio.create_task(self._reader(), name="iqrf-dpa-rx")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def __aenter__(self) -> DpaEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(frame)`` for every async message; returns an unsubscribe function."""
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    @property
    def failed(self) -> TransportError | None:
        """The transport error that stopped the reader, if any."""
        return self._failure

    # ---------------------------------------------------------------------- reader

    async def _reader(self) -> None:
        while True:
            try:
                raw = await self.transport.receive()
            except TransportError as exc:
                self._failure = exc
                for fut in (self._conf, self._resp):
                    if fut is not None and not fut.done():
                        fut.set_exception(exc)
                return
            try:
                frame = decode_frame(raw)
            except DpaFormatError as exc:
                self.counters["malformed"] += 1
                log.debug("dropped malformed frame: %s", exc)
                continue
            self._route(frame)

    def _route(self, frame: Frame) -> None:
        pending = self._pending
        if isinstance(frame, Confirmation):
            if pending is not None and self._conf is not None and frame.matches(pending):
                if not self._conf.done():
                    self._conf.set_result(frame)
                return
            self.counters["unmatched"] += 1
            return
        if isinstance(frame, Response) and not frame.is_async:
            if pending is not None and self._resp is not None and frame.matches(pending):
                if not self._resp.done():
                    self._resp.set_result(frame)
                return
            self.counters["unmatched"] += 1
            return
        # Asynchronous response or a node-initiated request.
        self.counters["async"] += 1
        if is_reset(frame):
            assert isinstance(frame, Response)
            self.counters["resets"] += 1
            with contextlib.suppress(DpaFormatError):
                self.std_mode = decode_enumeration(frame.pdata).std_mode
        for callback in list(self._subscribers):
            try:
                callback(frame)
            except Exception:
                log.exception("async message subscriber failed")

    # ------------------------------------------------------------------ requests

    async def request(
        self, req: Request, *, timeout: float | None = None, retries: int = 0
    ) -> Response | Confirmation:
        """Run one transaction; returns the response (the confirmation for a broadcast).

        :param timeout: seconds; the least time to wait for the response (the computed
            timeout wins when longer).
        :param retries: further attempts after a timeout or transport error (at most 5).
        :raises DpaTimeout: no confirmation or response in time, after the retries.
        :raises TransportError: the transport failed and could not be recovered.
        """
        attempts = 1 + max(0, min(retries, MAX_RETRIES))
        last: Exception | None = None
        for attempt in range(attempts):
            try:
                async with self._lock:
                    return await self._transact(req, timeout)
            except DpaTimeout as exc:
                last = exc
                self.counters["timeouts"] += 1
            except TransportError as exc:
                last = exc
                self.counters["transport_errors"] += 1
                if self._failure is not None:
                    raise
                await self._recover()
            if attempt + 1 < attempts:
                self.counters["retries"] += 1
        assert last is not None
        raise last

    async def _recover(self) -> None:
        self.transport.resync()
        if self.reset_on_error:
            with contextlib.suppress(TransportError):
                if await self.transport.reset():
                    self.counters["tr_resets"] += 1

    async def _transact(self, req: Request, timeout: float | None) -> Response | Confirmation:
        loop = asyncio.get_running_loop()
        if self._failure is not None:
            raise self._failure
        wait = self._busy_until - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._pending = req
        self._conf = loop.create_future() if not req.is_local else None
        self._resp = loop.create_future()
        try:
            await self.transport.send(req.encode())
            self.counters["requests"] += 1
            user_s = timeout or 0.0
            if req.is_local:
                limit = max(timing.DEFAULT_TIMEOUT_MS / 1000 * self.time_scale, user_s)
                self.last_timeout_ms = round(limit * 1000)
                return await self._await(self._resp, limit, req, "response")
            assert self._conf is not None
            conf_limit = timing.DEFAULT_TIMEOUT_MS / 1000 * self.time_scale
            waiters: set[asyncio.Future[Confirmation] | asyncio.Future[Response]] = {
                self._conf,
                self._resp,
            }
            done, _ = await asyncio.wait(
                waiters,
                timeout=conf_limit,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if self._resp in done:  # the coordinator refused it at once (e.g. ERROR_NADR)
                return self._resp.result()
            if self._conf not in done:
                raise DpaTimeout(f"no confirmation for {_describe(req)}", conf_limit)
            conf = self._conf.result()
            self.last_confirmation = conf
            conf_at = loop.time()
            if req.is_broadcast or conf.hops_response == 0:
                self._busy_until = conf_at + timing.broadcast_busy_ms(conf) / 1000 * self.time_scale
                return conf
            computed_ms = timing.response_timeout_ms(conf, self.std_mode)
            limit = max(computed_ms / 1000 * self.time_scale, user_s)
            self.last_timeout_ms = round(limit * 1000)
            try:
                resp = await self._await(self._resp, limit, req, "response")
            finally:
                self._busy_until = conf_at + limit
            busy = timing.routing_busy_ms(conf, len(resp.pdata), self.std_mode)
            self._busy_until = conf_at + busy / 1000 * self.time_scale
            return resp
        finally:
            self._pending = None
            for fut in (self._conf, self._resp):
                if fut is not None and not fut.done():
                    fut.cancel()
            self._conf = self._resp = None

    async def _await(
        self, fut: asyncio.Future[Response], limit: float, req: Request, what: str
    ) -> Response:
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(fut)
        except TimeoutError:
            raise DpaTimeout(f"no {what} for {_describe(req)} in {limit:.3f} s", limit) from None


def _describe(req: Request) -> str:
    return f"NADR {req.nadr} PNUM {req.pnum:#04x} PCMD {req.pcmd:#04x}"
