"""c1218: a small ANSI C12.18 (optical port, PSEM) client: the tests' and mepsim-profile's.

Python has no C12.18 library we may use, so this is written from
docs/optical.md: packets (2.1), CRC-16/X-25 sent low byte
first (2.2), ACK/NAK and toggle bit (2.4, 2.5), multi-packet replies (2.6)
and the PSEM services (3). It talks to a file descriptor (the client's end
of a PTY), so it works on mepsim's separate optical PTY and on a Gen 2/3
meter's shared MEP line.

    c = C1218Client.open(path)
    c.identify(); c.logon(2, "TEST"); c.security(b"OPTICAL-MK-000000001")
    code, data = c.read(23)            # full read
    code, data = c.read(28, 0, 40)     # partial read (offset, count)
    c.logoff(); c.terminate()

Every service returns (response code, payload after the code). All waits are
bounded; a missing ACK or reply raises C1218Timeout.
"""

import os
import time

from . import rawfd

STP, ACK, NAK = 0xEE, 0x06, 0x15
CTRL_MULTI, CTRL_FIRST, CTRL_TOGGLE = 0x80, 0x40, 0x20

RSP = {0x00: "ok", 0x01: "err", 0x02: "sns", 0x03: "isc", 0x04: "onp", 0x05: "iar",
       0x06: "bsy", 0x07: "dnr", 0x08: "dlk", 0x09: "rno", 0x0A: "isss"}
OK, ERR, SNS, ISC, ONP, IAR, ISSS = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x0A


def ET(n):
    return 2048 + n


def crc(data):
    """CRC-16/X-25 (docs/optical.md 2.2); "123456789" -> 0x906E."""
    c = 0xFFFF
    for b in bytes(data):
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x8408 if c & 1 else c >> 1
    return c ^ 0xFFFF


def packet(data, toggle=0, identity=0, ctrl=0, seq=0):
    """One whole packet: EE ident ctrl seq len(BE) data crc(lo, hi)."""
    data = bytes(data)
    head = bytes([STP, identity, (ctrl | (CTRL_TOGGLE if toggle else 0)) & 0xFF, seq,
                  len(data) >> 8, len(data) & 0xFF])
    c = crc(head + data)
    return head + data + bytes([c & 0xFF, c >> 8])


def cksum(data):
    """Two's complement of the 8-bit sum (read replies, write requests)."""
    return (-sum(data)) & 0xFF


class C1218Timeout(AssertionError):
    pass


class C1218Error(AssertionError):
    pass


