"""mepframe: build and check MEP frames from named fields (a scripted module end).

An independent Python implementation (it shares no code with the C side) of
  * the MEP digest in the closed form of mep.md 5.2 (MEP guide Appendix A),
  * RC4 and the per-packet key of mep.md 5.4 (Appendix B),
  * RC4-mode request framing (mep.md 3.2, 3.3) and response checking (5.3),
so a test reads like the guide's example tables:

    req = read("BT23", offset=0, count=44, seq=0x77635B91, key=MAK)
    rsp = parse_response(req, wire_bytes)   # verifies the reply digest
    assert rsp.code == OK and len(rsp.data) == 44
"""

import struct

MAK_EXAMPLE = bytes([0x01] * 16)  # the guide's example MAK (mep.md 5.1)
MBK_DEFAULT = bytes([0x02] * 16)  # nes-3ph profile's MBK

OK, ERR, SNS, ISC, ONP, IAR, ISSS, AUTH, SEQ = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x0A, 0x0B, 0x0C

CONST_KEY = bytes.fromhex("388B8FBC36A8558587AFC90FB23A3B99")  # mep.md 5.4


# ---- digest (mep.md 5.2, closed form) -----------------------------------

def digest(key16, msg):
    """8-byte MEP digest of msg with the first 16 bytes of key16."""
    key = bytes(key16[:16])
    d = [0] * 8
    n = len(msg)
    total = 192 if n == 0 else ((n + 191) // 192) * 192
    for p in range(total):
        m = msg[p] if p < n else 0
        t = p % 192
        kb = key[(t >> 3) % 16]
        bit = (kb >> (t & 7)) & 1
        v = 7 - (t & 7)
        nn = (~((d[v] + v) & 0xFF)) & 0xFF
        if bit:
            mix = ((nn << 1) | (nn >> 7)) & 0xFF
        else:
            mix = (-(((nn >> 1) | (nn << 7)) & 0xFF)) & 0xFF
        d[v] = (d[(v + 1) & 7] + m + mix) & 0xFF
    return bytes(d)


# ---- RC4 (mep.md 5.4) ------------------------------------------------------

class RC4:
    def __init__(self, key):
        s = list(range(256))
        j = 0
        for i in range(256):
            j = (j + s[i] + key[i % len(key)]) & 0xFF
            s[i], s[j] = s[j], s[i]
        self.s, self.i, self.j = s, 0, 0

    def crypt(self, data):
        out = bytearray()
        s = self.s
        for b in data:
            self.i = (self.i + 1) & 0xFF
            self.j = (self.j + s[self.i]) & 0xFF
            s[self.i], s[self.j] = s[self.j], s[self.i]
            out.append(b ^ s[(s[self.i] + s[self.j]) & 0xFF])
        return bytes(out)


def encrypt_key(key16):
    return RC4(bytes(key16[:16])).crypt(CONST_KEY)


def packet_cipher(key16, req_digest):
    ek = bytearray(encrypt_key(key16))
    for i in range(8):
        ek[i] ^= req_digest[i]
    return RC4(bytes(ek))


# ---- names ---------------------------------------------------------------

def table_id(table):
    """"BT23" -> 23, "ET13" -> 0x080D, 28 -> 28 (mep.md 0)."""
    if isinstance(table, int):
        return table
    t = table.upper()
    if t.startswith("BT"):
        return int(t[2:])
    if t.startswith("ET") or t.startswith("EP"):
        return 0x0800 + int(t[2:])
    if t.startswith("BP"):
        return int(t[2:])
    raise ValueError("bad table name %r" % table)


# ---- requests --------------------------------------------------------------

class Request:
    """One RC4-mode request: the frame on the wire plus what checking the reply needs."""

    def __init__(self, message, seq, key, encrypt=False):
        self.message = bytes(message)              # C12.18 request: code + fields + data
        self.seq = seq & 0xFFFFFFFF
        self.key = bytes(key[:16])
        self.plain = self.message + struct.pack(">I", self.seq)   # code..seq
        self.digest = digest(self.key, self.plain)
        self.encrypted = encrypt
        self.cipher = None
        body = self.plain
        if encrypt:
            self.cipher = packet_cipher(self.key, self.digest)
            body = self.cipher.crypt(self.plain)
        self.frame = struct.pack(">H", len(body) + 8) + body + self.digest

    def __bytes__(self):
        return self.frame

    def hex(self):
        return self.frame.hex(" ").upper()


def read(table, offset=None, count=None, seq=0, key=MAK_EXAMPLE, encrypt=False):
    """Full read (0x30, count optional) or partial read (0x3F) of a table."""
    tid = table_id(table)
    if offset is None:
        msg = bytes([0x30]) + struct.pack(">H", tid)
        if count is not None:
            msg += struct.pack(">H", count)
    else:
        if count is None:
            raise ValueError("a partial read needs a count")
        msg = bytes([0x3F]) + struct.pack(">H", tid) + offset.to_bytes(3, "big") + struct.pack(">H", count)
    return Request(msg, seq, key, encrypt)


def write(table, data, offset=None, seq=0, key=MAK_EXAMPLE, encrypt=False, count=None):
    """Full write (0x40) or partial write (0x4F); count defaults to len(data)."""
    tid = table_id(table)
    data = bytes(data)
    cnt = len(data) if count is None else count
    if offset is None:
        msg = bytes([0x40]) + struct.pack(">HH", tid, cnt) + data
    else:
        msg = bytes([0x4F]) + struct.pack(">H", tid) + offset.to_bytes(3, "big") + struct.pack(">H", cnt) + data
    return Request(msg, seq, key, encrypt)


def procedure(proc, psn, params=b"", seq=0, key=MAK_EXAMPLE, encrypt=False):
    """Call a procedure: full write of BT07 = proc number (LSB first), PSN, params (mep.md 8.1)."""
    pid = table_id(proc) & 0x0FFF
    return write("BT07", struct.pack("<H", pid) + bytes([psn]) + bytes(params), seq=seq, key=key,
                 encrypt=encrypt)


def raw_request(message, seq=0, key=MAK_EXAMPLE, encrypt=False):
    return Request(message, seq, key, encrypt)


# ---- responses ---------------------------------------------------------------

class Response:
    def __init__(self, frame, code, body, digest_ok, seq=None, data=b"", count=None):
        self.frame = frame        # whole frame as received
        self.code = code          # response code (plaintext)
        self.body = body          # plaintext code..last data byte
        self.digest_ok = digest_ok
        self.seq = seq            # 0x0C: the next acceptable number E
        self.count = count        # reads: the count field
        self.data = data          # reads: table bytes

    def __repr__(self):
        return "Response(code=0x%02X, digest_ok=%s, seq=%s, count=%s, data=%s)" % (
            self.code, self.digest_ok, None if self.seq is None else "0x%08X" % self.seq,
            self.count, self.data.hex())


class FrameError(Exception):
    pass


def parse_response(req, frame):
    """Check a reply to req: length, digest (mep.md 5.3), decryption (5.4).

    0x0B replies carry no valid digest (mep.md 3.4 framing policy): they come
    back with digest_ok=False and are recognised by their code alone."""
    frame = bytes(frame)
    if len(frame) < 3:
        raise FrameError("frame too short: %s" % frame.hex())
    (length,) = struct.unpack(">H", frame[:2])
    if length != len(frame) - 2:
        raise FrameError("length field %d but %d bytes follow" % (length, len(frame) - 2))
    payload = frame[2:]
    if length == 1:
        return Response(frame, payload[0], payload, False)
    if length < 9:
        raise FrameError("body of %d bytes cannot hold a code and a digest" % length)
    wire, dig = payload[:-8], payload[-8:]
    body = wire
    if req.encrypted and req.cipher is not None:
        # continue the request's RC4 state (mep.md 5.4); 0x0B is never encrypted
        import copy
        c = copy.deepcopy(req.cipher)
        body = c.crypt(wire)
        if digest(req.key, req.plain + body) != dig and wire[0] == AUTH:
            body = wire
    ok = digest(req.key, req.plain + body) == dig
    code = body[0]
    rsp = Response(frame, code, body, ok)
    if code == SEQ and len(body) >= 5:
        (rsp.seq,) = struct.unpack(">I", body[1:5])
    elif code == OK and req.message[0] in (0x30, 0x3F) and len(body) >= 3:
        (rsp.count,) = struct.unpack(">H", body[1:3])
        rsp.data = body[3:]
    return rsp


def le32(data, offset):
    return struct.unpack_from("<i", data, offset)[0]
