#!/usr/bin/env python3
"""A hostile DHCP server for the lab tests (tests/hostile.rs).

It answers DISCOVER with an OFFER and REQUEST with an ACK (or NAK), built byte
by byte so that it can send what a well-behaved encoder never would: a bad
hlen, a broadcast yiaddr, undecodable options, overloaded fields... The
"case" argument chooses the defect. Everything else in a reply is what a
sane server on the lab (10.77.0.1/24) would send.

Safety: it binds to one interface (SO_BINDTODEVICE), is meant to run inside
a test's server namespace only, and exits by itself after --seconds. It
logs every message it receives and sends (with hex) to --log.

Stdlib only.
"""

import argparse
import socket
import struct
import sys
import time

MAGIC = b"\x63\x82\x53\x63"
DISCOVER, OFFER, REQUEST, DECLINE, ACK, NAK, RELEASE, INFORM = 1, 2, 3, 4, 5, 6, 7, 8
NAMES = {1: "DISCOVER", 2: "OFFER", 3: "REQUEST", 4: "DECLINE", 5: "ACK", 6: "NAK", 7: "RELEASE", 8: "INFORM"}

SERVER = "10.77.0.1"
OFFERED = "10.77.0.60"
MASK = "255.255.255.0"
ROUTER = "10.77.0.1"
DNS = "10.77.0.2"
LEASE = 600
FOREIGN_SERVER = "10.77.0.9"


def ip(s):
    return socket.inet_aton(s)


def u32(v):
    return struct.pack("!I", v)


def opt(code, data):
    """One option, code + length + data; data may be longer than 255 only
    when the caller wants a broken length byte (it is then truncated)."""
    return bytes([code, len(data) & 0xFF]) + data


