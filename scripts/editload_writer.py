#!/usr/bin/env python3
"""One station manager editing as fast as it can (used by scripts/editload.sh; stdlib only).

    editload_writer.py --port P --token T --ids 1,2,3 --ready FILE [--max-seconds 120]

Cycles over the station ids: the first time it sees an id it GETs the station for its ETag, then
PATCHes `{"phone": "..."}` (a new value every time, so every edit is a real write) with
`If-Match: <ETag>` and keeps the ETag of the reply for the next round. A 412 re-reads the station
(so one lost race does not turn into a stream of 412s). One keep-alive connection, one request at
a time: this is one client, not a flood.

It touches FILE when the ETags are loaded and the PATCH loop starts. SIGUSR1 marks the start of the
measured window (counters are snapshotted), SIGTERM/SIGINT stops it (or --max-seconds). It then
checks that the store holds, for every id, the version it last saw, and prints one line:

    WRITER key=value ...   (window_* = between SIGUSR1 and the stop; total_* = whole PATCH loop)
"""

import argparse
import http.client
import json
import signal
import sys
import time

stop = False
mark = None  # (time, counters) at SIGUSR1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--ids", required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--max-seconds", type=float, default=120.0)
    args = ap.parse_args()
    ids = [int(x) for x in args.ids.split(",") if x]
    auth = {"Authorization": "Bearer " + args.token}

    conn = [http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)]

    def request(method, path, body=None, headers=None):
        """(status, headers, body) or raises after one reconnect attempt."""
        h = dict(auth)
        if headers:
            h.update(headers)
        for attempt in (0, 1):
            try:
                conn[0].request(method, path, body=body, headers=h)
                r = conn[0].getresponse()
                data = r.read()
                return r.status, r, data
            except (OSError, http.client.HTTPException):
                conn[0].close()
                conn[0] = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
                if attempt:
                    raise

    c = {"ok": 0, "s412": 0, "s5xx": 0, "s4xx": 0, "neterr": 0, "gets": 0}
    lat = []  # PATCH latencies (s) of 200s, whole loop
    lat_mark = [0]
    etags = {}
    last_error = ""

    def get_etag(i):
        c["gets"] += 1
        st, r, data = request("GET", f"/api/v1/stations/{i}")
        if st != 200:
            raise RuntimeError(f"GET station {i}: {st} {data[:200]!r}")
        etags[i] = r.getheader("ETag")

    for i in ids:
        get_etag(i)

    def on_term(*_):
        global stop
        stop = True

    def on_mark(*_):
        global mark
        mark = (time.monotonic(), dict(c))
        lat_mark[0] = len(lat)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGUSR1, on_mark)
    open(args.ready, "w").close()

    t0 = time.monotonic()
    n = 0
    while not stop and time.monotonic() - t0 < args.max_seconds:
        i = ids[n % len(ids)]
        n += 1
        body = json.dumps({"phone": f"0791-{n:08d}"})
        t = time.monotonic()
        try:
            st, r, data = request(
                "PATCH", f"/api/v1/stations/{i}", body=body,
                headers={"If-Match": etags[i], "Content-Type": "application/json"})
        except Exception as e:  # noqa: BLE001 - counted, reported
            c["neterr"] += 1
            last_error = repr(e)
            continue
        if st == 200:
            c["ok"] += 1
            lat.append(time.monotonic() - t)
            etags[i] = r.getheader("ETag")
        elif st == 412:
            c["s412"] += 1
            last_error = f"412 on {i}: {data[:200]!r}"
            try:
                get_etag(i)
            except Exception as e:  # noqa: BLE001
                c["neterr"] += 1
                last_error = repr(e)
        elif st >= 500:
            c["s5xx"] += 1
            last_error = f"{st} on {i}: {data[:200]!r}"
        else:
            c["s4xx"] += 1
            last_error = f"{st} on {i}: {data[:200]!r}"
    t1 = time.monotonic()

    # Consistency: the store's version of every id equals the last ETag this writer was given.
    mismatched = 0
    for i in ids:
        try:
            st, r, _ = request("GET", f"/api/v1/stations/{i}")
            if st != 200 or r.getheader("ETag") != etags[i]:
                mismatched += 1
        except Exception:  # noqa: BLE001
            mismatched += 1

    def pct(xs, p):
        if not xs:
            return 0.0
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))] * 1000

    if mark is None:
        wt, wc, wl = t0, {k: 0 for k in c}, lat
    else:
        wt, wc, wl = mark[0], mark[1], lat[lat_mark[0]:]
    win = {k: c[k] - wc[k] for k in c}
    wsec = max(t1 - wt, 1e-9)
    out = {
        "ids": len(ids),
        "window_s": f"{wsec:.2f}",
        "window_ok": win["ok"],
        "window_edits_s": f"{win['ok'] / wsec:.1f}",
        "window_412": win["s412"],
        "window_4xx": win["s4xx"],
        "window_5xx": win["s5xx"],
        "window_neterr": win["neterr"],
        "window_patch_p50_ms": f"{pct(wl, 50):.2f}",
        "window_patch_p99_ms": f"{pct(wl, 99):.2f}",
        "total_s": f"{t1 - t0:.2f}",
        "total_ok": c["ok"],
        "total_412": c["s412"],
        "total_4xx": c["s4xx"],
        "total_5xx": c["s5xx"],
        "total_neterr": c["neterr"],
        "total_gets": c["gets"],
        "version_mismatches": mismatched,
    }
    print("WRITER " + " ".join(f"{k}={v}" for k, v in out.items()), flush=True)
    if last_error:
        print("WRITER_LAST_ERROR " + last_error.replace("\n", " "), flush=True)


if __name__ == "__main__":
    sys.exit(main())
