"""
ledger.py - the soak's bookkeeping of numbered messages, one Stream per
direction and port (frames pty -> MQTT, commands MQTT -> pty).

Every message the soak sends carries its sequence number (1, 2, ... per
stream), so what arrives can be judged on its own, without timing:

  lost        sent, never arrived (must be 0 at QoS 1, checked at the end
              after the drain)
  duplicated  arrived again (QoS 1 may redeliver: counted, allowed)
  reordered   a first arrival numbered below an earlier first arrival:
              per-port order must hold apart from redelivery, so only
              repeats may go backwards
  invented    a number never sent, or a body that is not the one sent

Pure bookkeeping, no I/O, so the rules can be read in one place.
"""


class Stream:
    """One ordered stream of numbered messages."""

    def __init__(self, name):
        self.name = name
        self.sent = 0           # numbers 1..sent were sent
        self.seen = set()       # numbers that arrived at least once
        self.top = 0            # highest number that arrived (first arrivals)
        self.arrivals = 0       # every arrival, repeats included
        self.dups = 0
        self.reordered = 0
        self.invented = 0
        self.examples = []      # the first few problems, for the report

    def next(self):
        """The number of the next message to send (counted as sent)."""
        self.sent += 1
        return self.sent

    def _note(self, text):
        if len(self.examples) < 5:
            self.examples.append("%s: %s" % (self.name, text))

    def got(self, seq, intact=True):
        """Record an arrival of message seq (intact: its body is the one sent)."""
        self.arrivals += 1
        if seq < 1 or seq > self.sent or not intact:
            self.invented += 1
            self._note("arrived %r, never sent so (sent 1..%d)" % (seq, self.sent))
            return
        if seq in self.seen:
            self.dups += 1
            return
        self.seen.add(seq)
        if seq < self.top:
            self.reordered += 1
            self._note("%d arrived first after %d" % (seq, self.top))
        else:
            self.top = seq

    @property
    def received(self):
        """Distinct messages that arrived."""
        return len(self.seen)

    def outstanding(self):
        return self.sent - len(self.seen)

    def missing(self, limit=10):
        """The first numbers sent that never arrived."""
        out = []
        for s in range(1, self.sent + 1):
            if s not in self.seen:
                out.append(s)
                if len(out) >= limit:
                    break
        return out


def totals(streams):
    """Sums over streams: sent, received (distinct), lost, dups, reordered, invented."""
    t = dict(sent=0, received=0, lost=0, dups=0, reordered=0, invented=0)
    for s in streams:
        t["sent"] += s.sent
        t["received"] += s.received
        t["lost"] += s.outstanding()
        t["dups"] += s.dups
        t["reordered"] += s.reordered
        t["invented"] += s.invented
    return t