class Reply:
    """The fields of one reply; cases edit them before it is encoded."""

    def __init__(self, req, kind):
        self.op = 2
        self.htype = 1
        self.hlen = 6
        self.hops = 0
        self.xid = req["xid"]
        self.secs = 0
        self.flags = req["flags"]
        self.ciaddr = req["ciaddr"] if kind == ACK else b"\0\0\0\0"
        self.yiaddr = b"\0\0\0\0" if kind == NAK else ip(OFFERED)
        self.siaddr = b"\0\0\0\0"
        self.giaddr = req["giaddr"]
        self.chaddr = req["chaddr"]
        self.sname = b""
        self.file = b""
        self.kind = kind
        if kind == NAK:
            self.opts = [(53, bytes([NAK])), (54, ip(SERVER)), (56, b"no such lease")]
        else:
            # Message type first (as dnsmasq and kea do), then the rest in
            # ascending order: a server that does so loses 51/54/58/59 to a
            # decoder that stops at the first option it cannot read.
            self.opts = [
                (53, bytes([kind])),
                (1, ip(MASK)),
                (3, ip(ROUTER)),
                (6, ip(DNS)),
                (15, b"lab.test"),
                (51, u32(LEASE)),
                (54, ip(SERVER)),
                (58, u32(LEASE // 2)),
                (59, u32(LEASE * 7 // 8)),
            ]
        # Raw bytes put in the options area before the options (pad runs).
        self.prefix = b""
        # Raw bytes instead of the whole options area (for truncation cases).
        self.raw_options = None
        self.end = True
        self.min_len = 300
        self.delay = 0.0

    def set(self, code, data):
        """Replace option `code` in place (or append it)."""
        for i, (c, _) in enumerate(self.opts):
            if c == code:
                self.opts[i] = (code, data)
                return
        self.opts.append((code, data))

    def drop(self, code):
        self.opts = [(c, d) for (c, d) in self.opts if c != code]

    def insert_before(self, before, code, data):
        for i, (c, _) in enumerate(self.opts):
            if c == before:
                self.opts.insert(i, (code, data))
                return
        self.opts.append((code, data))

    def encode(self):
        sname = self.sname[:64].ljust(64, b"\0")
        file = self.file[:128].ljust(128, b"\0")
        chaddr = self.chaddr[:16].ljust(16, b"\0")
        head = struct.pack(
            "!BBBBIHH4s4s4s4s16s64s128s",
            self.op,
            self.htype,
            self.hlen & 0xFF,
            self.hops,
            self.xid,
            self.secs,
            self.flags,
            self.ciaddr,
            self.yiaddr,
            self.siaddr,
            self.giaddr,
            chaddr,
            sname,
            file,
        )
        if self.raw_options is not None:
            body = self.raw_options
        else:
            body = self.prefix + b"".join(opt(c, d) for (c, d) in self.opts)
            if self.end:
                body += b"\xff"
        pkt = head + MAGIC + body
        if len(pkt) < self.min_len:
            pkt += b"\0" * (self.min_len - len(pkt))
        return pkt


# ---------------------------------------------------------------- the cases
# Each takes (reply, request, arg) and edits the reply; it may return a list
# of replies to send instead (in order, each after its own .delay).


def case_good(r, req, arg):
    pass


def case_hlen(r, req, arg):
    r.hlen = int(arg)


def case_yiaddr(r, req, arg):
    if r.kind != NAK:
        r.yiaddr = ip(arg)


def case_yiaddr_is_gateway(r, req, arg):
    # A gateway that is not the server, then offered as our own address.
    r.set(3, ip("10.77.0.254"))
    if r.kind != NAK:
        r.yiaddr = ip("10.77.0.254")


def case_mask(r, req, arg):
    r.set(1, ip(arg))


def case_router(r, req, arg):
    r.set(3, ip(arg))


def case_server_id(r, req, arg):
    r.set(54, ip(arg))


def case_mtu(r, req, arg):
    r.insert_before(51, 26, struct.pack("!H", int(arg)))


def case_bad_option_before_lease_time(r, req, arg):
    """A non-UTF-8 hostname (12), domain (15) or message (56), or a
    truncated option 121, before 51/54/58/59."""
    if arg == "12":
        r.insert_before(15, 12, b"host\xff\xfe\xc3")
    elif arg == "15":
        r.set(15, b"lab\xff\xfe.test")
    elif arg == "56":
        r.insert_before(51, 56, b"caf\xe9 \xff\xfe")
    elif arg == "121":
        # Prefix 24 announces 3 destination octets and a 4-octet gateway: 8
        # bytes; only 3 are there.
        r.insert_before(51, 121, bytes([24, 10, 77]))
    else:
        raise SystemExit(f"bad-option: unknown option {arg}")


def case_lease_missing(r, req, arg):
    r.drop(51)


def case_lease_len3(r, req, arg):
    r.set(51, b"\x00\x02\x58")


def case_lease_dup(r, req, arg):
    # Two different lease times; joined by RFC 3396 they make 8 bytes.
    r.insert_before(54, 51, u32(60))


def case_overload_file(r, req, arg):
    """Option 52 = 1: 51, 1, 3, 6 are in the `file` field, not in options."""
    if r.kind == NAK:
        return
    r.opts = [(53, bytes([r.kind])), (52, b"\x01"), (54, ip(SERVER))]
    r.file = (
        opt(51, u32(LEASE)) + opt(1, ip(MASK)) + opt(3, ip(ROUTER)) + opt(6, ip(DNS)) + b"\xff"
    )


def case_overload_garbage(r, req, arg):
    """Option 52 = 3 with sname and file full of option lengths that run
    past their field."""
    if r.kind == NAK:
        return
    r.set(52, b"\x03")
    r.sname = bytes([3, 200]) + b"\x0a" * 62
    r.file = bytes([121, 255]) + bytes(range(126))


def case_domain(r, req, arg):
    r.set(15, arg.encode("latin-1"))


def case_evil_strings(r, req, arg):
    """Control characters in every string a server sends."""
    evil = b"ev\0il\n.com\x1b[2J"
    r.set(15, evil)
    r.insert_before(15, 12, b"ho\x1b[31mst\nname")
    r.insert_before(51, 56, b"hi\x1b]0;pwned\x07\nthere")
    if r.kind == NAK:
        r.set(56, evil)


def case_truncated_options(r, req, arg):
    """The options area ends in the middle of an option: 6 says 200 bytes,
    8 follow."""
    if r.kind == NAK:
        return
    good = b"".join(opt(c, d) for (c, d) in r.opts)
    r.raw_options = good + bytes([6, 200]) + ip(DNS) + ip(DNS)
    r.min_len = 0


def case_truncated_length(r, req, arg):
    """The packet ends right after an option code: no length byte."""
    if r.kind == NAK:
        return
    good = b"".join(opt(c, d) for (c, d) in r.opts)
    r.raw_options = good + bytes([3])
    r.min_len = 0


def case_many_options(r, req, arg):
    """300 site-specific options (224..254, 1 byte each) before the real ones."""
    junk = [(224 + (i % 31), bytes([i & 0xFF])) for i in range(300)]
    r.opts = r.opts[:1] + junk + r.opts[1:]


def case_pad_1500(r, req, arg):
    """A reply of 1472 bytes (1500 on the wire) that is almost all pad."""
    r.prefix = b"\0" * 1000
    r.min_len = 1472


def case_no_end(r, req, arg):
    """No end option, no padding: the options just stop."""
    r.end = False
    r.min_len = 0


def case_renew_foreign_nak(r, req, arg):
    """A renewal (ciaddr set) gets a NAK from another server id first, then
    the lease's server's ACK 0.3 s later."""
    if r.kind != ACK or req["ciaddr"] == b"\0\0\0\0":
        return None
    nak = Reply(req, NAK)
    nak.set(54, ip(FOREIGN_SERVER))
    nak.set(56, b"rogue says no")
    r.delay = 0.3
    return [nak, r]


def case_renew_ack_other_ip(r, req, arg):
    """A renewal is ACKed with another address (arg, e.g. 1.1.1.1)."""
    if r.kind == ACK and req["ciaddr"] != b"\0\0\0\0":
        r.yiaddr = ip(arg)


def two_letters(i):
    return chr(ord("a") + i // 26) + chr(ord("a") + i % 26)


def long_list_data(code):
    """256 distinct entries of list option `code`."""
    if code in (6, 42):
        return b"".join(ip(f"10.78.{i // 250}.{i % 250 + 1}") for i in range(256))
    if code == 15:
        return b" ".join(two_letters(i).encode() for i in range(256))
    if code == 119:
        return b"".join(b"\x02" + two_letters(i).encode() + b"\x00" for i in range(256))
    if code == 121:
        # 252 default routes (width 0: no destination octets) through the
        # subnet's hosts, and 4 half-Internet routes (width 1): 5 or 6
        # octets each.
        gws = [g for g in range(2, 255) if g != 60][:252]
        routes = [b"\x00" + ip(f"10.77.0.{g}") for g in gws]
        routes += [bytes([1, half]) + ip(f"10.77.0.{g}") for half in (0, 128) for g in (2, 3)]
        return b"".join(routes)
    raise SystemExit(f"long-list: no list option {code}")


def case_long_list(r, req, arg):
    """256 entries of list option `arg` (6, 15, 42, 119 or 121) in RFC 3396
    pieces of at most 255 octets. For 121 (about 1,300 octets) the last
    pieces go in `file` and `sname` (option 52 = 3) and the other list
    options are left out, so that the reply stays within one frame."""
    if r.kind == NAK:
        return
    code = int(arg)
    data = long_list_data(code)
    r.drop(code)
    if code == 121:
        for c in (3, 6, 15, 58, 59):
            r.drop(c)
        data, tail = data[:-188], data[-188:]
        r.file = opt(121, tail[:126])
        r.sname = opt(121, tail[126:])
        r.set(52, b"\x03")
    r.opts.extend((code, data[i : i + 255]) for i in range(0, len(data), 255))


SPRAYED = [0]


def case_spray(r, req, arg):
    """For the daemon test (with --sniff, next to a real server): a renewal
    from any client gets a NAK from another server id, an ACK of 1.1.1.1 with
    an infinite lease in the real server's name, and an ACK with hlen 255,
    in an order that rotates from one renewal to the next. DISCOVERs and
    first REQUESTs are left to the real server."""
    if r.kind != ACK or req["ciaddr"] == b"\0\0\0\0":
        return []
    nak = Reply(req, NAK)
    nak.set(54, ip(FOREIGN_SERVER))
    nak.set(56, b"rogue says no")
    moved = Reply(req, ACK)
    moved.yiaddr = ip("1.1.1.1")
    moved.set(51, u32(0xFFFFFFFF))
    crash = Reply(req, ACK)
    crash.hlen = 255
    crash.yiaddr = req["ciaddr"]
    spray = [nak, moved, crash]
    n = SPRAYED[0] % len(spray)
    SPRAYED[0] += 1
    return spray[n:] + spray[:n]


CASES = {
    "good": case_good,
    "hlen": case_hlen,
    "yiaddr": case_yiaddr,
    "yiaddr-is-gateway": case_yiaddr_is_gateway,
    "mask": case_mask,
    "router": case_router,
    "server-id": case_server_id,
    "mtu": case_mtu,
    "bad-option": case_bad_option_before_lease_time,
    "lease-missing": case_lease_missing,
    "lease-len3": case_lease_len3,
    "lease-dup": case_lease_dup,
    "overload-file": case_overload_file,
    "overload-garbage": case_overload_garbage,
    "domain": case_domain,
    "evil-strings": case_evil_strings,
    "truncated-options": case_truncated_options,
    "truncated-length": case_truncated_length,
    "many-options": case_many_options,
    "pad-1500": case_pad_1500,
    "no-end": case_no_end,
    "renew-foreign-nak": case_renew_foreign_nak,
    "renew-ack-other-ip": case_renew_ack_other_ip,
    "spray": case_spray,
    "long-list": case_long_list,
}


def parse_request(b):
    """The fields of a client message we need, or None."""
    if len(b) < 240 or b[0] != 1 or b[236:240] != MAGIC:
        return None
    req = {
        "xid": struct.unpack("!I", b[4:8])[0],
        "flags": struct.unpack("!H", b[10:12])[0],
        "ciaddr": b[12:16],
        "giaddr": b[24:28],
        "chaddr": b[28:44],
        "type": None,
        "requested": None,
        "server_id": None,
    }
    i = 240
    while i < len(b):
        c = b[i]
        if c == 0:
            i += 1
            continue
        if c == 255 or i + 1 >= len(b):
            break
        n = b[i + 1]
        d = b[i + 2 : i + 2 + n]
        if c == 53 and n == 1:
            req["type"] = d[0]
        elif c == 50 and n == 4:
            req["requested"] = socket.inet_ntoa(d)
        elif c == 54 and n == 4:
            req["server_id"] = socket.inet_ntoa(d)
        i += 2 + n
    return req


def checksum(b):
    if len(b) % 2:
        b += b"\0"
    total = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(src_mac, payload):
    """Ethernet broadcast + IPv4 (10.77.0.1 -> 255.255.255.255) + UDP 67 -> 68
    around `payload` (UDP checksum 0: none, allowed over IPv4)."""
    udp = struct.pack("!HHHH", 67, 68, 8 + len(payload), 0) + payload
    head = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, ip(SERVER), ip("255.255.255.255")
    )
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return b"\xff" * 6 + src_mac + b"\x08\x00" + head + udp


def dhcp_payload(frame):
    """The UDP payload of an IPv4/UDP frame to port 67, or None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00":
        return None
    ihl = (frame[14] & 0x0F) * 4
    if frame[14] >> 4 != 4 or frame[23] != 17:
        return None
    u = 14 + ihl
    if len(frame) < u + 8 or struct.unpack("!H", frame[u + 2 : u + 4])[0] != 67:
        return None
    n = struct.unpack("!H", frame[u + 4 : u + 6])[0]
    return frame[u + 8 : u + n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iface", required=True)
    ap.add_argument("--case", required=True, choices=sorted(CASES))
    ap.add_argument("--arg", default="")
    ap.add_argument(
        "--phase",
        choices=["all", "renew"],
        default="all",
        help="renew: answer sanely, and apply the case only to replies to renewals (ciaddr set)",
    )
    ap.add_argument(
        "--sniff",
        action="store_true",
        help="read requests from a packet socket and send raw frames (beside a real server on port 67)",
    )
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--log", required=True)
    a = ap.parse_args()
    log = open(a.log, "a", buffering=1)

    def say(msg):
        log.write(f"{time.monotonic():.3f} {msg}\n")

    if a.sniff:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
        s.bind((a.iface, 0))
        own_mac = s.getsockname()[4]

        def receive():
            while True:
                frame, addr = s.recvfrom(65535)
                if addr[2] == socket.PACKET_OUTGOING:
                    continue
                payload = dhcp_payload(frame)
                if payload is not None:
                    return payload, addr[4].hex(":")

        def send(pkt):
            s.send(udp_frame(own_mac, pkt))

    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, a.iface.encode())
        s.bind(("0.0.0.0", 67))

        def receive():
            return s.recvfrom(4096)

        def send(pkt):
            s.sendto(pkt, ("255.255.255.255", 68))

    say(
        f"listening on {a.iface}:67 case={a.case} arg={a.arg!r} phase={a.phase} "
        f"sniff={a.sniff} for {a.seconds} s"
    )
    deadline = time.monotonic() + a.seconds
    case = CASES[a.case]
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            say("time is up")
            return 0
        s.settimeout(left)
        try:
            b, src = receive()
        except socket.timeout:
            continue
        req = parse_request(b)
        if req is None:
            say(f"recv {len(b)} bytes from {src}: not a client message")
            continue
        kind = {DISCOVER: OFFER, REQUEST: ACK}.get(req["type"])
        say(
            f"recv {NAMES.get(req['type'], req['type'])} xid={req['xid']:#010x} "
            f"chaddr={req['chaddr'][:6].hex(':')} ciaddr={socket.inet_ntoa(req['ciaddr'])} "
            f"requested={req['requested']} server_id={req['server_id']} from {src}"
        )
        if kind is None:
            continue
        r = Reply(req, kind)
        renewal = req["ciaddr"] != b"\0\0\0\0"
        out = case(r, req, a.arg) if a.phase == "all" or renewal else None
        replies = [r] if out is None else out
        for rep in replies:
            if rep.delay:
                time.sleep(rep.delay)
            pkt = rep.encode()
            send(pkt)
            say(f"sent {NAMES[rep.kind]} xid={rep.xid:#010x} hlen={rep.hlen} "
                f"yiaddr={socket.inet_ntoa(rep.yiaddr)} len={len(pkt)} hex={pkt.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
