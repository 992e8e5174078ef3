#!/usr/bin/env bash
# test_http.sh: HTTP over tapir, against curl and python3's sockets. The tapir host serves its
# live counters at / (HTML) and /stats.txt, and the numbers change between two requests; a
# missing page is 404, HEAD has the headers and no body, POST is 405 with Allow, garbage is
# 400, an HTTP/2.0 request line 505; "..", encoded or not, and a symlink out of --www are
# refused; two requests reuse one connection (curl says "Re-using", and pipelined requests
# come back in order over one socket), HTTP/1.0 and "Connection: close" end it; an over-long
# request line is 414 and over-long headers 431; a request that never completes is cut off;
# 50 clients at once all get their page; a 10 MiB file under --www comes back byte-exact;
# --files DIR serves the file download service on 2020. Then http_server on a directory:
# its index page, index.html, a directory's redirect to its slash, and "//etc/passwd" is
# not /etc/passwd. tapir and http_server exit 0 on SIGTERM.
set -u
. "$(dirname "$0")/lib.sh"

BIN=$(dirname "$TAPIR")
URL=http://$TAPIR_IP
WWW=$TEST_TMP/www
mkdir -p "$WWW/sub" "$TEST_TMP/files"
head -c $((10 << 20)) /dev/urandom >"$WWW/10m.bin"
echo "hello over tapir" >"$WWW/hello.txt"
echo "<h1>sub's index</h1>" >"$WWW/sub/index.html"
ln -s /etc/passwd "$WWW/passwd-link"
echo "a file for the download service" >"$TEST_TMP/files/f.txt"

# raw NAME: sends the bytes of python expression $2 to port 80, half-closes after $3 (default
# 0) seconds, prints all that comes back (repr of the first 300 bytes, then the total length).
cat >"$TEST_TMP/raw.py" <<'PY'
import socket, sys, time
host, payload, wait = sys.argv[1], eval(sys.argv[2]), float(sys.argv[3])
s = socket.create_connection((host, 80), timeout=15)
s.sendall(payload)
time.sleep(wait)
try:
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass
got = b""
while True:
    try:
        b = s.recv(65536)
    except ConnectionResetError:
        break
    if not b:
        break
    got += b
sys.stdout.write(got.decode("latin-1"))
PY
raw() { bounded 20 python3 "$TEST_TMP/raw.py" "$TAPIR_IP" "$1" "${2:-0}"; }

# status_of OUT ARGS...: curl's status code for ARGS, the body in OUT.
status_of() {
    local out=$1
    shift
    bounded 20 curl -s -o "$out" -w '%{http_code}' "$@"
}

start_tapir --www "$WWW" --files "$TEST_TMP/files" || { not_ok "tapir starts with --www and --files"; done_testing; }
ok "tapir starts with --www and --files"
check "the banner says how to reach HTTP" grep -q "curl http://$TAPIR_IP/'" "$TAPIR_OUT"

# A request that never completes, started first: it must be cut off (10 s for a request).
cat >"$TEST_TMP/slow.py" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 80), timeout=30)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")    # and never the empty line
t0 = time.time()
try:
    got = s.recv(65536)
except OSError as e:
    got = b"error " + str(e).encode()
print("%.1f %r" % (time.time() - t0, got[:40]))
PY
timeout 30 python3 "$TEST_TMP/slow.py" "$TAPIR_IP" >"$TEST_TMP/slow.out" 2>&1 9>&- &
slow_pid=$!

# --- the status page ---
code=$(status_of "$TEST_TMP/index.html" "$URL/")
check_eq "GET / is 200" "$code" 200
check "/ is HTML with the counters and the connection table" \
    bash -c "grep -q '<pre>' '$TEST_TMP/index.html' && grep -q 'segments received' '$TEST_TMP/index.html' && grep -q 'Connections:' '$TEST_TMP/index.html'"
