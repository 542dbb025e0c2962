#!/usr/bin/env python3
"""Helper of benches/load.sh (Python 3.11 standard library only; `openssl` for Ed25519).

  load_helper.py freeport
      A free loopback TCP port (for nginx, which cannot announce one it picked itself).
  load_helper.py keys DIR
      Throwaway keys as `privgate demo` makes them: an Ed25519 signing key (DIR/sign.pem)
      and its JWKS (DIR/jwks.json), the `hash` and `tokenize` keys as hex files
      (DIR/hash.key, DIR/token.key).
  load_helper.py token DIR ROLE --issuer ISS --audience AUD
      An EdDSA JWT for ROLE signed with DIR/sign.pem, valid for an hour, authenticated
      just now with MFA (as `privgate demo`'s tokens).
  load_helper.py report RESULTS
      Reads the measurements load.sh appended to RESULTS (one `key=value ...` line each,
      wrk's output in the files they name) and prints the tables, the ratios against nginx
      and the targets with pass/miss.
"""

import argparse
import base64
import json
import os
import re
import secrets
import socket
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def freeport() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


KID = "bench-ed25519"


def keys(d: str) -> None:
    sign = os.path.join(d, "sign.pem")
    subprocess.run(
        ["openssl", "genpkey", "-algorithm", "ed25519", "-out", sign],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    der = subprocess.run(
        ["openssl", "pkey", "-in", sign, "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    jwks = {
        "keys": [
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "kid": KID,
                "alg": "EdDSA",
                "use": "sig",
                "x": b64url(der[-32:]),  # SubjectPublicKeyInfo ends with the raw key
            }
        ]
    }
    with open(os.path.join(d, "jwks.json"), "w") as f:
        json.dump(jwks, f)
    for name in ("hash.key", "token.key"):
        with open(os.path.join(d, name), "w") as f:
            f.write(secrets.token_hex(32) + "\n")


def token(args: argparse.Namespace) -> None:
    sign = os.path.join(args.dir, "sign.pem")
    now = int(time.time())
    header = {"alg": "EdDSA", "kid": KID, "typ": "JWT"}
    claims = {
        "sub": f"bench-{args.role}",
        "roles": [args.role],
        "iss": args.issuer,
        "aud": args.audience,
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "acr": "mfa",
    }
    signing_input = ".".join(
        b64url(json.dumps(p, separators=(",", ":")).encode()) for p in (header, claims)
    )
    # Ed25519 signs in one shot, so openssl wants a file it can size, not a pipe.
    unsigned = os.path.join(args.dir, f"unsigned-{args.role}")
    with open(unsigned, "w") as f:
        f.write(signing_input)
    sig = subprocess.run(
        ["openssl", "pkeyutl", "-sign", "-inkey", sign, "-rawin", "-in", unsigned],
        check=True,
        capture_output=True,
    ).stdout
    os.unlink(unsigned)
    print(f"{signing_input}.{b64url(sig)}")


# ---- report -------------------------------------------------------------------------

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}


def ms(text: str) -> float:
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * UNITS[m.group(2)]


