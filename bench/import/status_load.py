#!/usr/bin/env python3
"""Paced load on GET /api/import_status.json; records every latency.

usage: status_load.py URL TOKEN CONNECTIONS RATE_PER_CONNECTION OUT_FILE

CONNECTIONS keep-alive HTTP/1.1 connections, each sending one request,
waiting for the whole answer, then sleeping to keep RATE_PER_CONNECTION
requests/s (a poller, not a flood: on the 2-core machine an unpaced client
would take a core away from the import it watches). Runs until SIGINT or
SIGTERM, then writes one latency in milliseconds per line to OUT_FILE and a
summary line to stdout: requests errors p50 p99 max.
"""
import asyncio
import signal
import sys
import time
from urllib.parse import urlsplit


async def client(host, port, path, token, period, lat, errors, stop):
    req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nToken: {token}\r\n"
           "Accept: application/json\r\n\r\n").encode()
    reader = writer = None
    nxt = time.monotonic()
    while not stop.is_set():
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            status = int(head.split(b" ", 2)[1])
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            lat.append((time.perf_counter() - t0) * 1000.0)
            if status != 200:
                errors[0] += 1
        except Exception:
            errors[0] += 1
            if writer is not None:
                writer.close()
            reader = writer = None
        nxt += period
        delay = nxt - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
            except asyncio.TimeoutError:
                pass
        else:
            nxt = time.monotonic()


async def main():
    url, token, conns, rate, out = sys.argv[1:6]
    u = urlsplit(url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for s in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(s, stop.set)
    lat, errors = [], [0]
    await asyncio.gather(*(client(u.hostname, u.port, u.path, token, 1.0 / float(rate),
                                  lat, errors, stop) for _ in range(int(conns))))
    with open(out, "w") as f:
        f.write("".join(f"{x:.3f}\n" for x in lat))
    s = sorted(lat) or [0.0]
    q = lambda p: s[min(len(s) - 1, int(p * len(s)))]
    print(f"{len(lat)} {errors[0]} {q(0.50):.2f} {q(0.99):.2f} {s[-1]:.2f}")


asyncio.run(main())
