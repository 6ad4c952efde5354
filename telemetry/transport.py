"""Byte transports under a MAVLink link: TCP client, UDP in (listen), UDP out (send to), serial.

URLs use pymavlink's spelling: `tcp:HOST:PORT`, `udpin:HOST:PORT` (also `udp:HOST:PORT`),
`udpout:HOST:PORT`, and a serial device `/dev/ttyUSB0`, `/dev/ttyUSB0,57600` or `serial:/dev/ttyUSB0:57600`.

Why not mavutil's own connection classes for the sockets: its TCP class prints to stdout, sleeps between
blocking connect retries and cannot tell "peer closed" from "no data yet". Here `read()` waits at most
`timeout_s`, returns b"" when nothing came, and raises TransportClosed when the link is gone, so the link
thread can reconnect with its own back-off. Serial ports are opened through mavutil (pyserial underneath).
"""
from __future__ import annotations

import errno
import select
import socket
from dataclasses import dataclass


class TransportClosed(Exception):
    """The transport is gone (peer closed, reset, I/O error); the link thread reconnects."""


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "tcp", "udpin", "udpout", "serial"
    host: str = ""
    port: int = 0
    device: str = ""
    baud: int = 115200

    @property
    def reconnects_on_silence(self) -> bool:
        """A TCP stream that stays silent may be half-open: worth reconnecting. UDP has nothing to redo."""
        return self.kind == "tcp"


def parse_url(url: str) -> Endpoint:
    """Parse a link URL; raises ValueError with the accepted forms when it is not one."""
    url = url.strip()

    def host_port(rest: str) -> tuple[str, int]:
        host, sep, port = rest.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad link URL {url!r}: expected HOST:PORT after the scheme")
        return host, int(port)

    for scheme, kind in (("tcp:", "tcp"), ("udpin:", "udpin"), ("udp:", "udpin"), ("udpout:", "udpout")):
        if url.startswith(scheme):
            host, port = host_port(url[len(scheme):])
            return Endpoint(kind, host=host, port=port)
    if url.startswith("serial:"):
        device, _, baud = url[len("serial:"):].partition(":")
    elif url.startswith("/") or url.upper().startswith("COM"):
        device, _, baud = url.partition(",")
    else:
        raise ValueError(
            f"bad link URL {url!r}: use tcp:HOST:PORT, udpin:HOST:PORT, udpout:HOST:PORT, "
            "serial:DEVICE[:BAUD] or a device path /dev/...[,BAUD]"
        )
    if not device or (baud and not baud.isdigit()):
        raise ValueError(f"bad serial link URL {url!r}: expected DEVICE[:BAUD]")
    return Endpoint("serial", device=device, baud=int(baud) if baud else 115200)


class Transport:
    """Base class: a bidirectional byte pipe."""

    endpoint: Endpoint

    def read(self, timeout_s: float) -> bytes:
        raise NotImplementedError

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _SocketTransport(Transport):
    """A transport over one socket (`_sock`)."""

    _sock: socket.socket

    def close(self) -> None:
        try:
            self._sock.close()
        except OSError:
            pass


class TcpTransport(_SocketTransport):
    def __init__(self, endpoint: Endpoint, connect_timeout_s: float, send_timeout_s: float):
        self.endpoint = endpoint
        self._sock = socket.create_connection((endpoint.host, endpoint.port), timeout=connect_timeout_s)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.settimeout(send_timeout_s)  # bounds sendall(); reads go through select() first

    def read(self, timeout_s: float) -> bytes:
        try:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout_s))
            if not ready:
                return b""
            data = self._sock.recv(65536)
        except (OSError, ValueError) as exc:
            raise TransportClosed(f"TCP read failed: {exc}") from exc
        if not data:
            raise TransportClosed("TCP connection closed by the vehicle")
        return data

    def write(self, data: bytes) -> None:
        try:
            self._sock.sendall(data)
        except (OSError, ValueError) as exc:
            raise TransportClosed(f"TCP write failed: {exc}") from exc


class UdpTransport(_SocketTransport):
    """udpin: bind and answer whoever last sent to us; udpout: send to a fixed address."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._peer: tuple[str, int] | None = None
        if endpoint.kind == "udpin":
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((endpoint.host, endpoint.port))
        else:
            self._peer = (socket.gethostbyname(endpoint.host), endpoint.port)
        self._sock.setblocking(False)

    def read(self, timeout_s: float) -> bytes:
        try:
            ready, _, _ = select.select([self._sock], [], [], max(0.0, timeout_s))
            if not ready:
                return b""
            data, addr = self._sock.recvfrom(65536)
        except BlockingIOError:
            return b""
        except ConnectionRefusedError:  # ICMP port unreachable from a previous send: nobody there yet
            return b""
        except (OSError, ValueError) as exc:
            raise TransportClosed(f"UDP read failed: {exc}") from exc
        if self.endpoint.kind == "udpin":
            self._peer = addr
        return data

    def write(self, data: bytes) -> None:
        if self._peer is None:  # udpin before anyone has spoken to us: nowhere to send yet
            return
        try:
            self._sock.sendto(data, self._peer)
        except (BlockingIOError, ConnectionRefusedError):
            pass  # datagram dropped; MAVLink over UDP is lossy anyway
        except OSError as exc:
            if exc.errno in (errno.ENOBUFS, errno.EAGAIN):
                return
            raise TransportClosed(f"UDP write failed: {exc}") from exc


class SerialTransport(Transport):
    def __init__(self, endpoint: Endpoint):
        from telemetry.codec import load_mavutil

        self.endpoint = endpoint
        try:
            conn = load_mavutil().mavlink_connection(endpoint.device, baud=endpoint.baud)
        except Exception as exc:  # serial.SerialException and OSError; pyserial is imported lazily by mavutil
            raise OSError(f"cannot open serial port {endpoint.device}: {exc}") from exc
        self._port = conn.port

    def read(self, timeout_s: float) -> bytes:
        try:
            ready, _, _ = select.select([self._port.fileno()], [], [], max(0.0, timeout_s))
            if not ready:
                return b""
            return self._port.read(max(1, self._port.in_waiting))
        except Exception as exc:
            raise TransportClosed(f"serial read failed: {exc}") from exc

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except Exception as exc:
            raise TransportClosed(f"serial write failed: {exc}") from exc

    def close(self) -> None:
        try:
            self._port.close()
        except Exception:
            pass


def open_transport(endpoint: Endpoint, connect_timeout_s: float = 3.0, send_timeout_s: float = 2.0) -> Transport:
    """Open the transport; raises OSError when it cannot be opened now (the caller retries)."""
    if endpoint.kind == "tcp":
        return TcpTransport(endpoint, connect_timeout_s, send_timeout_s)
    if endpoint.kind in ("udpin", "udpout"):
        return UdpTransport(endpoint)
    return SerialTransport(endpoint)