def parse_wrk(path: str) -> dict:
    text = open(path).read()
    out = {"errors": 0, "non2xx": 0}
    m = re.search(r"(\d+) requests in ([0-9.]+)(\w+)", text)
    if not m:
        raise ValueError(f"{path}: no request count in wrk's output:\n{text}")
    out["requests"] = int(m.group(1))
    out["rps"] = float(re.search(r"Requests/sec:\s+([0-9.]+)", text).group(1))
    for pct in ("50", "99"):
        p = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        out[f"p{pct}"] = ms(p.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["errors"] = sum(int(x) for x in m.groups())
    return out


def read_results(path: str) -> list[dict]:
    rows = []
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        row = {}
        for item in line.split():
            k, _, v = item.partition("=")
            row[k] = v
        rows.append(row)
    return rows


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_list(values: list[float], f: str) -> str:
    return " / ".join(format(v, f) for v in values)


SCENARIOS = {
    "legacy": "legacy-booking itself as the upstream",
    "static": "a fast upstream: the same page from one static nginx worker",
}


def small_table(rows: list[dict]) -> dict:
    print()
    print(
        "| target | req/s | p50 ms | p99 ms | CPU-µs/req | of which kernel | upstream CPU-µs/req "
        "| peak RSS MiB | other CPU (cores) | errors |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    agg = {}
    for t in ["upstream", "nginx", "privgate"]:
        rs = [r for r in rows if r["target"] == t]
        if not rs:
            continue
        w = [parse_wrk(r["wrk"]) for r in rs]
        rps = [x["rps"] for x in w]
        p50 = [x["p50"] for x in w]
        p99 = [x["p99"] for x in w]
        cpu = [int(r["proxy_ticks"]) / CLK_TCK * 1e6 / x["requests"] for r, x in zip(rs, w)]
        ker = [int(r["proxy_sys_ticks"]) / CLK_TCK * 1e6 / x["requests"] for r, x in zip(rs, w)]
        up = [int(r["upstream_ticks"]) / CLK_TCK * 1e6 / x["requests"] for r, x in zip(rs, w)]
        other = [float(r["other_cores"]) for r in rs]
        errs = sum(x["errors"] + x["non2xx"] for x in w)
        rss = max(int(r["hwm_kb"]) for r in rs) / 1024
        agg[t] = {"rps": med(rps), "p50": med(p50), "p99": med(p99), "cpu": med(cpu), "errs": errs, "rss": rss}
        cpu_cell = "—" if t == "upstream" else f"{med(cpu):.1f} ({fmt_list(cpu, '.1f')})"
        ker_cell = "—" if t == "upstream" else f"{med(ker):.1f}"
        print(
            f"| {t} | {med(rps):,.0f} ({fmt_list(rps, ',.0f')}) | {med(p50):.2f} ({fmt_list(p50, '.2f')}) "
            f"| {med(p99):.2f} ({fmt_list(p99, '.2f')}) | {cpu_cell} | {ker_cell} "
            f"| {med(up):.1f} | {rss:.1f} | {fmt_list(other, '.2f')} | {errs} |"
        )
    return agg


EXPORT_SCENARIOS = {
    "legacy": "streamed by legacy-booking (SQLite, one row at a time)",
    "static": "the same bytes as a static file from one nginx worker",
}


def export_table(rows: list[dict]) -> dict:
    print()
    print("| target | wall s | MB/s (bytes out) | bytes out | proxy CPU s | upstream CPU s | peak RSS MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    eagg = {}
    for t in ["upstream", "nginx", "privgate"]:
        rs = [r for r in rows if r["target"] == t]
        if not rs:
            continue
        wall = [float(r["seconds"]) for r in rs]
        size = [int(r["bytes"]) for r in rs]
        codes = {r["status"] for r in rs}
        rss = [int(r["hwm_kb"]) / 1024 for r in rs]
        cpu = [int(r["proxy_ticks"]) / CLK_TCK for r in rs]
        up = [int(r["upstream_ticks"]) / CLK_TCK for r in rs]
        eagg[t] = {"wall": med(wall), "bytes": med(size), "rss": max(rss), "codes": codes, "cpu": med(cpu)}
        rate = med([b / s / 1e6 for b, s in zip(size, wall)])
        status = "" if codes == {"200"} else f" status {','.join(sorted(codes))}!"
        cpu_cell = "—" if t == "upstream" else f"{med(cpu):.2f} ({fmt_list(cpu, '.2f')})"
        print(
            f"| {t} | {med(wall):.2f} ({fmt_list(wall, '.2f')}) | {rate:.0f} | {int(med(size)):,}{status} "
            f"| {cpu_cell} | {med(up):.2f} | {max(rss):.1f} ({fmt_list(rss, '.1f')}) |"
        )
    return eagg


def report(path: str) -> int:
    rows = read_results(path)
    meta = {}
    for r in rows:
        if r.get("kind", "").startswith("meta"):
            meta.update(r)
    small = [r for r in rows if r.get("kind") == "small"]
    export = [r for r in rows if r.get("kind") == "export"]

    print()
    print(
        f"== small paged JSON: GET {meta.get('small_path', '?')} ({meta.get('small_bytes', '?')} bytes upstream), "
        f"wrk -t{meta.get('threads', '?')} -c{meta.get('connections', '?')} -d{meta.get('duration', '?')}s --latency, "
        f"{meta.get('rounds', '?')} round(s), targets interleaved"
    )
    print("   per target: median over rounds, then each round's value (round 1 / round 2 / ...)")
    print("   CPU-µs/req: CPU time of the proxy process per request (nginx: master + workers)")
    print("   upstream CPU-µs/req: the same for the upstream (legacy-booking, or the static nginx)")
    print("   peak RSS: VmHWM of the process since it started (nginx: the largest worker)")
    print("   other CPU: cores busy with processes outside this benchmark during the run (noise)")
    aggs = {}
    for scenario, title in SCENARIOS.items():
        rs = [r for r in small if r.get("scenario") == scenario]
        if rs:
            print()
            print(f"-- {scenario}: {title}")
            aggs[scenario] = small_table(rs)

    print()
    print(
        f"== export: GET {meta.get('export_path', '?')} (one client, curl -o /dev/null), "
        f"{meta.get('rounds', '?')} round(s)"
    )
    print("   peak RSS: VmHWM of the proxy process (nginx: the largest worker), reset before each export")
    print("   proxy CPU s: CPU time of the proxy process during the export (nginx: master + workers)")
    eaggs = {}
    for scenario, title in EXPORT_SCENARIOS.items():
        rs = [r for r in export if r.get("scenario") == scenario]
        if rs:
            print()
            print(f"-- {scenario}: {title}")
            eaggs[scenario] = export_table(rs)
    print()
    print("== privgate (masking on) against nginx (pass-through), medians")
    results = []

    def check(name: str, value: str, target: str, ok: bool, counts: bool = True) -> None:
        verdict = "pass" if ok else "MISS"
        if counts:
            results.append(ok)
        else:
            verdict = f"({verdict})"
        print(f"| {name} | {value} | {target} | {verdict} |")

    print()
    print("| measure | privgate vs nginx | target | result |")
    print("|---|---:|---|---|")
    small_rss = 0.0
    for scenario, agg in aggs.items():
        n, p = agg.get("nginx"), agg.get("privgate")
        if not (n and p):
            continue
        # The targets are about the legacy upstream; the fast upstream is shown for what
        # it says about the proxy's own cost, its verdicts in parentheses.
        counts = scenario == "legacy"
        label = f"small req/s ({scenario})"
        check(label, f"{p['rps'] / n['rps']:.2f}×", "≥ 0.75×", p["rps"] / n["rps"] >= 0.75, counts)
        d99 = p["p99"] - n["p99"]
        check(
            f"small p99 ({scenario})",
            f"{d99:+.2f} ms ({p['p99']:.2f} vs {n['p99']:.2f})",
            "≤ +1 ms",
            d99 <= 1.0,
            counts,
        )
        print(f"| small p50 ({scenario}) | {p['p50'] - n['p50']:+.2f} ms ({p['p50']:.2f} vs {n['p50']:.2f}) | | |")
        print(
            f"| small CPU-µs/req ({scenario}) | {p['cpu'] / n['cpu']:.2f}× ({p['cpu']:.1f} vs {n['cpu']:.1f}) | | |"
        )
        if p["errs"] or n["errs"]:
            check(f"errors / non-2xx ({scenario})", f"privgate {p['errs']}, nginx {n['errs']}", "0", False)
        small_rss = max(small_rss, p["rss"])
    export_rss = 0.0
    nginx_rss = 0.0
    for scenario, eagg in eaggs.items():
        ne, pe = eagg.get("nginx"), eagg.get("privgate")
        if not (ne and pe):
            continue
        counts = scenario == "legacy"
        check(
            f"export wall time ({scenario})",
            f"{pe['wall'] / ne['wall']:.2f}× ({pe['wall']:.2f} s vs {ne['wall']:.2f} s)",
            "≤ 1.5×",
            pe["wall"] / ne["wall"] <= 1.5,
            counts,
        )
        print(
            f"| export proxy CPU ({scenario}) | {pe['cpu'] / max(ne['cpu'], 0.01):.1f}× "
            f"({pe['cpu']:.2f} s vs {ne['cpu']:.2f} s) | | |"
        )
        if pe["codes"] != {"200"} or ne["codes"] != {"200"}:
            check(f"export status ({scenario})", "not 200", "200", False)
        export_rss = max(export_rss, pe["rss"])
        nginx_rss = max(nginx_rss, ne["rss"])
    if eaggs or small_rss:
        peak = max(export_rss, small_rss)
        check(
            "privgate peak RSS",
            f"{peak:.1f} MiB (exports {export_rss:.1f}, small loads {small_rss:.1f}; nginx worker {nginx_rss:.1f})",
            "< 64 MiB",
            peak < 64,
        )
    print()
    missed = sum(1 for r in results if not r)
    print(f"targets: {len(results) - missed} pass, {missed} miss (a report, not a test)")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("freeport")
    sub.add_parser("keys").add_argument("dir")
    k = sub.add_parser("token")
    k.add_argument("dir")
    k.add_argument("role")
    k.add_argument("--issuer", required=True)
    k.add_argument("--audience", required=True)
    r = sub.add_parser("report")
    r.add_argument("results")
    args = ap.parse_args()
    if args.cmd == "freeport":
        freeport()
        return 0
    if args.cmd == "keys":
        keys(args.dir)
        return 0
    if args.cmd == "token":
        token(args)
        return 0
    return report(args.results)


if __name__ == "__main__":
    sys.exit(main())