class C1218Client:
    """Client end of an optical channel on a file descriptor."""

    def __init__(self, fd, ack_timeout=2.0, reply_timeout=3.0, retries=3):
        self.fd = fd
        self.ack_timeout = ack_timeout
        self.reply_timeout = reply_timeout
        self.retries = retries
        self.toggle = 0
        self.buf = bytearray()
        self.skipped = 0          # bytes skipped while hunting (stray / MEP traffic)
        self.naks = 0             # NAKs received for our packets
        self.sent_packets = []    # every packet written (retransmissions included)
        self.send_acks = True     # acknowledge the meter's reply packets
        self.last_reply_toggle = None
        self.last_reply_packets = []

    @classmethod
    def open(cls, path, **kw):
        return cls(rawfd.open_raw(path), **kw)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    # ---- raw bytes ---------------------------------------------------
    def write(self, data):
        rawfd.write_all(self.fd, data)

    def _fill(self, deadline):
        t = deadline - time.monotonic()
        if t <= 0:
            return False
        chunk = rawfd.read_some(self.fd, t)
        if chunk is None:
            return False
        self.buf += chunk
        return True

    def read_byte(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.buf:
            if not self._fill(deadline):
                raise C1218Timeout("no byte within %.1f s" % timeout)
        b = self.buf[0]
        del self.buf[0]
        return b

    def collect(self, duration):
        """Every byte that arrives within duration seconds."""
        deadline = time.monotonic() + duration
        while self._fill(deadline):
            pass
        out = bytes(self.buf)
        self.buf.clear()
        return out

    def drain(self, quiet=0.1):
        self.collect(quiet)

    # ---- packet layer ------------------------------------------------
    def wait_ack(self, timeout=None):
        """0x06 or 0x15 for our packet; other bytes are skipped (counted)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.ack_timeout)
        while True:
            t = deadline - time.monotonic()
            if t <= 0:
                raise C1218Timeout("no ACK/NAK within %.1f s" % (timeout or self.ack_timeout))
            b = self.read_byte(t)
            if b in (ACK, NAK):
                return b
            self.skipped += 1

    def send_packet(self, pkt, expect_ack=True):
        """Send one packet; on NAK/timeout retransmit (docs/optical.md 2.5)."""
        for attempt in range(self.retries + 1):
            self.write(pkt)
            self.sent_packets.append(bytes(pkt))
            if not expect_ack:
                return
            try:
                if self.wait_ack() == ACK:
                    return
                self.naks += 1
            except C1218Timeout:
                if attempt == self.retries:
                    raise
        raise C1218Error("packet NAKed %d times" % (self.retries + 1))

    def read_packet(self, timeout=None):
        """Hunt for 0xEE and read one packet: (ctrl, seq, data, raw).
        Raises C1218Error on a bad CRC (after sending NAK)."""
        deadline = time.monotonic() + (timeout if timeout is not None else self.reply_timeout)

        def get():
            t = deadline - time.monotonic()
            if t <= 0:
                raise C1218Timeout("no reply packet in time")
            return self.read_byte(t)

        while True:
            b = get()
            if b == STP:
                break
            self.skipped += 1
        head = bytes([STP] + [get() for _ in range(5)])
        n = head[4] << 8 | head[5]
        body = bytes(get() for _ in range(n + 2))
        raw = head + body
        if crc(raw[:-2]) != (raw[-2] | raw[-1] << 8):
            if self.send_acks:
                self.write(bytes([NAK]))
            raise C1218Error("bad CRC in reply %s" % raw.hex())
        if self.send_acks:
            self.write(bytes([ACK]))
        return head[2], head[3], body[:-2], raw

    def request(self, data, timeout=None):
        """Send a PSEM request, return the whole reply message (multi-packet
        replies reassembled)."""
        pkt = packet(data, self.toggle)
        self.toggle ^= 1
        self.send_packet(pkt)
        msg = bytearray()
        self.last_reply_packets = []
        while True:
            ctrl, seq, data_, raw = self.read_packet(timeout)
            self.last_reply_packets.append(raw)
            self.last_reply_toggle = 1 if ctrl & CTRL_TOGGLE else 0
            msg += data_
            if not (ctrl & CTRL_MULTI) or seq == 0:
                return bytes(msg)

    def service(self, data, timeout=None):
        r = self.request(data, timeout)
        if not r:
            raise C1218Error("empty reply")
        return r[0], r[1:]

    # ---- PSEM services (docs/optical.md 3) --------------------------------
    def identify(self):
        return self.service(b"\x20")

    def terminate(self):
        return self.service(b"\x21")

    def negotiate(self, packet_size=None, nbr_packets=None, bauds=()):
        body = b""
        if packet_size is not None:
            body = bytes([packet_size >> 8, packet_size & 0xFF, nbr_packets or 1])
        return self.service(bytes([0x60 + len(bauds)]) + body + bytes(bauds))

    def logon(self, user_id=2, user="TEST"):
        u = user.encode()[:10].ljust(10, b" ")
        return self.service(bytes([0x50, user_id >> 8, user_id & 0xFF]) + u)

    def security(self, password):
        pw = bytes(password)[:20].ljust(20, b"\x00")
        return self.service(b"\x51" + pw)

    def logoff(self):
        return self.service(b"\x52")

    def wait(self, seconds):
        return self.service(bytes([0x70, seconds]))

    def read(self, table, offset=None, count=None):
        """Full read (0x30) or partial read by offset (0x3F). Returns
        (code, data); for ok the count and cksum are checked."""
        if offset is None:
            req = bytes([0x30, table >> 8, table & 0xFF])
        else:
            req = bytes([0x3F, table >> 8, table & 0xFF, offset >> 16 & 0xFF, offset >> 8 & 0xFF,
                         offset & 0xFF, count >> 8, count & 0xFF])
        code, rest = self.service(req)
        if code != OK:
            return code, rest
        n = rest[0] << 8 | rest[1]
        data = rest[2:2 + n]
        if len(data) != n or len(rest) != n + 3:
            raise C1218Error("read reply length %d does not match count %d" % (len(rest), n))
        if cksum(data) != rest[2 + n]:
            raise C1218Error("read reply cksum mismatch")
        return code, data

    def write_table(self, table, data, offset=None, bad_cksum=False):
        data = bytes(data)
        ck = cksum(data) ^ (0xFF if bad_cksum else 0)
        if offset is None:
            req = bytes([0x40, table >> 8, table & 0xFF, len(data) >> 8, len(data) & 0xFF]) + data + bytes([ck])
        else:
            req = (bytes([0x4F, table >> 8, table & 0xFF, offset >> 16 & 0xFF, offset >> 8 & 0xFF, offset & 0xFF,
                          len(data) >> 8, len(data) & 0xFF]) + data + bytes([ck]))
        return self.service(req)

    def session(self, password=None, user_id=2):
        """Identify + Logon (+ Security). Returns the Identify payload."""
        code, ident = self.identify()
        if code != OK:
            raise C1218Error("identify -> %s" % RSP.get(code, code))
        code, _ = self.logon(user_id)
        if code != OK:
            raise C1218Error("logon -> %s" % RSP.get(code, code))
        if password is not None:
            code, _ = self.security(password)
            if code != OK:
                raise C1218Error("security -> %s" % RSP.get(code, code))
        return ident


def le32(b, off=0):
    return int.from_bytes(bytes(b[off:off + 4]), "little", signed=True)
