"""Chaos benchmark (issue 18, "Proof beyond examples"): the real bot under random faults, then invariants.

    python -m bench.chaos [--minutes 5] [--seed 1] [--database postgres|sqlite] [--threads 24] [--kills N]
                          [--log-level DEBUG|INFO] [--out DIR]

`python -m bot` runs as a subprocess (LOG_LEVEL=DEBUG by default, PROVIDER_TIMEOUT_S=3, HEALTH_PORT=0)
against the loopback emulators in this process: Discord with two servers of three channels, aBLT, Magic AI,
Soundverse, Convai (voice replies off) and Agentverse, and a throwaway PostgreSQL database whose URL carries
a password (or, with `--database sqlite`, a SQLite file). `--threads` members each open a thread with `/chat`
(aBLT most, then the others in turn) and talk in it for `--minutes`, a message every few seconds once the
last was answered, each message with a unique canary word; now and then a member presses Stop on a reply
being written or Retry on a failure line (bench/chaos/members.py).

Meanwhile faults are injected at random, seeded by `--seed` (bench/chaos/script.py for provider answers,
bench/chaos/injectors.py for the rest): provider errors (500, 503, 429, Convai's 404), stalls past the timeout
before or during a stream, cut-off and malformed streams and bodies, replies of twenty Discord messages, an
SSE line of 200 KB; Discord 5xx and proxy 503s, shared and per-route 429s, writes that hang past the bot's 20
s read timeout or whose answer is lost after Discord made the message (channel messages and interaction
followups), gateway drops and op 7 reconnects; the database's connections terminated and its transcript table
locked (SQLite: the file's write lock held, sometimes past the busy timeout); Agentverse polls failing,
hanging or broken and its tokens expiring; and a `kill -9` of the bot (once under 2 minutes, else once or
twice), restarted 1-4 s later. Members hold their messages while the bot is down: Discord delivers nothing to
a bot that is not connected.

Then members stop (their last turns may still finish, faults stopped, for up to 5 minutes), the bot is
stopped with SIGTERM, and the invariants are printed as a table (bench/chaos/invariants.py): turns sent,
answered (a provider call's whole text shown), told why (a ⚠️ or ⏹️ line, a Stopped-by or cut-reply note,
a private answer), LOST (must be 0), duplicates (a reply's tag starting two messages, or a turn answered
twice), transcript entries left `streaming`, every secret (bot token, provider keys, every Agentverse token
handed out, every interaction token, the database password plain and %-encoded), every canary word and
every provider reply's tag searched in every log, peak RSS and event-loop lag p99 over all processes; then
the faults injected by kind. A lost turn is listed with its provider calls, what its thread last showed and
the faults injected around it; `threads.txt` in the output folder shows every thread as members saw it.
Choices are seeded, but timing is not: two runs with one seed inject the same kinds in the same order and
still differ in what each fault meets.
"""