check "/ lists the listener on port 80" grep -qE 'LISTEN +0\.0\.0\.0:80 ' "$TEST_TMP/index.html"
ctype=$(bounded 20 curl -s -o /dev/null -w '%{content_type}' "$URL/")
check_eq "/ is text/html" "$ctype" "text/html; charset=utf-8"
tcp_in() { bounded 20 curl -s "$URL/stats.txt" | awk '/^Tcp:$/ {t = 1} t && / segments received$/ {print $1; exit}'; }
first=$(tcp_in)
second=$(tcp_in)
if _is_number "$first" && _is_number "$second" && [ "$second" -gt "$first" ]; then
    ok "/stats.txt: Tcp 'segments received' grows between two requests ($first, then $second)"
else
    not_ok "/stats.txt: Tcp 'segments received' grows between two requests"
    diag "got '$first' then '$second'"
fi

# --- status codes ---
check_eq "GET /nope is 404" "$(status_of /dev/null "$URL/nope")" 404
check_eq "GET /www/nope.txt is 404" "$(status_of /dev/null "$URL/www/nope.txt")" 404
check_eq "GET /www/hello.txt is 200" "$(status_of "$TEST_TMP/hello" "$URL/www/hello.txt")" 200
check_eq "... with the file's bytes" "$(cat "$TEST_TMP/hello")" "hello over tapir"
check_eq "POST is 405" "$(status_of /dev/null -X POST -d x=1 "$URL/")" 405
check "405 says Allow: GET, HEAD" bash -c "curl -s -i -X POST -d x=1 '$URL/' | grep -qi '^Allow: GET, HEAD'"
check_eq "DELETE is 405" "$(status_of /dev/null -X DELETE "$URL/www/hello.txt")" 405

head=$(raw 'b"HEAD /www/hello.txt HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"')
check "HEAD: 200 with Content-Length 17 and Content-Type" \
    bash -c "grep -q '^HTTP/1.1 200 OK' <<<'$head' && grep -qi '^Content-Length: 17' <<<'$head' && grep -qi '^Content-Type: text/plain' <<<'$head'"
check_eq "HEAD: nothing after the header" "$(printf '%s' "$head" | awk 'BEGIN{RS="\r\n\r\n"} NR>1' | wc -c)" 0

out=$(raw 'bytes([0x16,3,1,0,0x2f,1,0,0,0x2b]) + b"\r\n\r\n"')
check "garbage (a TLS hello) is 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'b"GET /\r\n\r\n"')
check "a request line without a version is 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'b"GET / HTTP/1.1\r\n\r\n"')
check "HTTP/1.1 without Host is 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"')
check "whitespace before a field's colon is 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"')
check "HTTP/2.0 in a request line is 505" grep -q '^HTTP/1.1 505 ' <<<"$out"

# --- no way out of the directory ---
check_eq "/www/../../etc/passwd (as is) is 400" \
    "$(status_of /dev/null --path-as-is "$URL/www/../../etc/passwd")" 400
check_eq "/www/%2e%2e/%2e%2e/etc/passwd is 400" "$(status_of /dev/null "$URL/www/%2e%2e/%2e%2e/etc/passwd")" 400
check_eq "/www/..%2f..%2fetc%2fpasswd is 400" "$(status_of /dev/null "$URL/www/..%2f..%2fetc%2fpasswd")" 400
check_eq "/www/sub/%2E%2E/%2E%2E/%2E%2E/etc/passwd is 400" \
    "$(status_of /dev/null "$URL/www/sub/%2E%2E/%2E%2E/%2E%2E/etc/passwd")" 400
check_eq "a symlink out of --www is refused (403)" "$(status_of /dev/null "$URL/www/passwd-link")" 403
out=$(raw 'b"GET http://x/www/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"')
check "the absolute form with .. is 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
out=$(raw 'b"GET /www/%00/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"')
check "an encoded NUL is 400" grep -q '^HTTP/1.1 400 ' <<<"$out"
check "no response carried /etc/passwd" bash -c "! grep -rq 'root:' '$TEST_TMP'/*.html 2>/dev/null"

