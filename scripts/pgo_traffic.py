"""Pages, REST, auth and static files for the instrumented server of scripts/pgo.sh.

Chat turns come from loadgen; this covers the rest a user touches, so profile-guided
optimisation does not take that code for cold. The server must write mail to
DATA_DIR/outbox (no SMTP_URL) and run without rate limits.

Usage: python3 scripts/pgo_traffic.py BASE_URL DATA_DIR
"""

import glob
import http.cookiejar
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request

BASE, DATA = sys.argv[1], sys.argv[2]


def opener():
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))


def call(web, method, path, body=None, token=None, headers=None):
    """Status and body of one request; error statuses are answers too."""
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(BASE + path, data=data, method=method)
    # As the app's own pages send it: cookie requests from elsewhere are refused.
    request.add_header("Origin", BASE)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", "Bearer " + token)
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with web.open(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def code_for(email):
    """The newest code mailed to `email` (the outbox file names end in the address)."""
    for _ in range(100):
        mails = sorted(glob.glob(os.path.join(DATA, "outbox", "*" + email + ".eml")))
        if mails:
            with open(mails[-1], encoding="utf-8", errors="replace") as f:
                found = re.findall(r"\b(\d{6})\b", f.read())
            if found:
                return found[-1]
        time.sleep(0.1)
    raise SystemExit("no code mailed to " + email)


def signed_in(n):
    """A new verified user: its cookie-keeping opener and access token."""
    web = opener()
    email = f"pgo{n}-{int(time.time() * 1000)}@example.com"
    call(web, "POST", "/auth/signup", {"email": email, "password": "a long password", "name": f"User {n}"})
    status, body = call(web, "POST", "/auth/verify-email", {"email": email, "code": code_for(email)})
    if status != 200:
        raise SystemExit(f"verify-email answered {status}: {body[:200]!r}")
    tokens = json.loads(body)
    os.makedirs(os.path.join(DATA, "used"), exist_ok=True)
    for mail in glob.glob(os.path.join(DATA, "outbox", "*" + email + ".eml")):
        os.replace(mail, os.path.join(DATA, "used", os.path.basename(mail)))
    call(web, "POST", "/auth/signin", {"email": email, "password": "a long password"})
    call(web, "POST", "/auth/verify-signin", {"email": email, "code": code_for(email)})
    call(web, "POST", "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    return web, tokens["access_token"]


def main():
    anonymous = opener()
    _, page = call(anonymous, "GET", "/signin")
    assets = sorted(set(re.findall(r'(/pkg/[^"\']+)', page.decode(errors="replace"))))
    for _ in range(20):
        for path in ["/", "/signin", "/signup", "/health", "/health/ready", "/api/openapi.json", "/nowhere"]:
            call(anonymous, "GET", path)
        for path in assets:
            call(anonymous, "GET", path, headers={"Accept-Encoding": "br, gzip"})
        # What nobody may do: no token, a forged one, a bad body.
        call(anonymous, "GET", "/chat/sessions")
        call(anonymous, "GET", "/users/me", token="forged.token.value")
        call(anonymous, "POST", "/auth/signin", b"{not json")
        call(anonymous, "POST", "/auth/signup", {"email": "not an address", "password": "x"})

    for n in range(5):
        web, token = signed_in(n)
        profile = {"age": 30 + n, "fitness_level": "beginner", "goals": ["run 5 km"], "units": "metric"}
        for i in range(20):
            call(web, "GET", "/users/me", token=token)
            call(web, "PUT", "/users/me/profile", profile, token=token)
            call(web, "GET", "/users/me/profile", token=token)
            status, body = call(web, "POST", "/users/me/memories", {"text": f"walks the dog every day {i}"}, token=token)
            if status == 201:
                memory = json.loads(body)["memory_id"]
                call(web, "PUT", f"/users/me/memories/{memory}", {"text": f"walks two dogs {i}"}, token=token)
                call(web, "DELETE", f"/users/me/memories/{memory}", token=token)
            call(web, "GET", "/users/me/memories", token=token)
            call(web, "GET", "/chat/sessions?limit=10", token=token)
            call(web, "GET", "/chat/search?q=knee", token=token)
            call(web, "GET", "/chat/sessions/00000000-0000-4000-8000-000000000000", token=token)
            call(web, "GET", "/users/me/export", token=token)
            # Pages as the signed-in browser loads them (cookies).
            for path in ["/", "/chat", "/profile", "/memories"]:
                call(web, "GET", path)
        call(web, "POST", "/auth/signout", {})


main()
