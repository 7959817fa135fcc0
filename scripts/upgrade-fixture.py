#!/usr/bin/env python3
"""Writes the ledgers the upgrade test starts from, with a released binary.

The test (tests/tests/integration/upgrade.rs) upgrades a ledger written by
the last release, so its data must be written by that release's binary,
not by today's code against an old schema. This script runs the given
`tally` binary on SQLite and on PostgreSQL, makes every kind of movement
(deposit, transfer, split, partial reversal, hold and capture, a recorded
refusal), lets the sealer seal them, restarts without a sealer, adds one
unsealed deposit, and dumps both databases as SQL text:

    tests/fixtures/last-release.sqlite.sql
    tests/fixtures/last-release.postgres.sql

Usage, with the release's commit in a worktree (the fixtures in the tree
were written by 2e64e10, the last commit of the release before 2026-12-04):

    git worktree add /tmp/release 2e64e10
    (cd /tmp/release && CARGO_TARGET_DIR=/tmp/release-target cargo build -p api)
    python3 scripts/upgrade-fixture.py /tmp/release-target/debug/tally postgres://postgres@127.0.0.1:5432/postgres
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Server:
    def __init__(self, binary, url, data_dir, seal):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        args = [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--database-url", url,
                "--data-dir", data_dir, "--seal-interval-ms", "100" if seal else "0"]
        self.proc = subprocess.Popen(args, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
        for _ in range(300):
            try:
                urllib.request.urlopen(self.base + "/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{binary} did not come up")

    def post(self, query, variables):
        body = json.dumps({"query": query, "variables": variables}).encode()
        req = urllib.request.Request(self.base + "/graphql", body, {"content-type": "application/json"})
        return json.load(urllib.request.urlopen(req, timeout=30))

    def data(self, query, variables):
        out = self.post(query, variables)
        if out.get("errors"):
            raise SystemExit(f"{query}: {out}")
        return out["data"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)


CREATE = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { id } }"
DEPOSIT = "mutation($i: DepositInput!) { deposit(input: $i) { id } }"
TRANSFER = "mutation($i: TransferInput!) { transfer(input: $i) { id } }"
SPLIT = "mutation($i: SplitTransferInput!) { splitTransfer(input: $i) { transfers { id } } }"
REVERSE = "mutation($i: ReverseTransferInput!) { reverseTransfer(input: $i) { id } }"
HOLD = "mutation($i: CreateHoldInput!) { createHold(input: $i) { id } }"
CAPTURE = "mutation($i: CaptureHoldInput!) { captureHold(input: $i) { status } }"
VERIFY = "query { verifyLedger { ok } }"


def write_ledger(binary, url, data_dir):
    s = Server(binary, url, data_dir, seal=True)
    ids = {}
    for code in ["a", "b", "c"]:
        ids[code] = s.data(CREATE, {"i": {"code": code, "currency": "USD"}})["createAccount"]["id"]
    a, b, c = ids["a"], ids["b"], ids["c"]
    s.data(DEPOSIT, {"i": {"accountId": a, "amount": "100.00", "idempotencyKey": "old-d"}})
    t = s.data(TRANSFER, {"i": {"fromAccountId": a, "toAccountId": b, "amount": "10.00", "idempotencyKey": "old-t"}})
    s.data(SPLIT, {"i": {"fromAccountId": a, "amount": "10.00", "idempotencyKey": "old-s",
                         "parts": [{"accountId": b, "weight": "1"}, {"accountId": c, "weight": "2"}]}})
    s.data(REVERSE, {"i": {"transferId": t["transfer"]["id"], "amount": "4.00", "idempotencyKey": "old-r"}})
    h = s.data(HOLD, {"i": {"fromAccountId": a, "toAccountId": c, "amount": "20.00", "idempotencyKey": "old-h",
                            "expiresAt": "2099-01-01T00:00:00Z"}})
    s.data(CAPTURE, {"i": {"holdId": h["createHold"]["id"], "amount": "5.00", "idempotencyKey": "old-c"}})
    refused = s.post(TRANSFER, {"i": {"fromAccountId": b, "toAccountId": a, "amount": "999.00",
                                      "idempotencyKey": "old-no"}})
    assert refused["errors"][0]["extensions"]["code"] == "INSUFFICIENT_FUNDS", refused
    # A pending hold too, so the upgraded ledger carries one.
    s.data(HOLD, {"i": {"fromAccountId": b, "toAccountId": c, "amount": "1.00", "idempotencyKey": "old-h2",
                        "expiresAt": "2099-01-01T00:00:00Z"}})
    time.sleep(2)  # the sealer (every 100 ms) seals all of it
    s.stop()
    s = Server(binary, url, data_dir, seal=False)
    s.data(DEPOSIT, {"i": {"accountId": b, "amount": "1.00", "idempotencyKey": "old-unsealed"}})
    assert s.data(VERIFY, {})["verifyLedger"]["ok"]
    s.stop()


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    binary, admin = os.path.abspath(sys.argv[1]), sys.argv[2]
    os.makedirs(FIXTURES, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "old.db")
        write_ledger(binary, f"sqlite:{db}?mode=rwc", tmp)
        dump = subprocess.run(["sqlite3", db, ".dump"], check=True, capture_output=True, text=True).stdout
        with open(os.path.join(FIXTURES, "last-release.sqlite.sql"), "w") as f:
            f.write(dump)
    prefix = admin.rsplit("/", 1)[0]
    name = "tally_upgrade_fixture"
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run(["psql", admin, "-qc", f"CREATE DATABASE {name}"], check=True)
    with tempfile.TemporaryDirectory() as tmp:
        write_ledger(binary, f"{prefix}/{name}", tmp)
    dump = subprocess.run(["pg_dump", "--no-owner", "--no-privileges", "--inserts", "--no-comments",
                           f"{prefix}/{name}"], check=True, capture_output=True, text=True).stdout
    # Plain SQL for any client: newer pg_dumps frame the dump with psql
    # meta-commands (\restrict … \unrestrict).
    dump = "".join(line for line in dump.splitlines(keepends=True) if not line.startswith("\\"))
    with open(os.path.join(FIXTURES, "last-release.postgres.sql"), "w") as f:
        f.write(dump)
    subprocess.run(["psql", admin, "-qc", f"DROP DATABASE {name}"], check=True)
    print("wrote", FIXTURES)


if __name__ == "__main__":
    main()