# --- keep-alive ---
bounded 20 curl -sv -o /dev/null -o /dev/null "$URL/www/hello.txt" "$URL/stats.txt" >"$TEST_TMP/curl-v.out" 2>&1
check "curl with two URLs: 'Re-using existing connection'" grep -q 'Re-using existing connection' "$TEST_TMP/curl-v.out"
check_eq "curl with two URLs: one connection" "$(grep -c '^\* Connected to' "$TEST_TMP/curl-v.out")" 1
out=$(raw 'b"GET /www/hello.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /www/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"')
check_eq "three pipelined requests, three responses in order on one socket" \
    "$(grep -o '^HTTP/1.1 [0-9]*' <<<"$out" | tr '\n' ' ')" "HTTP/1.1 200 HTTP/1.1 404 HTTP/1.1 200 "
check "... the last says Connection: close" grep -qi '^Connection: close' <<<"$out"
# Left open for 2 s after its request: an HTTP/1.0 response still ends the connection.
# (bounded runs its command in the background, with /dev/null for stdin: scripts go in files.)
cat >"$TEST_TMP/http10.py" <<'PY'
import socket, sys, time
s = socket.create_connection((sys.argv[1], 80), timeout=5)
s.sendall(b"GET /www/hello.txt HTTP/1.0\r\n\r\n")
got, t0 = b"", time.time()
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("closed after %.1f s" % (time.time() - t0), got.split(b"\r\n")[0].decode())
PY
out=$(bounded 20 python3 "$TEST_TMP/http10.py" "$TAPIR_IP")
check "HTTP/1.0: one response, then the server closes" grep -qE '^closed after 0\.[0-9] s HTTP/1.1 200 OK$' <<<"$out"
[[ "$out" =~ ^closed\ after\ 0 ]] || diag "$out"
out=$(raw 'b"GET /www/hello.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /www/hello.txt HTTP/1.0\r\n\r\n"')
check_eq "HTTP/1.0 with keep-alive: two responses on one socket" "$(grep -c '^HTTP/1.1 200' <<<"$out")" 2
check "... the first says Connection: keep-alive" grep -qi '^Connection: keep-alive' <<<"$out"

# --- bounded requests ---
out=$(raw "b'GET /' + b'a' * 10000 + b' HTTP/1.1\r\nHost: x\r\n\r\n'")
check "a 10000-byte request line is 414" grep -q '^HTTP/1.1 414 ' <<<"$out"
out=$(raw "b'GET / HTTP/1.1\r\nHost: x\r\n' + b''.join(b'X-Pad-%d: %s\r\n' % (i, b'y' * 100) for i in range(100)) + b'\r\n'")
check "10 KiB of header fields is 431" grep -q '^HTTP/1.1 431 ' <<<"$out"
code=$(status_of /dev/null -H "X-Big: $(head -c 7000 /dev/zero | tr '\0' z)" "$URL/www/hello.txt")
check_eq "a 7000-byte header field (under 8 KiB in all) is fine" "$code" 200

# --- 50 clients at once ---
cat >"$TEST_TMP/fifty.py" <<'PY'
import sys, threading, http.client
host, ok = sys.argv[1], []
def get():
    c = http.client.HTTPConnection(host, 80, timeout=20)
    c.request("GET", "/www/hello.txt")
    r = c.getresponse()
    ok.append(r.status == 200 and r.read() == b"hello over tapir\n")
    c.close()
ts = [threading.Thread(target=get) for _ in range(50)]
for t in ts: t.start()
for t in ts: t.join()
print(sum(ok))
PY
out=$(bounded 40 python3 "$TEST_TMP/fifty.py" "$TAPIR_IP")
check_eq "50 concurrent clients (http.client) all get the file" "$out" 50

