"""
test_crash_states.py - power cuts, the way storage engines prove crash
consistency (ALICE, CrashMonkey): record what the real daemon does to its
journals, build every state a power cut could leave on the card, restart
the real daemon on each state against a real broker, and check what the
subscriber gets (issue 18, point 1; buffer.sync in mqttgw.cfg(5)).

Recording: tests/sim/lib_fsrec.so, preloaded into the daemon, logs every
open, write/pwrite (with its bytes and offset), ftruncate, fsync/fdatasync,
rename, unlink and close on buffer.dir and the files in it, while the
daemon runs QoS 1 SEQ frames from a pty through a broker that is stopped
and started (so that outq.journal fills, is acknowledged, emptied and
rewritten) and while lines arrive split across reads (so that rx-MOT01 is
cut back to a partial frame through rx-MOT01.new and a rename).

The power-cut model (conservative, subset-free): after the first k
operations, every object (each file's data, and the directory's names)
holds everything done to it so far, or only what its last fsync/fdatasync
made durable, or any of its last 8 steps since then (fdatasync of a file does not make a rename or
a new name durable: only an fsync of the directory does), each object
independently; and the last write may be torn at any 512-byte boundary of
the file, or half way. A state is one such choice; identical states are
tried once. rx-MOT01.read (written through a mapping, unseen by the
recorder) is replaced in every state by a slot that claims a landed read of
"SEQ 999999" from another boot: whatever the card kept of the mapping, it
must not come back.

Oracle, from the same log: a frame is "kept" once the daemon cut the bytes
it came from out of rx-MOT01 (it then relies on outq.journal alone), and
"acknowledged" once outq.journal recorded it done (a D record, the file
emptied or rewritten without it: the broker had it). With buffer.sync =
batch or always, every state must give, after a restart on it:
  * no frame that was not written to the pty (nothing invented: a torn
    record or the stale slot replayed as data would show here);
  * first arrivals in order (a duplicate may come, never out of order);
  * every kept, unacknowledged frame;
  * a daemon that starts, connects and keeps running.
With buffer.sync = none only the first and last are asserted; the states
that lose kept frames or replay them out of order are counted (that is what
"none" costs).

Time: states are sampled (seeded, so a failure reproduces) to stay within
about a minute; MQTTGW_CRASH_STATES=all tries every state (several
minutes), MQTTGW_CRASH_STATES=N tries N per setting.
"""
import os
import random
import re
import shutil
import struct
import time

import harness
from harness import Broker, Gateway, Pty, Sub, gateway_config, serial_dev, tmppath, wait_until

TIMEOUT = 240

TOPIC = "S013/MOT01/SEND"
SEQ_RE = re.compile(r"^SEQ (\d{6})$")
LINE_RE = re.compile(rb"SEQ (\d{6})\r\n")
FSREC = os.path.join(harness.BUILD, "sim", "lib_fsrec.so")
STALE = 999999


def figure(fmt, *args):
    print("FIGURE " + (fmt % args if args else fmt), flush=True)


def frames(a, b):
    return b"".join(b"SEQ %06d\r\n" % i for i in range(a, b + 1))


def config(broker, pty, bufdir, sync):
    cfg = gateway_config(broker, serial=[serial_dev("MOT01", pty.path)],
                         routes=[{"from": "serial:MOT01", "to": "mqtt:${station}/MOT01/SEND",
                                  "qos": 1}],
                         mqtt={"keepalive": 5, "clean_session": False, "reconnect_min_ms": 100,
                               "reconnect_max_ms": 500})
    cfg["buffer"] = {"dir": bufdir, "sync": sync}
    return cfg


# --------------------------------------------------------------------------
# the recording


def parse_log(path):
    """lib_fsrec's log as a list of tuples."""
    data = open(path, "rb").read()
    ops, i = [], 0
    while i < len(data):
        nl = data.index(b"\n", i)
        f = data[i:nl].decode().split(" ")
        i = nl + 1
        if f[0] == "W":
            n = int(f[3])
            ops.append(("W", int(f[1]), int(f[2]), data[i:i + n]))
            i += n
        elif f[0] == "O":
            ops.append(("O", int(f[1]), f[2] == "1", f[3] == "1", f[4]))
        elif f[0] in ("T",):
            ops.append(("T", int(f[1]), int(f[2])))
        elif f[0] in ("S", "C"):
            ops.append((f[0], int(f[1])))
        elif f[0] == "R":
            ops.append(("R", f[1], f[2]))
        elif f[0] == "U":
            ops.append(("U", f[1]))
    return ops


