-- mep.lua: Wireshark dissector for mepsim / mepsniff captures (pcapng,
-- LINKTYPE_USER0 with the 4-byte header of capture/README.md) carrying
-- OSGP MEP frames (docs/mep.md 3) and ANSI C12.18 optical packets
-- (docs/optical.md 2, 3).  Install: hil/wireshark/README.md.
--
-- Protocols and the fields a filter or `tshark -T fields -e` can name:
--   mepsim  mepsim.direction mepsim.port mepsim.frame mepsim.flags
--           (.fault .incomplete .bad_length)
--   mep     mep.length mep.alert mep.request mep.table mep.offset mep.count
--           mep.seq mep.digest mep.code mep.data mep.next_seq mep.encrypted
--           mep.body mep.tls_code mep.tls_data mep.proc mep.request_in
--   c1218   c1218.identity c1218.ctrl (.multi .first .toggle .format)
--           c1218.seq c1218.length c1218.crc c1218.crc_ok c1218.service
--           c1218.code c1218.table c1218.offset c1218.count c1218.ack
--
-- Without the keys nothing is decrypted or verified: an RC4 request whose
-- body does not parse as a plaintext C12.18 request of the length its code
-- implies (docs/mep.md 3.6) is marked encrypted, and so is its reply.
-- TLS-mode bodies (codes 0x57/0x58/0x59/0x80, docs/mep.md 3.5) go to
-- Wireshark's TLS dissector.

local p_mepsim = Proto("mepsim", "mepsim serial capture")
local p_mep = Proto("mep", "OSGP Meter Expansion Protocol")
local p_c1218 = Proto("c1218", "ANSI C12.18 optical port")

-- ---- names ---------------------------------------------------------------
local DIRS = { [1] = "to meter", [2] = "from meter" }
local PORTS = { [1] = "MEP", [2] = "optical (C12.18)" }
local FRAMES = { [1] = "MEP frame", [2] = "C12.18 packet", [3] = "C12.18 ACK/NAK", [4] = "raw bytes" }

-- docs/mep.md 0: BTn = n, ETn = 2048 + n
local TABLES = {}
for i = 0, 2047 do
    TABLES[i] = string.format("BT%02d", i)
    TABLES[2048 + i] = string.format("ET%02d", i)
end

-- procedures: BPn = n, EPn = 2048 + n (docs/mep.md 8.1)
local PROCS = {}
for i = 0, 2047 do
    PROCS[i] = string.format("BP%02d", i)
    PROCS[2048 + i] = string.format("EP%02d", i)
end

local MEP_REQ = { [0x30] = "full read", [0x3F] = "partial read", [0x40] = "full write",
    [0x4F] = "partial write", [0x57] = "TLS_TERMINATE", [0x58] = "TLS_HANDSHAKE",
    [0x59] = "TLS_HANDSHAKE_CONT", [0x80] = "TLS_TABLE" }
-- docs/mep.md 3.4
local MEP_RSP = { [0x00] = "OK", [0x01] = "ERR", [0x02] = "SNS", [0x03] = "ISC", [0x04] = "ONP",
    [0x05] = "IAR", [0x0A] = "ISSS", [0x0B] = "AUTH", [0x0C] = "SEQ" }
local TLS_CODES = { [0x57] = true, [0x58] = true, [0x59] = true, [0x80] = true }

-- docs/optical.md 3.1, 3.2
local PSEM_REQ = { [0x20] = "identify", [0x21] = "terminate", [0x30] = "full-read",
    [0x3E] = "default-read", [0x3F] = "partial-read", [0x40] = "full-write",
    [0x4F] = "partial-write", [0x50] = "logon", [0x51] = "security", [0x52] = "logoff",
    [0x53] = "authenticate", [0x70] = "wait", [0x71] = "timing-setup" }
