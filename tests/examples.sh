#!/bin/bash
# Smoke-run the examples as a user would, checking what they print.
# Prints PASS/FAIL lines and "N passed, N failed" like the test binaries.
set -u
BUILD=${BUILD:-build}
ex=$BUILD/examples
passed=0
failed=0
# Start a server example in the background on a free port: sets pid, log
# and port (empty when it never said where it listens).
start_server() { # name args...
    log=$(mktemp)
    timeout 20 "$ex/$1" "${@:2}" >"$log" 2>&1 &
    pid=$!
    port=""
    for _ in $(seq 1 100); do
        port=$(sed -n "s/^$1: listening on 127\.0\.0\.1:\([0-9]*\)\$/\1/p" "$log")
        [ -n "$port" ] && break
        sleep 0.05
    done
}
result() { # name status
    if [ "$2" -eq 0 ]; then echo "PASS $1"; passed=$((passed + 1)); else echo "FAIL $1"; failed=$((failed + 1)); fi
}

out=$(timeout 20 "$ex/hello" 2>&1)
echo "$out" | grep -q "sum of squares 1..10 = 385"
result hello $?

out=$(timeout 20 "$ex/quickstart" 2>&1)
[ "$out" = "49" ]
result quickstart $?

out=$(timeout 20 "$ex/timeout" 2>&1)
echo "$out" | grep -q "timed out, as expected" && echo "$out" | grep -q "the answer is 42"
result timeout $?

out=$(timeout 20 "$ex/interval" 4 10 2>&1)
[ "$(echo "$out" | grep -c '^tick ')" -eq 4 ] && echo "$out" | grep -q "tick 3 at +30 ms"
result interval $?

out=$(timeout 20 "$ex/workers" 8 3 2>&1)
echo "$out" | grep -q "done: 8 jobs, at most 3 at once, sum of squares = 204" &&
    echo "$out" | grep -q "watchdog: told to stop"
result workers $?

# echo: serve one connection on a free port, echo a line back.
start_server echo 127.0.0.1:0 --once
ok=1
if [ -n "$port" ] && exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    printf 'hello, weft\n' >&3
    if IFS= read -r -t 10 line <&3 && [ "$line" = "hello, weft" ]; then ok=0; fi
    exec 3>&-
fi
wait "$pid"
[ $? -eq 0 ] || ok=1
rm -f "$log"
result echo $ok

# lines: one client: a greeting, an answer per line, an overlong line
# refused, then the idle timeout says goodbye and closes (the example exits).
start_server lines 127.0.0.1:0 --once --idle 300
ok=1
if [ -n "$port" ] && exec 3<>"/dev/tcp/127.0.0.1/$port"; then
    long=$(printf 'x%.0s' $(seq 1 200))
    printf 'hello\n%s\nweft\n' "$long" >&3
    got=""
    while IFS= read -r -t 10 line <&3; do got="$got$line|"; done
    exec 3>&-
    case "$got" in
    "* hello:"*"|5: hello|! line too long (max 128 bytes)|4: weft|* idle for 300 ms, bye|") ok=0 ;;
    *) echo "    lines said: $got" ;;
    esac
fi
wait "$pid"
[ $? -eq 0 ] || ok=1
rm -f "$log"
result lines $ok

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
