"""One MAVLink link to one vehicle: the I/O thread, GCS heartbeat, link health, reconnects, subscriptions.

Threads: `Link.start()` runs one thread that owns the transport. It blocks in `read()` (select with a short
timeout), parses with pymavlink's codec (fastcrc), sends the GCS HEARTBEAT every `heartbeat_period_s`, declares
the link lost after `link_timeout_s` without a message from the vehicle, and reconnects with exponential back-off
when the transport closes (or, for TCP, when it stays silent for `silence_reconnect_s`). Bad bytes never kill it:
they are counted and reported through `on_error` at most once per `error_report_period_s` per kind.

Boot text: a vehicle may print text on its port before it speaks MAVLink (ArduPilot SITL's console banner on
SERIAL0, ~150 bytes). Bytes that do not parse before the first valid frame of a connection are skipped quietly:
counted in `boot_bytes_skipped`, logged once at INFO, never reported as errors (at most
`LinkSettings.boot_text_max_bytes` of them; beyond that, and after the first valid frame, they are garbage again).
Each connection starts over.

Other threads send with `send()` (serialised by a lock) and wait for answers with `subscribe()`: a Subscription
receives the messages of the given types that match its predicate, in order, until it is closed; when the
link drops, every open Subscription fails with LinkDown, so nobody waits on a dead vehicle.
"""
from __future__ import annotations

import logging
import struct
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from telemetry import codec
from telemetry.errors import InvalidRequest, LinkDown
from telemetry.transport import Endpoint, Transport, TransportClosed, open_transport

log = logging.getLogger(__name__)

MessagePredicate = Callable[[object], bool]


@dataclass(frozen=True)
class LinkSettings:
    """How a link talks to its vehicle: who we are, whom we talk to, and its timings."""

    source_system: int = 255  # our MAVLink system id (255: a GCS)
    source_component: int = 190  # MAV_COMP_ID_MISSIONPLANNER
    target_system: int | None = None  # None: the first autopilot heartbeat decides
    heartbeat_period_s: float = 1.0  # our GCS HEARTBEAT
    link_timeout_s: float = 3.0  # link lost after this long without a message from the vehicle
    reconnect_backoff_s: tuple[float, float] = (0.5, 10.0)  # (first, longest) wait between reconnects
    silence_reconnect_s: float | None = None  # TCP: reconnect when silent this long (None: 3 x link_timeout_s)
    connect_timeout_s: float = 3.0
    error_report_period_s: float = 1.0  # at most one report per error kind per period
    boot_text_max_bytes: int = 4096  # non-MAVLink bytes skipped quietly before a connection's first frame

    def problems(self) -> list[str]:
        """What is wrong with these settings ([] when nothing)."""
        out = []
        if not 1 <= self.source_system <= 255:
            out.append(f"source_system {self.source_system} not in 1..255")
        if not 0 <= self.source_component <= 255:
            out.append(f"source_component {self.source_component} not in 0..255")
        if self.target_system is not None and not 1 <= self.target_system <= 255:
            out.append(f"target_system {self.target_system} not in 1..255")
        if self.heartbeat_period_s <= 0 or self.link_timeout_s <= 0:
            out.append("heartbeat_period_s and link_timeout_s must be > 0")
        backoff = tuple(self.reconnect_backoff_s)
        if len(backoff) != 2 or not 0 < backoff[0] <= backoff[1]:
            out.append(f"reconnect_backoff_s {self.reconnect_backoff_s} must be (min > 0, max >= min)")
        if self.silence_reconnect_s is not None and self.silence_reconnect_s <= 0:
            out.append(f"silence_reconnect_s {self.silence_reconnect_s} must be > 0 (or None)")
        if self.connect_timeout_s <= 0 or self.error_report_period_s < 0:
            out.append("connect_timeout_s must be > 0 and error_report_period_s >= 0")
        if self.boot_text_max_bytes < 0:
            out.append(f"boot_text_max_bytes {self.boot_text_max_bytes} must be >= 0")
        return out