# --- a 10 MiB file ---
t0=$(date +%s%N)
code=$(status_of "$TEST_TMP/10m.out" "$URL/www/10m.bin")
t1=$(date +%s%N)
check_eq "GET /www/10m.bin is 200" "$code" 200
check_eq "the 10 MiB come back byte-exact (sha256)" "$(sha256sum <"$TEST_TMP/10m.out" | cut -c1-64)" \
    "$(sha256sum <"$WWW/10m.bin" | cut -c1-64)"
diag "10 MiB over HTTP in $(( (t1 - t0) / 1000000 )) ms"
rm -f "$TEST_TMP/10m.out"

# --- the file download service (--files) on 2020 ---
out=$(bounded 20 python3 "$TAPIR_ROOT/tests/integration/file_proto.py" get "$TAPIR_IP" 2020 f.txt \
    -o "$TEST_TMP/f.out" 2>&1)
check "--files: file_proto.py gets f.txt from port 2020 byte-exact" cmp -s "$TEST_TMP/f.out" "$TEST_TMP/files/f.txt"
cmp -s "$TEST_TMP/f.out" "$TEST_TMP/files/f.txt" || diag "$out"

# --- the request that never completed ---
wait "$slow_pid"
read -r secs rest <"$TEST_TMP/slow.out"
if [[ "${secs:-}" =~ ^[0-9.]+$ ]] && [ "${secs%.*}" -ge 9 ] && [ "${secs%.*}" -le 14 ] &&
    [ "$rest" = "b''" ]; then
    ok "a request that never completes is cut off after 10 s ($secs s)"
else
    not_ok "a request that never completes is cut off after 10 s"
    diag <"$TEST_TMP/slow.out"
fi

check "tapir logs a line per request" grep -qE '^http: 10\.0\.0\.1:[0-9]+ "GET /www/10m.bin HTTP/1.1" 200 10485760$' "$TAPIR_OUT"
check_tapir_stopped_cleanly

# --- http_server on a directory of its own ---
srv=$TEST_TMP/http_server.out
if start_app "$srv" "serving" "$BIN/http_server" --dir "$WWW" --tap tap0 --ip "$TAPIR_IP/24"; then
    ok "http_server starts on tap0"
    code=$(status_of "$TEST_TMP/list.html" "$URL/")
    check_eq "http_server: / is 200" "$code" 200
    check "http_server: / is an index page with links to the files" \
        bash -c "grep -q 'href=\"hello.txt\"' '$TEST_TMP/list.html' && grep -q 'href=\"sub/\"' '$TEST_TMP/list.html'"
    check_eq "http_server: /sub is 301 to /sub/" \
        "$(bounded 20 curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$URL/sub")" "301 $URL/sub/"
    check_eq "http_server: /sub/ is its index.html" "$(bounded 20 curl -s "$URL/sub/")" "<h1>sub's index</h1>"
    check_eq "http_server: //etc/passwd is not /etc/passwd (404)" \
        "$(status_of /dev/null --path-as-is "$URL//etc/passwd")" 404
    check_eq "http_server: /hello.txt" "$(bounded 20 curl -s "$URL/hello.txt")" "hello over tapir"
    stop_app
    check_eq "http_server exits 0 on SIGTERM" "$APP_RC" 0
    check "http_server: no sanitizer report" \
        bash -c "! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' '$srv.err'"
else
    not_ok "http_server starts on tap0"
fi
"$BIN/http_server" --dir /nonexistent >/dev/null 2>"$TEST_TMP/hs.err"
check_eq "http_server --dir /nonexistent exits 2" "$?" 2
"$TAPIR" --tap tap0 --ip "$TAPIR_IP/24" --www /nonexistent >/dev/null 2>"$TEST_TMP/www.err"
check_eq "tapir --www /nonexistent exits 2" "$?" 2

done_testing