for c = 0x31, 0x39 do PSEM_REQ[c] = "index-read" end
for c = 0x41, 0x49 do PSEM_REQ[c] = "index-write" end
for c = 0x60, 0x6B do PSEM_REQ[c] = "negotiate" end
local PSEM_RSP = { [0x00] = "ok", [0x01] = "err", [0x02] = "sns", [0x03] = "isc", [0x04] = "onp",
    [0x05] = "iar", [0x06] = "bsy", [0x07] = "dnr", [0x08] = "dlk", [0x09] = "rno", [0x0A] = "isss" }

-- ---- fields ----------------------------------------------------------------
local F = {
    direction = ProtoField.uint8("mepsim.direction", "Direction", base.DEC, DIRS),
    port = ProtoField.uint8("mepsim.port", "Port", base.DEC, PORTS),
    frame = ProtoField.uint8("mepsim.frame", "Frame type", base.DEC, FRAMES),
    flags = ProtoField.uint8("mepsim.flags", "Flags", base.HEX),
    fault = ProtoField.bool("mepsim.flags.fault", "Fault injected", 8, nil, 0x01),
    incomplete = ProtoField.bool("mepsim.flags.incomplete", "Incomplete (gap or end of capture)", 8, nil, 0x02),
    bad_length = ProtoField.bool("mepsim.flags.bad_length", "Length beyond the limit (discarded)", 8, nil, 0x04),
    raw = ProtoField.bytes("mepsim.raw", "Raw bytes"),
}
p_mepsim.fields = { F.direction, F.port, F.frame, F.flags, F.fault, F.incomplete, F.bad_length, F.raw }

local M = {
    length = ProtoField.uint16("mep.length", "Length", base.DEC),
    alert = ProtoField.none("mep.alert", "Alert sequence 00 00"),
    request = ProtoField.uint8("mep.request", "Request code", base.HEX, MEP_REQ),
    table = ProtoField.uint16("mep.table", "Table", base.DEC, TABLES),
    offset = ProtoField.uint24("mep.offset", "Offset", base.DEC),
    count = ProtoField.uint16("mep.count", "Count", base.DEC),
    seq = ProtoField.uint32("mep.seq", "Sequence number", base.HEX),
    digest = ProtoField.bytes("mep.digest", "Digest"),
    code = ProtoField.uint8("mep.code", "Response code", base.HEX, MEP_RSP),
    data = ProtoField.bytes("mep.data", "Data"),
    next_seq = ProtoField.uint32("mep.next_seq", "Next acceptable sequence number", base.HEX),
    encrypted = ProtoField.bool("mep.encrypted", "Encrypted (RC4, not decrypted)"),
    body = ProtoField.bytes("mep.body", "Encrypted body"),
    tls_code = ProtoField.uint8("mep.tls_code", "TLS-mode code", base.HEX, MEP_REQ),
    tls_data = ProtoField.bytes("mep.tls_data", "TLS data"),
    proc = ProtoField.uint16("mep.proc", "Procedure", base.DEC, PROCS),
    request_in = ProtoField.framenum("mep.request_in", "Request in frame", base.NONE, frametype.REQUEST),
}
p_mep.fields = { M.length, M.alert, M.request, M.table, M.offset, M.count, M.seq, M.digest, M.code,
    M.data, M.next_seq, M.encrypted, M.body, M.tls_code, M.tls_data, M.proc, M.request_in }

