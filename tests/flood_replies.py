#!/usr/bin/env python3
"""A flood of forged DHCP replies for tests/hardening_edges.rs (python3
stdlib only). Run in a lab's server namespace, bound to its veth: it sends
Ethernet frames there and nowhere else.

--mode watch: OFFERs and ACKs to broadcast, each with another server id
  (option 54), xid and client MAC, as fast as it can, --count of them.
--mode probe: waits for a DISCOVER, then answers it --count times, each
  OFFER from another server id (the xid and client MAC the DISCOVER
  showed); every other one has a router outside the subnet (a warning).
--mode elsewhere: waits for a DHCPREQUEST on --iface (a renewal), then
  answers it once with a forged ACK sent on --send-iface, to --dst-mac,
  from MAC 02:66:66:66:66:66, for a lease of 7777 s: a reply that comes in
  on another interface of the client than the one it asked on.

It prints "listening" when ready and "sent N" when done.
"""

import argparse
import socket
import struct
import sys
import time


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def frame(src_mac, xid, chaddr, server_id, kind, router, yiaddr=b"\x0a\x4d\x00\x3c",
          dst_mac=b"\xff" * 6, dst_ip=b"\xff" * 4, lease=600):
    opts = bytes([53, 1, kind])
    opts += bytes([54, 4]) + server_id
    opts += bytes([51, 4]) + struct.pack("!I", lease)
    opts += bytes([1, 4, 255, 255, 255, 0])
    opts += bytes([3, 4]) + router
    opts += b"\xff"
    bootp = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s4s",
        2, 1, 6, 0, xid, 0, 0x8000,
        b"\0" * 4, yiaddr, b"\0" * 4, b"\0" * 4,
        chaddr + b"\0" * 10, b"\0" * 64, b"\0" * 128, bytes([99, 130, 83, 99]),
    ) + opts
    bootp += b"\0" * max(0, 300 - len(bootp))
    udp = struct.pack("!HHHH", 67, 68, 8 + len(bootp), 0) + bootp
    ip = struct.pack(
        "!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
        socket.inet_aton("10.77.0.1"), dst_ip,
    )
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def server_id(i):
    # Distinct unicast addresses in 10.0.0.0/8, none ending in .0 or .255.
    n = (i * 2654435761) % (1 << 22)
    return bytes([10, (n >> 14) & 0xFF, (n >> 6) & 0xFF, 1 + (n & 0x3F)])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--iface", required=True)
    ap.add_argument("--mode", choices=["watch", "probe", "elsewhere"], required=True)
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--send-iface")
    ap.add_argument("--dst-mac")
    a = ap.parse_args()
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((a.iface, 0))
    src_mac = s.getsockname()[4]
    xid, chaddr = 0, b"\x02\0\0\0\0\0"
    print("listening", flush=True)
    if a.mode == "probe":
        deadline = time.time() + 60
        while time.time() < deadline:
            f = s.recv(2048)
            if len(f) < 14 + 20 + 8 + 240 or f[12:14] != b"\x08\x00" or f[23] != 17:
                continue
            ihl = (f[14] & 0x0F) * 4
            udp = 14 + ihl
            if struct.unpack("!H", f[udp + 2:udp + 4])[0] != 67:
                continue
            bootp = f[udp + 8:]
            if bootp[0] != 1:
                continue
            xid = struct.unpack("!I", bootp[4:8])[0]
            chaddr = bytes(bootp[28:34])
            break
        else:
            print("no DISCOVER seen", flush=True)
            return 1
    if a.mode == "elsewhere":
        return forge_elsewhere(s, a)
    sent = 0
    inside, outside = socket.inet_aton("10.77.0.1"), socket.inet_aton("1.2.3.4")
    for i in range(a.count):
        if a.mode == "watch":
            x = (i * 2246822519) & 0xFFFFFFFF
            mac = bytes([2, 0x66, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF, 1])
            f = frame(src_mac, x, mac, server_id(i), 2 if i % 2 else 5, inside)
        else:
            f = frame(src_mac, xid, chaddr, server_id(i), 2, outside if i % 2 else inside)
        try:
            s.send(f)
            sent += 1
        except OSError:
            time.sleep(0.001)
    print("sent %d" % sent, flush=True)
    return 0


def forge_elsewhere(s, a):
    out = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    out.bind((a.send_iface, 0))
    dst_mac = bytes(int(x, 16) for x in a.dst_mac.split(":"))
    deadline = time.time() + 120
    while time.time() < deadline:
        f = s.recv(2048)
        if len(f) < 14 + 20 + 8 + 240 or f[12:14] != b"\x08\x00" or f[23] != 17:
            continue
        ihl = (f[14] & 0x0F) * 4
        udp = 14 + ihl
        if struct.unpack("!H", f[udp + 2:udp + 4])[0] != 67:
            continue
        bootp = f[udp + 8:]
        # A REQUEST (option 53 = 3) with ciaddr set: a renewal.
        if bootp[0] != 1 or bootp[12:16] == b"\0\0\0\0" or b"\x35\x01\x03" not in bytes(bootp[240:]):
            continue
        xid = struct.unpack("!I", bootp[4:8])[0]
        ciaddr = bytes(bootp[12:16])
        chaddr = bytes(bootp[28:34])
        ack = frame(b"\x02\x66\x66\x66\x66\x66", xid, chaddr, socket.inet_aton("10.77.0.1"), 5,
                    socket.inet_aton("10.77.0.1"), yiaddr=ciaddr, dst_mac=dst_mac, dst_ip=ciaddr,
                    lease=7777)
        out.send(ack)
        print("forged an ACK for %s xid %#x" % (socket.inet_ntoa(ciaddr), xid), flush=True)
        return 0
    print("no renewal seen", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