class Subscription:
    """A queue of matching messages from the vehicle, filled by the link thread."""

    def __init__(self, types: Iterable[str], match: MessagePredicate | None):
        self.types = frozenset(types)
        self._match = match
        self._queue: deque = deque()
        self._cond = threading.Condition(threading.Lock())
        self._failed: str | None = None

    def offer(self, msg) -> None:
        if self._match is None or self._match(msg):
            with self._cond:
                self._queue.append(msg)
                self._cond.notify()

    def fail(self, reason: str) -> None:
        with self._cond:
            self._failed = reason
            self._cond.notify_all()

    def get(self, timeout_s: float):
        """The next matching message, or None after `timeout_s`; raises LinkDown once the link dropped."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        with self._cond:
            while not self._queue and self._failed is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(remaining)
            if self._queue:
                return self._queue.popleft()
            raise LinkDown(self._failed)


class Link:
    def __init__(
        self,
        name: str,
        endpoint: Endpoint,
        settings: LinkSettings = LinkSettings(),
        *,
        on_message: Callable[[object, float], None],
        on_batch: Callable[[float], None],
        on_link_change: Callable[[bool, str, float], None],
        on_error: Callable[[str, str, int, float], None],
        on_tick: Callable[[float], None] = lambda now: None,
        record: Callable[[bytes, float], None] | None = None,
    ):
        problems = settings.problems()
        if problems:
            raise InvalidRequest(f"{name}: " + "; ".join(problems))
        self.name = name
        self.endpoint = endpoint
        self.settings = settings
        self._on_message = on_message
        self._on_batch = on_batch
        self._on_link_change = on_link_change
        self._on_error = on_error
        self._on_tick = on_tick
        self._record = record
        self.source_system = settings.source_system
        self.source_component = settings.source_component
        self.target_system = settings.target_system
        self.target_component: int | None = None
        self._hb_period = settings.heartbeat_period_s
        self._timeout = settings.link_timeout_s
        self._backoff = tuple(settings.reconnect_backoff_s)
        self._silence_reconnect = (settings.silence_reconnect_s if settings.silence_reconnect_s is not None
                                   else 3 * settings.link_timeout_s)
        self._connect_timeout = settings.connect_timeout_s
        self._err_period = settings.error_report_period_s

        self._codec = codec.new_codec(self.source_system, self.source_component)  # encoder, used under _send_lock
        self._send_lock = threading.Lock()
        self._transport: Transport | None = None
        self._broken: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._subs_lock = threading.Lock()
        self._subs: dict[str, tuple[Subscription, ...]] = {}  # replaced, never mutated: read without a lock
        self._all_subs: set[Subscription] = set()
        self.up = False
        self.down_reason = "not connected yet"
        self._last_rx = 0.0
        self._err_pending: dict[str, list] = {}  # kind -> [count, last detail]
        self._err_next_report = 0.0
        self._conn_was_up = False
        self.boot_bytes_skipped = 0  # non-MAVLink bytes skipped before first frames, all connections together
        self.components_seen: frozenset[int] = frozenset()  # target-system components whose HEARTBEAT came
        self._synced = False  # this connection has delivered a valid frame
        self._conn_boot_bytes = 0

    # --- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"mavlink-{self.name}", daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        self._fail_subscriptions("link closed")

    @property
    def closed(self) -> bool:
        return self._stop.is_set()

    # --- sending and waiting ---------------------------------------------------------------------

    @property
    def encoder(self):
        """pymavlink MAVLink object whose *_encode() methods build messages (stateless, any thread)."""
        return self._codec

    def send(self, msg) -> None:
        """Send one message now; raises LinkDown when there is no open transport."""
        with self._send_lock:
            transport = self._transport
            if transport is None or self._broken is not None:
                raise LinkDown(f"{self.name}: cannot send {msg.get_type()}: link is down ({self.down_reason})")
            try:
                buf = msg.pack(self._codec)
            except (struct.error, OverflowError, ValueError, TypeError) as exc:
                raise InvalidRequest(f"{self.name}: cannot encode {msg.get_type()}: {exc}") from exc
            self._codec.seq = (self._codec.seq + 1) % 256
            try:
                transport.write(buf)
            except TransportClosed as exc:
                self._broken = str(exc)
                raise LinkDown(f"{self.name}: cannot send {msg.get_type()}: {exc}") from exc
        if self._record is not None:
            self._record(buf, time.time())

    def target(self, what: str) -> tuple[int, int]:
        """(system, component) to address a request to; raises LinkDown naming `what` when the link is down."""
        if not self.up or self.target_system is None:
            raise LinkDown(f"{self.name}: {what} not sent: link is down ({self.down_reason})")
        return self.target_system, self.target_component or 1

    @contextmanager
    def subscribe(self, types: Iterable[str], match: MessagePredicate | None = None) -> Iterator[Subscription]:
        """Receive messages of `types` from the target system (and matching `match`) while inside the block.

        Subscribe BEFORE sending the request, so the answer cannot slip past."""
        sub = Subscription(types, match)
        with self._subs_lock:
            self._all_subs.add(sub)
            self._rebuild_subs()
        try:
            if self.closed:
                sub.fail("link closed")
            yield sub
        finally:
            with self._subs_lock:
                self._all_subs.discard(sub)
                self._rebuild_subs()

    def _rebuild_subs(self) -> None:
        table: dict[str, list[Subscription]] = {}
        for sub in self._all_subs:
            for t in sub.types:
                table.setdefault(t, []).append(sub)
        self._subs = {t: tuple(s) for t, s in table.items()}

    def _fail_subscriptions(self, reason: str) -> None:
        with self._subs_lock:
            subs = list(self._all_subs)
        for sub in subs:
            sub.fail(f"{self.name}: {reason}")

    # --- the link thread -------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = self._backoff[0]
        while not self._stop.is_set():
            try:
                transport = open_transport(self.endpoint, self._connect_timeout)
            except OSError as exc:
                now = time.monotonic()
                self.down_reason = f"cannot open {self._describe()}: {exc}"
                self._count_error("connect", self.down_reason, now)
                self._flush_errors(now, force=True)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._backoff[1])
                continue
            self._conn_was_up = False
            self._synced = False
            self._conn_boot_bytes = 0
            with self._send_lock:
                self._transport = transport
                self._broken = None
            try:
                self._pump(transport)
                reason = "link closed"
            except TransportClosed as exc:
                reason = str(exc)
            except Exception as exc:  # a bug must not kill the link: report it and reconnect
                log.exception("%s: link thread error", self.name)
                reason = f"internal error: {exc!r}"
                self._count_error("internal", reason, time.monotonic())
            finally:
                with self._send_lock:
                    self._transport = None
                transport.close()
            self._set_down(reason, time.monotonic())
            if self._stop.is_set():
                break
            if self._conn_was_up:
                backoff = self._backoff[0]
            self._stop.wait(backoff)
            if not self._conn_was_up:
                backoff = min(backoff * 2, self._backoff[1])

    def _describe(self) -> str:
        e = self.endpoint
        return f"{e.kind}:{e.device or f'{e.host}:{e.port}'}"

    def _pump(self, transport: Transport) -> None:
        """Read, parse and dispatch until the transport closes (TransportClosed) or we stop."""
        parser = codec.new_codec(self.source_system, self.source_component)
        connected_at = time.monotonic()
        self._last_rx = 0.0
        next_hb = connected_at
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_hb:
                self._send_heartbeat()
                next_hb = max(next_hb + self._hb_period, now + 0.5 * self._hb_period)
                try:
                    self._on_tick(now)
                except Exception as exc:
                    log.exception("%s: periodic work failed", self.name)
                    self._count_error("handler", f"periodic work failed: {exc!r}", now)
            if self._broken is not None:
                raise TransportClosed(self._broken)
            self._check_health(now, connected_at)
            self._flush_errors(now)
            data = transport.read(min(next_hb - now, 0.2))
            if not data:
                continue
            now = time.monotonic()
            try:
                msgs = parser.parse_buffer(data)
            except Exception as exc:  # robust_parsing should make this impossible; never let it kill us
                self._count_error("parse", f"parser failed: {exc!r}", now)
                parser = codec.new_codec(self.source_system, self.source_component)
                continue
            if not msgs:
                continue
            for msg in msgs:
                try:
                    self._handle(msg, now)
                except Exception as exc:
                    log.exception("%s: error handling %s", self.name, msg.get_type())
                    self._count_error("handler", f"error handling {msg.get_type()}: {exc!r}", now)
            try:
                self._on_batch(now)
            except Exception as exc:
                log.exception("%s: error after a batch", self.name)
                self._count_error("handler", f"error publishing state: {exc!r}", now)

    def _send_heartbeat(self) -> None:
        enc = self._codec
        msg = enc.heartbeat_encode(
            codec.mavlink.MAV_TYPE_GCS, codec.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, codec.mavlink.MAV_STATE_ACTIVE
        )
        try:
            self.send(msg)
        except LinkDown:
            pass  # the read side notices and reconnects

    def _check_health(self, now: float, connected_at: float) -> None:
        if self.up and now - self._last_rx > self._timeout:
            self._set_down(f"no messages from the vehicle for {now - self._last_rx:.1f} s", now)
        if (
            not self.up
            and self.endpoint.reconnects_on_silence
            and now - max(self._last_rx, connected_at) > self._silence_reconnect
        ):
            raise TransportClosed(f"nothing received for {self._silence_reconnect:g} s, reconnecting")

    def _set_up(self, now: float) -> None:
        if not self.up:
            self.up = True
            self._conn_was_up = True
            self.down_reason = ""
            self._on_link_change(True, f"heartbeat from system {self.target_system}", now)

    def _set_down(self, reason: str, now: float) -> None:
        if self.up:
            self.up = False
            self.down_reason = reason
            self._fail_subscriptions(f"link lost: {reason}")
            self._on_link_change(False, reason, now)
        else:
            self.down_reason = reason

    def _handle(self, msg, now: float) -> None:
        mtype = msg.get_type()
        if mtype == "BAD_DATA":
            if not self._synced and self._conn_boot_bytes + len(msg.data) <= self.settings.boot_text_max_bytes:
                self._conn_boot_bytes += len(msg.data)  # boot text before the first frame: skip it quietly
                self.boot_bytes_skipped += len(msg.data)
                return
            reason = msg.reason
            kind = "bad_crc" if "CRC" in reason else ("garbage" if "prefix" in reason else "bad_frame")
            self._count_error(kind, f"{reason} ({len(msg.data)} bytes)", now)
            return
        if not self._synced and not mtype.startswith("UNKNOWN_"):
            self._synced = True
            if self._conn_boot_bytes:
                log.info("%s: skipped %d bytes of non-MAVLink text before the first frame (boot output?)",
                         self.name, self._conn_boot_bytes)
        try:
            if mtype.startswith("UNKNOWN_"):
                self._count_error("unknown_message", f"undecodable message id {mtype[8:]}", now)
                return
            header = msg._header
            src = header.srcSystem
            if mtype == "HEARTBEAT":
                if self.target_system is None and codec.is_vehicle_heartbeat(msg):
                    self.target_system = src
                if src != self.target_system:
                    return
                if header.srcComponent not in self.components_seen:
                    self.components_seen = self.components_seen | {header.srcComponent}
                if self.target_component is None and codec.is_vehicle_heartbeat(msg):
                    self.target_component = header.srcComponent
                if header.srcComponent == self.target_component:
                    self._last_rx = now
                    self._on_message(msg, now)  # first, so the link-up state already shows this heartbeat
                    self._set_up(now)
            elif src != self.target_system:
                return
            else:
                self._last_rx = now
                self._on_message(msg, now)
            subs = self._subs.get(mtype)
            if subs:
                for sub in subs:
                    sub.offer(msg)
        finally:
            # after on_message, so the HEARTBEAT that starts a flight opens the flight tlog before it is written
            if self._record is not None:
                self._record(msg.get_msgbuf(), time.time())

    # --- error reporting (rate-limited) ------------------------------------------------------------

    def _count_error(self, kind: str, detail: str, now: float) -> None:
        entry = self._err_pending.get(kind)
        if entry is None:
            self._err_pending[kind] = [1, detail]
        else:
            entry[0] += 1
            entry[1] = detail
        self._flush_errors(now)

    def _flush_errors(self, now: float, force: bool = False) -> None:
        if not self._err_pending or (now < self._err_next_report and not force):
            return
        pending, self._err_pending = self._err_pending, {}
        self._err_next_report = now + self._err_period
        for kind, (count, detail) in pending.items():
            try:
                self._on_error(kind, detail, count, now)
            except Exception:
                log.exception("%s: error callback failed", self.name)