local C = {
    stp = ProtoField.uint8("c1218.stp", "Start of packet", base.HEX),
    identity = ProtoField.uint8("c1218.identity", "Identity", base.HEX),
    ctrl = ProtoField.uint8("c1218.ctrl", "Control", base.HEX),
    multi = ProtoField.bool("c1218.ctrl.multi", "Multi-packet", 8, nil, 0x80),
    first = ProtoField.bool("c1218.ctrl.first", "First of set", 8, nil, 0x40),
    toggle = ProtoField.bool("c1218.ctrl.toggle", "Toggle", 8, nil, 0x20),
    format = ProtoField.uint8("c1218.ctrl.format", "Data format", base.DEC, nil, 0x03),
    seq = ProtoField.uint8("c1218.seq", "Packets to follow", base.DEC),
    length = ProtoField.uint16("c1218.length", "Length", base.DEC),
    data = ProtoField.bytes("c1218.data", "Data"),
    crc = ProtoField.uint16("c1218.crc", "CRC", base.HEX),
    crc_ok = ProtoField.bool("c1218.crc_ok", "CRC good"),
    service = ProtoField.uint8("c1218.service", "PSEM service", base.HEX, PSEM_REQ),
    code = ProtoField.uint8("c1218.code", "PSEM response code", base.HEX, PSEM_RSP),
    table = ProtoField.uint16("c1218.table", "Table", base.DEC, TABLES),
    offset = ProtoField.uint24("c1218.offset", "Offset", base.DEC),
    count = ProtoField.uint16("c1218.count", "Count", base.DEC),
    ack = ProtoField.uint8("c1218.ack", "Link acknowledgement", base.HEX, { [0x06] = "ACK", [0x15] = "NAK" }),
}
p_c1218.fields = { C.stp, C.identity, C.ctrl, C.multi, C.first, C.toggle, C.format, C.seq, C.length,
    C.data, C.crc, C.crc_ok, C.service, C.code, C.table, C.offset, C.count, C.ack }

local E = {
    fault = ProtoExpert.new("mepsim.fault", "Fault injected", expert.group.COMMENTS_GROUP, expert.severity.NOTE),
    incomplete = ProtoExpert.new("mepsim.incomplete", "Incomplete frame", expert.group.MALFORMED, expert.severity.WARN),
    encrypted = ProtoExpert.new("mep.encrypted.expert", "RC4-encrypted body (no key)", expert.group.DECRYPTION,
        expert.severity.NOTE),
    tls = ProtoExpert.new("mep.tls.malformed", "TLS data not dissected", expert.group.MALFORMED, expert.severity.WARN),
    crc = ProtoExpert.new("c1218.crc.bad", "Bad CRC (the receiver NAKs it)", expert.group.CHECKSUM, expert.severity.ERROR),
}
p_mepsim.experts = { E.fault, E.incomplete }
p_mep.experts = { E.encrypted, E.tls }
p_c1218.experts = { E.crc }

local f_ifid = Field.new("frame.interface_id")
local f_comment = Field.new("frame.comment")
local tls = Dissector.get("tls")

