"""A local stand-in for Azure Key Vault (secrets) and the Entra ID token endpoint, over TLS.

It behaves as the documented services do for what botforge uses:
- Entra ID: POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials -> a bearer
  token, or AADSTS errors for an unknown tenant or a wrong client secret.
- Key Vault (any api-version): a request without a valid bearer token gets 401 with the
  `WWW-Authenticate: Bearer authorization=..., resource="https://vault.azure.net"` challenge;
  GET /secrets lists (two per page, with nextLink and $skiptoken); GET /secrets/{name}/[version]
  returns the secret bundle, 404 SecretNotFound, or 403 for a disabled secret; a client
  without access (--denied-client) gets 403 Forbidden.

Secrets are read from --secrets (a JSON object: name -> value, or name -> {"value", "enabled"})
on every request, so a test rotates one by rewriting the file. Every request is appended to
--log as one JSON line (method, path, whether a bearer token came, status): never a value.

On start it makes a self-signed certificate for 127.0.0.1 in --dir with openssl and prints
`READY <port> <ca.pem>` on stdout.
"""

import argparse
import hashlib
import http.server
import json
import os
import secrets
import ssl
import subprocess
import sys
import threading
import urllib.parse

VAULT_RESOURCE = "https://vault.azure.net"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--secrets", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--client-secret", required=True)
    ap.add_argument("--denied-client", default="")
    args = ap.parse_args()

    cert = os.path.join(args.dir, "ca.pem")
    key = os.path.join(args.dir, "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert,
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-addext", "basicConstraints=critical,CA:FALSE",
         "-addext", "extendedKeyUsage=serverAuth"],
        check=True, capture_output=True,
    )

    tokens: dict = {}  # token -> client id
    lock = threading.Lock()

    def load_secrets() -> dict:
        with open(args.secrets, encoding="utf-8") as f:
            raw = json.load(f)
        out = {}
        for name, v in raw.items():
            if isinstance(v, str):
                v = {"value": v, "enabled": True}
            out[name.lower()] = {"name": name, "value": v["value"], "enabled": v.get("enabled", True)}
        return out

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # quiet; the JSON log is the record
            pass

        def send_json(self, status, body, headers=None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            with lock, open(args.log, "a", encoding="utf-8") as f:
                f.write(json.dumps({
                    "method": self.command,
                    "path": urllib.parse.urlsplit(self.path).path,
                    "bearer": self.headers.get("Authorization", "").startswith("Bearer "),
                    "status": status,
                }) + "\n")

        def base(self):
            return f"https://127.0.0.1:{self.server.server_address[1]}"

        def do_POST(self):
            parts = urllib.parse.urlsplit(self.path).path.strip("/").split("/")
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            field = lambda n: (form.get(n) or [""])[0]  # noqa: E731
            if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
                return self.send_json(404, {"error": "not_found"})
            if parts[0] != args.tenant:
                return self.send_json(400, {
                    "error": "invalid_request",
                    "error_description": f"AADSTS90002: Tenant '{parts[0]}' not found.",
                })
            if field("grant_type") != "client_credentials":
                return self.send_json(400, {"error": "unsupported_grant_type",
                                            "error_description": "AADSTS70003"})
            client = field("client_id")
            if client not in (args.client_id, args.denied_client) or not client:
                return self.send_json(400, {
                    "error": "unauthorized_client",
                    "error_description": f"AADSTS700016: Application with identifier '{client}' was not found.",
                })
            if field("client_secret") != args.client_secret:
                return self.send_json(401, {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                })
            if field("scope") != VAULT_RESOURCE + "/.default":
                return self.send_json(400, {"error": "invalid_scope",
                                            "error_description": "AADSTS70011"})
            token = secrets.token_hex(24)
            with lock:
                tokens[token] = client
            return self.send_json(200, {"token_type": "Bearer", "expires_in": 3599,
                                        "ext_expires_in": 3599, "access_token": token})

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            parts = [p for p in url.path.split("/") if p]
            if not parts or parts[0] != "secrets":
                return self.send_json(404, {"error": {"code": "NotFound", "message": "no such route"}})
            if not query.get("api-version"):
                return self.send_json(400, {"error": {
                    "code": "BadParameter",
                    "message": "The request URI contains an invalid or missing api-version."}})
            auth = self.headers.get("Authorization", "")
            with lock:
                client = tokens.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
            if client is None:
                return self.send_json(401, {"error": {
                    "code": "Unauthorized",
                    "message": "AKV10000: Request is missing a Bearer or PoP token."}},
                    {"WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/{args.tenant}", resource="{VAULT_RESOURCE}"'})
            if client == args.denied_client:
                return self.send_json(403, {"error": {
                    "code": "Forbidden",
                    "message": f"The user, group or application 'appid={client}' does not have secrets get/list permission on key vault.",
                    "innererror": {"code": "AccessDenied"}}})
            store = load_secrets()
            if len(parts) == 1:
                names = sorted(store)
                skip = int((query.get("$skiptoken") or ["0"])[0])
                page = names[skip:skip + 2]
                body = {"value": [{
                    "id": f"{self.base()}/secrets/{store[n]['name']}",
                    "attributes": {"enabled": store[n]["enabled"], "created": 1764000000,
                                   "updated": 1764000000, "recoveryLevel": "Recoverable+Purgeable",
                                   "recoverableDays": 90},
                } for n in page], "nextLink": None}
                if skip + 2 < len(names):
                    body["nextLink"] = f"{self.base()}/secrets?api-version={query['api-version'][0]}&$skiptoken={skip + 2}&maxresults=2"
                return self.send_json(200, body)
            name = parts[1].lower()
            s = store.get(name)
            if s is None:
                return self.send_json(404, {"error": {
                    "code": "SecretNotFound",
                    "message": f"A secret with (name/id) {parts[1]} was not found in this key vault."}})
            if not s["enabled"]:
                return self.send_json(403, {"error": {
                    "code": "Forbidden",
                    "message": "Operation get is not allowed on a disabled secret.",
                    "innererror": {"code": "SecretDisabled"}}})
            version = hashlib.sha256(s["value"].encode()).hexdigest()[:32]
            return self.send_json(200, {
                "value": s["value"],
                "id": f"{self.base()}/secrets/{s['name']}/{version}",
                "attributes": {"enabled": True, "created": 1764000000, "updated": 1764000000,
                               "recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90},
            })

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(f"READY {server.server_address[1]} {cert}", flush=True)
    # Ends when the test closes our stdin (or kills us).
    threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