class Trace:
    """The recorded operations as (object, op) steps: object "dir" (names)
    or a file id; the oracle's sets after each step."""

    def __init__(self, raw):
        self.steps = []            # (obj, op)
        fds, names, nid = {}, {}, [0]
        content = {}               # full state, to follow the oracle
        seq_frame = {}             # outq seq -> frame number
        acked, dropped = set(), set()
        self.kept_after = []       # per step: frames kept and not acknowledged
        self.sent = 0

        def new_file():
            nid[0] += 1
            content[nid[0]] = bytearray()
            return nid[0]

        def step(obj, op):
            self.steps.append((obj, op))

        def outq_live(buf):
            live, j = set(), 0
            while j + 5 <= len(buf):
                t, n = buf[j:j + 1], struct.unpack_from("<I", buf, j + 1)[0]
                if j + 9 + n > len(buf):
                    break
                body = bytes(buf[j + 5:j + 5 + n])
                if t == b"M":
                    seq, tl, pl = struct.unpack_from("<QxxHI", body, 0)
                    m = SEQ_RE.match(body[20 + tl:20 + tl + pl].decode("latin-1"))
                    if m:
                        seq_frame[seq] = int(m.group(1))
                    live.add(seq)
                elif t == b"D":
                    live.discard(struct.unpack_from("<Q", body, 0)[0])
                j += 9 + n
            return live

        def rx_frames(buf):
            return set(int(m.group(1)) for m in LINE_RE.finditer(bytes(buf)))

        def note():
            oid = names.get("outq.journal")
            live = outq_live(content[oid]) if oid else set()
            acked.update(set(seq_frame) - live)
            done = set(seq_frame[s] for s in acked if s in seq_frame)
            self.kept_after.append(frozenset(dropped - done))

        for op in raw:
            kind = op[0]
            if kind == "O":
                _, fd, created, trunc, name = op
                if name == ".":
                    fds[fd] = "dir"
                    continue
                if created or name not in names:
                    fid = new_file()
                    names[name] = fid
                    step("dir", ("link", name, fid))
                    note()
                fds[fd] = names[name]
                if trunc:
                    content[names[name]][:] = b""
                    step(names[name], ("T", 0))
                    note()
            elif kind == "W":
                _, fd, off, data = op
                fid = fds[fd]
                buf = content[fid]
                if len(buf) < off:
                    buf.extend(b"\0" * (off - len(buf)))
                buf[off:off + len(data)] = data
                step(fid, ("W", off, data))
                note()
            elif kind == "T":
                _, fd, n = op
                fid = fds[fd]
                if fid == names.get("rx-MOT01"):
                    dropped.update(rx_frames(content[fid]) - rx_frames(content[fid][:n]))
                del content[fid][n:]
                if len(content[fid]) < n:
                    content[fid].extend(b"\0" * (n - len(content[fid])))
                step(fid, ("T", n))
                note()
            elif kind == "S":
                step(fds[op[1]], ("S",))
                note()
            elif kind == "R":
                _, a, b = op
                if b == "rx-MOT01" and b in names:
                    dropped.update(rx_frames(content[names[b]]) - rx_frames(content[names[a]]))
                names[b] = names.pop(a)
                step("dir", ("rename", a, b))
                note()
            elif kind == "U":
                names.pop(op[1], None)
                step("dir", ("unlink", op[1]))
                note()
            elif kind == "C":
                fds.pop(op[1], None)
        self.n = len(self.steps)

    def synced_cut(self, k):
        """{object: steps of it made durable by its last sync within the first k}"""
        cut = {}
        for i in range(k):
            obj, op = self.steps[i]
            cut.setdefault(obj, 0)
            if op[0] == "S":
                cut[obj] = i + 1
        return cut

    def state(self, k, synced_objs, torn=None, cuts=None):
        """Files after the first k steps: objects in synced_objs keep only
        what their last sync made durable, those in cuts only their steps
        before cuts[obj]; torn = bytes of step k-1 kept."""
        cut = self.synced_cut(k)
        cuts = cuts or {}
        names = {}
        files = {}
        for i in range(k):
            obj, op = self.steps[i]
            if obj in synced_objs and i >= cut.get(obj, 0):
                continue
            if obj in cuts and i >= cuts[obj]:
                continue
            last = i == k - 1
            if obj == "dir":
                if op[0] == "link":
                    names[op[1]] = op[2]
                    files.setdefault(op[2], bytearray())
                elif op[0] == "rename":
                    names[op[2]] = names.pop(op[1])
                elif op[0] == "unlink":
                    names.pop(op[1], None)
                continue
            buf = files.setdefault(obj, bytearray())
            if op[0] == "W":
                data = op[2][:torn] if last and torn is not None else op[2]
                if len(buf) < op[1]:
                    buf.extend(b"\0" * (op[1] - len(buf)))
                buf[op[1]:op[1] + len(data)] = data
            elif op[0] == "T":
                del buf[op[1]:]
                buf.extend(b"\0" * (op[1] - len(buf)))
        return {name: bytes(files.get(fid, b"")) for name, fid in names.items()
                if not name.endswith(".read")}

    def unsynced(self, k):
        """Objects with steps after their last sync, within the first k."""
        pending = set()
        for i in range(k):
            obj, op = self.steps[i]
            if op[0] == "S":
                pending.discard(obj)
            else:
                pending.add(obj)
        return pending

    def all_states(self):
        """{content key: (k, description, files)} over every crash point."""
        out = {}

        def add(k, desc, files):
            key = tuple(sorted(files.items()))
            if key not in out:
                out[key] = (k, desc, files)

        for k in range(1, self.n + 1):
            objs = self.unsynced(k)
            add(k, "all written", self.state(k, set()))
            add(k, "only synced", self.state(k, objs))
            cut = self.synced_cut(k)
            for o in objs:
                add(k, "%s synced only" % o, self.state(k, {o}))
                add(k, "only %s beyond sync" % o, self.state(k, objs - {o}))
                # every prefix of what it did since its sync (the last 8 steps), the rest whole
                mine = [i for i in range(cut.get(o, 0), k) if self.steps[i][0] == o][-8:]
                for i in mine:
                    add(k, "%s up to step %d" % (o, i), self.state(k, set(), cuts={o: i}))
            obj, op = self.steps[k - 1]
            if op[0] == "W" and len(op[2]) > 1:
                off, n = op[1], len(op[2])
                cuts = set(b - off for b in range((off // 512 + 1) * 512, off + n, 512))
                cuts.add(n // 2)
                for t in sorted(cuts):
                    add(k, "write torn at %d of %d" % (t, n), self.state(k, set(), torn=t))
        return list(out.values())


def stale_slot():
    """rx-MOT01.read claiming a landed read of SEQ 999999 from another boot."""
    data = (b"SEQ %06d\r\n" % STALE) * 4
    head = b"mqgwrd1\0" + struct.pack("<IIIIQQ", 1, len(data), len(data), 0, 0, 12345) + \
        b"not-this-boot-0000000000"[:24]
    return head + data + b"\0" * (4096 - len(data))


def record(sync, n_quiet=40):
    """Run the daemon under the recorder; returns (Trace, frames written)."""
    broker = Broker()
    pty = Pty()
    bufdir = tmppath("rec-" + sync)
    os.mkdir(bufdir, 0o700)
    log = tmppath("fsrec-%s.log" % sync)
    env = harness.preload_env(FSREC)
    env.update({"MQTTGW_FSREC_DIR": bufdir, "MQTTGW_FSREC_LOG": log})
    gw = Gateway(config(broker, pty, bufdir, sync), env=env)
    gw.wait_for_log(r"mqtt: connected to", timeout=10)
    outq = os.path.join(bufdir, "outq.journal")
    rx = os.path.join(bufdir, "rx-MOT01")
    n = 0

    def empty(path):
        return os.path.exists(path) and os.path.getsize(path) == 0

    def quiet():
        wait_until(lambda: empty(outq) and empty(rx), 15, what="the journals to empty")

    def write_split(n, whole, eol_head, eol_tail):
        """Frames n+1..n+whole, then SEQ n+whole+1 and eol_head: once that
        partial frame alone is in rx-MOT01, eol_tail ends it. Returns the
        last frame's number."""
        last = n + whole + 1
        pty.write(frames(n + 1, n + whole) + b"SEQ %06d" % last + eol_head)
        size = len(b"SEQ %06d" % last + eol_head)
        wait_until(lambda: os.path.exists(rx) and os.path.getsize(rx) == size, 10,
                   what="the partial frame alone in rx-MOT01")
        pty.write(eol_tail)
        return last

    # 1: broker up, lines split across reads (a partial frame kept via rename)
    for _ in range(6):
        n = write_split(n, 3, b"", b"\r\n")
    quiet()
    # 2: broker down: outq.journal fills
    broker.stop()
    gw.wait_for_log(r"mqtt: connection lost", timeout=10)
    for _ in range(4):
        n = write_split(n, 10, b"\r", b"\n")
    wait_until(lambda: empty(rx), 10, what="rx-MOT01 to be cut back")
    # 3: broker back: acknowledged, D records, emptied
    broker.start()
    quiet()
    # 4: a steady stream with the broker up
    for i in range(n_quiet // 10):
        pty.write(frames(n + 1, n + 10))
        n += 10
    quiet()
    gw.kill()
    broker.stop()
    return Trace(parse_log(log)), n


# --------------------------------------------------------------------------
# restarting on each state


class Rig:
    def __init__(self, sync):
        self.sync = sync
        self.broker = Broker()
        self.pty = Pty()
        self.sub = Sub(self.broker, [TOPIC])
        self.run = 0

    def try_state(self, files, n_written):
        """Restart on files; returns (frame numbers received, problems)."""
        self.run += 1
        bufdir = tmppath("state-%s-%d" % (self.sync, self.run))
        os.mkdir(bufdir, 0o700)
        for name, data in files.items():
            with open(os.path.join(bufdir, name), "wb") as f:
                f.write(data)
        with open(os.path.join(bufdir, "rx-MOT01.read"), "wb") as f:
            f.write(stale_slot())
        problems = []
        gw = Gateway(config(self.broker, self.pty, bufdir, self.sync))
        got = []
        try:
            gw.wait_for_log(r"mqtt: connected to", timeout=10)
            end = "END %d" % self.run
            self.pty.write(end.encode() + b"\r\n")
            deadline = time.monotonic() + 15
            while True:
                m = self.sub.next(timeout=max(0.0, deadline - time.monotonic()))
                if m is None:
                    problems.append("no %s within 15 s" % end)
                    break
                p = m.payload if isinstance(m.payload, str) else m.payload.decode("latin-1")
                if p == end:
                    break
                if p.startswith("END "):
                    continue            # a late copy from an earlier state
                sm = SEQ_RE.match(p)
                if not sm or not 1 <= int(sm.group(1)) <= n_written:
                    problems.append("invented frame %r" % p)
                    continue
                got.append(int(sm.group(1)))
            if not gw.running():
                problems.append("the daemon exited: %s" % gw.log_tail(5))
        except AssertionError as e:
            problems.append("did not start or connect: %s; log: %s" % (e, gw.log_tail(8)))
        finally:
            if gw.running():
                gw.kill()
        shutil.rmtree(bufdir, ignore_errors=True)
        return got, problems


def order_problem(got):
    seen, last = set(), 0
    for f in got:
        if f in seen:
            continue
        if f < last:
            return "frame %d arrived first after %d" % (f, last)
        seen.add(f)
        last = f
    return None


def how_many(total, default):
    v = os.environ.get("MQTTGW_CRASH_STATES", "")
    if v == "all":
        return total
    return min(total, int(v) if v.isdigit() else default)


def run_states(sync, sample, seed=18):
    trace, n_written = record(sync)
    states = trace.all_states()
    rng = random.Random("%s-%d" % (sync, seed))
    picked = states if sample >= len(states) else rng.sample(states, sample)
    rig = Rig(sync)
    failures, losses, dups, reordered = [], 0, 0, 0
    for k, desc, files in picked:
        got, problems = rig.try_state(files, n_written)
        must = trace.kept_after[k - 1]
        lost = sorted(must - set(got))
        op = order_problem(got)
        if op:
            problems.append(op)
        dups += len(got) - len(set(got))
        if lost:
            losses += 1
            if sync != "none":
                problems.append("kept frames lost: %s" % lost[:10])
        if op:
            reordered += 1
            if sync == "none":
                problems.remove(op)
        if problems:
            failures.append("state after step %d of %d (%s; files %s): %s" % (
                k, trace.n, desc, {n: len(d) for n, d in files.items()}, "; ".join(problems)))
    figure("crash states, buffer.sync = %s: %d operations recorded (%d frames), %d distinct "
           "power-cut states, %d tried (seed %d): %d failed; %d lost kept frames, %d replayed "
           "frames out of order, %d duplicates in all", sync, trace.n, n_written, len(states),
           len(picked), seed, len(failures), losses, reordered, dups)
    assert not failures, "%d of %d states failed, first ones:\n%s" % (
        len(failures), len(picked), "\n".join(failures[:5]))
    return losses


def test_power_cut_states_sync_batch():
    run_states("batch", how_many(10 ** 9, 45))


def test_power_cut_states_sync_always():
    run_states("always", how_many(10 ** 9, 15))


def test_power_cut_states_sync_none_invent_nothing():
    # "none" promises nothing across a power cut but what the kernel happened
    # to write (frames lost and replayed out of order are counted, not
    # asserted); it must still never invent a frame or refuse to start.
    run_states("none", how_many(10 ** 9, 15))


# --------------------------------------------------------------------------
# bad input: a journal the daemon cannot trust


def _v_record(version):
    import zlib
    r = b"V" + struct.pack("<I", 4) + struct.pack("<I", version)
    return r + struct.pack("<I", zlib.crc32(r))


def _m_record(seq, payload):
    import zlib
    topic = TOPIC.encode()
    body = struct.pack("<QBBHII", seq, 1, 0, len(topic), len(payload), 0) + topic + payload
    r = b"M" + struct.pack("<I", len(body)) + body
    return r + struct.pack("<I", zlib.crc32(r))


def test_newer_or_damaged_journal_is_set_aside_and_the_daemon_runs():
    # What a user sees: an error naming the file and where it was put, the
    # daemon up and carrying frames, the file kept for them; and the next
    # start (systemd's restart, say) meets a clean journal: no loop.
    broker = Broker()
    pty = Pty()
    sub = Sub(broker, [TOPIC])
    cases = [("newer format", _v_record(2) + _m_record(1, b"SEQ 000001"),
              r"was written by a newer mqttgw", 0),
             ("damaged", _m_record(1, b"SEQ 000001") + b"\x42" * 7 + _m_record(2, b"SEQ 000002"),
              r"is damaged \(a good record follows a bad one", 1),
             ("not a journal", b"some text an operator saved here\n",
              r"is not a journal of mqttgw", 0)]
    for i, (what, data, regex, replayed) in enumerate(cases):
        bufdir = tmppath("bad-%d" % i)
        os.mkdir(bufdir, 0o700)
        with open(os.path.join(bufdir, "outq.journal"), "wb") as f:
            f.write(data)
        gw = Gateway(config(broker, pty, bufdir, "batch"))
        m = gw.wait_for_log(r"error: buffer\.dir: \S+outq\.journal " + regex +
                            r".*set aside as (\S+outq\.journal\.bad-\d{8}T\d{6}Z)", timeout=10)
        aside = m.group(1)
        assert open(aside, "rb").read() == data, "%s: the file set aside is not the original" % what
        gw.wait_for_log(r"mqtt: connected to", timeout=10)
        for k in range(1, replayed + 1):
            sub.expect(TOPIC, "SEQ %06d" % k, timeout=10)
        pty.write(b"AFTER %d\r\n" % i)
        sub.expect(TOPIC, "AFTER %d" % i, timeout=10)
        gw.terminate()
        gw.start()
        gw.wait_for_log(r"mqtt: connected to", timeout=10)
        assert "set aside" not in gw.log_text().split("starting")[-1], \
            "%s: the second start set something aside again" % what
        assert len([n for n in os.listdir(bufdir) if ".bad-" in n]) == 1, os.listdir(bufdir)
        gw.terminate()