-- ---- bit operations (Lua 5.2 bit32, or Wireshark's BitOp "bit") -------------
local B = bit32 or bit

-- The bit fields of one byte under its item.
local function add_bits(item, range, fields)
    for _, f in ipairs(fields) do item:add(f, range) end
end

-- CRC-16/X-25, docs/optical.md 2.2
local function crc_x25(tvb, from, n)
    local c = 0xFFFF
    for i = from, from + n - 1 do
        c = B.bxor(c, tvb(i, 1):uint())
        for _ = 1, 8 do
            if B.band(c, 1) == 1 then c = B.bxor(B.rshift(c, 1), 0x8408) else c = B.rshift(c, 1) end
        end
    end
    return B.bxor(c, 0xFFFF)
end

-- ---- request/reply pairing --------------------------------------------------
-- The first pass goes through the packets in order: the last request of each
-- interface is what the next reply answers; remembered per reply frame.
local last_req = {}
local reply_ctx = {}

function p_mepsim.init()
    last_req = {}
    reply_ctx = {}
end

local function ifid()
    local f = f_ifid()
    return f and f.value or 0
end

-- A request: what its reply needs to know (first pass only).
local function remember_request(pinfo, state)
    if not pinfo.visited then last_req[ifid()] = state end
end

-- A reply: the request it answers (remembered on the first pass).
local function request_of(pinfo)
    if not pinfo.visited then
        reply_ctx[pinfo.number] = last_req[ifid()] or {}
        last_req[ifid()] = nil
    end
    return reply_ctx[pinfo.number] or {}
end

-- ---- MEP (docs/mep.md 3) -----------------------------------------------------

-- A plaintext request: its code and the body length it implies (3.6).
local function plain_request(tvb, off, body)
    local code = tvb(off, 1):uint()
    if code == 0x30 then return body == 15 or body == 17 end
    if code == 0x3F then return body == 20 end
    if code == 0x40 and body >= 17 then return body == 17 + tvb(off + 3, 2):uint() end
    if code == 0x4F and body >= 20 then return body == 20 + tvb(off + 6, 2):uint() end
    return false
end

-- The TLS data after the code byte, to Wireshark's TLS dissector; a record
-- it cannot parse is an expert note here, not a dissector error.
local function tls_records(tvb, pinfo, t, body)
    if body <= 1 then return end
    t:add(M.tls_data, tvb(3, body - 1))
    if not tls then return end
    local ok, err = pcall(Dissector.call, tls, tvb(3, body - 1):tvb(), pinfo, t)
    if not ok then t:add_proto_expert_info(E.tls, "TLS data not dissected: " .. tostring(err)) end
end

-- An RC4-encrypted body (docs/mep.md 5.4): the digest stays clear.
local function encrypted_body(tvb, pinfo, t, body, what)
    t:add(M.encrypted, tvb(2, body), true)
    t:add_proto_expert_info(E.encrypted)
    if body > 8 then
        t:add(M.body, tvb(2, body - 8))
        t:add(M.digest, tvb(2 + body - 8, 8))
    end
    pinfo.cols.info:set(string.format("%s len=%d (encrypted)", what, body))
end

local function mep_request(tvb, pinfo, t, body, state)
    local code = tvb(2, 1):uint()
    if TLS_CODES[code] then
        t:add(M.tls_code, tvb(2, 1))
        state.tls = true
        pinfo.cols.info:set(string.format("TLS %s len=%d", MEP_REQ[code], body))
        tls_records(tvb, pinfo, t, body)
        return
    end
    if body < 13 or not plain_request(tvb, 2, body) then
        state.encrypted = true
        encrypted_body(tvb, pinfo, t, body, "RC4 request")
        return
    end
    t:add(M.request, tvb(2, 1))
    local tid = tvb(3, 2):uint()
    t:add(M.table, tvb(3, 2))
    local o = 5
    local what = (code == 0x30 or code == 0x3F) and "READ" or "WRITE"
    local text = TABLES[tid] or tostring(tid)
    if code == 0x3F or code == 0x4F then
        t:add(M.offset, tvb(o, 3))
        text = text .. string.format(" off=%d", tvb(o, 3):uint())
        o = o + 3
    end
    local data_end = 2 + body - 12
    if o + 2 <= data_end then
        t:add(M.count, tvb(o, 2))
        if code ~= 0x30 then text = text .. string.format(" n=%d", tvb(o, 2):uint()) end
        o = o + 2
    end
    if code == 0x30 then text = text .. " full" end
    if o < data_end then
        t:add(M.data, tvb(o, data_end - o))
        if tid == 7 and data_end - o >= 3 then -- BT07: procedure call (docs/mep.md 8.1)
            local proc = B.band(tvb(o, 2):le_uint(), 0x0FFF)
            t:add_le(M.proc, tvb(o, 2), proc)
            what = "CALL"
            text = string.format("%s psn=%d params=%d", PROCS[proc], tvb(o + 2, 1):uint(), data_end - o - 3)
        end
    end
    t:add(M.seq, tvb(data_end, 4))
    t:add(M.digest, tvb(data_end + 4, 8))
    state.read = what == "READ"
    pinfo.cols.info:set(string.format("%s %s seq=0x%08X", what, text, tvb(data_end, 4):uint()))
end

local function mep_reply(tvb, pinfo, t, body, req)
    if req.frame then t:add(M.request_in, req.frame) end
    if req.tls then
        t:add(M.code, tvb(2, 1))
        pinfo.cols.info:set("TLS reply " .. (tvb(2, 1):uint() == 0 and "OK" or "error"))
        tls_records(tvb, pinfo, t, body)
        return
    end
    local code = tvb(2, 1):uint()
    if req.encrypted and not (code == 0x0B and (body == 1 or body == 9)) then
        encrypted_body(tvb, pinfo, t, body, "reply")
        return
    end
    t:add(M.code, tvb(2, 1))
    local info = MEP_RSP[code] or string.format("0x%02X", code)
    if code == 0x00 and req.read and body >= 11 then
        t:add(M.count, tvb(3, 2))
        t:add(M.data, tvb(5, body - 11))
        info = string.format("OK %d bytes", tvb(3, 2):uint())
    elseif code == 0x0C and body >= 5 then
        t:add(M.next_seq, tvb(3, 4))
        info = string.format("SEQ next=0x%08X", tvb(3, 4):uint())
    elseif body > 9 then
        t:add(M.data, tvb(3, body - 9))
    end
    if body >= 9 then t:add(M.digest, tvb(2 + body - 8, 8)) end
    pinfo.cols.info:set("-> " .. info)
end

local function dissect_mep(tvb, pinfo, tree, to_meter)
    pinfo.cols.protocol:set("MEP")
    local t = tree:add(p_mep, tvb())
    if tvb:len() < 2 then return end
    t:add(M.length, tvb(0, 2))
    local body = math.min(tvb(0, 2):uint(), tvb:len() - 2)
    if body == 0 then
        t:add(M.alert, tvb(0, 2))
        pinfo.cols.info:set(to_meter and "00 00 from the client (ignored)" or "alert 00 00")
        return
    end
    if to_meter then
        local state = { frame = pinfo.number }
        mep_request(tvb, pinfo, t, body, state)
        remember_request(pinfo, state)
    else
        mep_reply(tvb, pinfo, t, body, request_of(pinfo))
    end
end

-- ---- C12.18 (docs/optical.md 2, 3) -----------------------------------------------

local function psem_request(d, pinfo, t, n)
    local c = d(0, 1):uint()
    t:add(C.service, d(0, 1))
    local info = PSEM_REQ[c] or string.format("0x%02X", c)
    if (c == 0x30 or c == 0x3F or c == 0x40 or c == 0x4F) and n >= 3 then
        local tid = d(1, 2):uint()
        t:add(C.table, d(1, 2))
        info = info .. " " .. (TABLES[tid] or tostring(tid))
        if (c == 0x3F or c == 0x4F) and n >= 8 then
            t:add(C.offset, d(3, 3))
            t:add(C.count, d(6, 2))
            info = info .. string.format(" off=%d n=%d", d(3, 3):uint(), d(6, 2):uint())
        end
    end
    pinfo.cols.info:set(info)
    return c == 0x30 or c == 0x3F
end

local function dissect_c1218(tvb, pinfo, tree, to_meter)
    pinfo.cols.protocol:set("C12.18")
    local t = tree:add(p_c1218, tvb())
    local n = tvb:len()
    if n < 8 then
        pinfo.cols.info:set("short C12.18 packet")
        return
    end
    t:add(C.stp, tvb(0, 1))
    t:add(C.identity, tvb(1, 1))
    add_bits(t:add(C.ctrl, tvb(2, 1)), tvb(2, 1), { C.multi, C.first, C.toggle, C.format })
    t:add(C.seq, tvb(3, 1))
    t:add(C.length, tvb(4, 2))
    local len = math.min(tvb(4, 2):uint(), n - 8)
    local want = crc_x25(tvb, 0, 6 + len)
    local got = tvb(6 + len, 2):le_uint()
    t:add_le(C.crc, tvb(6 + len, 2))
    local ok = t:add(C.crc_ok, tvb(6 + len, 2), want == got)
    if want ~= got then
        ok:add_proto_expert_info(E.crc, string.format("Bad CRC: 0x%04X, expected 0x%04X", got, want))
    end
    if len == 0 then return end
    local d = tvb(6, len):tvb()
    t:add(C.data, tvb(6, len))
    local ctrl = tvb(2, 1):uint()
    if B.band(ctrl, 0x80) ~= 0 and B.band(ctrl, 0x40) == 0 then
        pinfo.cols.info:set(string.format("continuation packet, %d to follow", tvb(3, 1):uint()))
        return
    end
    if to_meter then
        remember_request(pinfo, { read = psem_request(d, pinfo, t, len) })
    else
        local req = request_of(pinfo)
        local c = d(0, 1):uint()
        t:add(C.code, d(0, 1))
        local info = "-> " .. (PSEM_RSP[c] or string.format("0x%02X", c))
        if c == 0 and req.read and len >= 3 then
            t:add(C.count, d(1, 2))
            info = info .. string.format(" %d bytes", d(1, 2):uint())
        end
        if want ~= got then info = info .. " [bad CRC]" end
        pinfo.cols.info:set(info)
    end
end

-- ---- the mepsim encapsulation header (capture/README.md) ---------------------------

function p_mepsim.dissector(tvb, pinfo, tree)
    if tvb:len() < 4 then return 0 end
    local dir, port, kind, flags = tvb(0, 1):uint(), tvb(1, 1):uint(), tvb(2, 1):uint(), tvb(3, 1):uint()
    local h = tree:add(p_mepsim, tvb(0, 4))
    h:add(F.direction, tvb(0, 1))
    h:add(F.port, tvb(1, 1))
    h:add(F.frame, tvb(2, 1))
    add_bits(h:add(F.flags, tvb(3, 1)), tvb(3, 1), { F.fault, F.incomplete, F.bad_length })
    local to_meter = dir == 1
    pinfo.cols.src:set(to_meter and "module" or "meter")
    pinfo.cols.dst:set(to_meter and "meter" or "module")
    local payload = tvb(4):tvb()
    if B.band(flags, 0x01) ~= 0 then
        local c = f_comment()
        h:add_proto_expert_info(E.fault, c and tostring(c.value) or "Fault injected")
    end
    if B.band(flags, 0x06) ~= 0 then
        h:add_proto_expert_info(E.incomplete)
        pinfo.cols.protocol:set(PORTS[port] or "mepsim")
        pinfo.cols.info:set(string.format("%s: %d bytes cut (%s)", FRAMES[kind] or "frame", payload:len(),
            B.band(flags, 0x04) ~= 0 and "length beyond the limit" or "gap or end of capture"))
        tree:add(F.raw, payload())
        return tvb:len()
    end
    if kind == 1 then
        dissect_mep(payload, pinfo, tree, to_meter)
    elseif kind == 2 then
        dissect_c1218(payload, pinfo, tree, to_meter)
    elseif kind == 3 then
        pinfo.cols.protocol:set("C12.18")
        local t = tree:add(p_c1218, payload())
        t:add(C.ack, payload(0, 1))
        pinfo.cols.info:set(payload(0, 1):uint() == 0x15 and "NAK" or "ACK")
    else
        pinfo.cols.protocol:set("raw")
        tree:add(F.raw, payload())
        pinfo.cols.info:set(string.format("%d raw bytes (noise)", payload:len()))
    end
    return tvb:len()
end

-- wtap_encaps since Wireshark 3.x; the older wtap table as a fallback
local USER0 = (wtap_encaps and wtap_encaps.USER0) or wtap.USER0
DissectorTable.get("wtap_encap"):add(USER0, p_mepsim)
