"""
test_leak_filter.py - the harness's judgement of sanitizer leak reports
(harness/leaks.py), on real reports from this project's CI.

The sanitizer round fails a test on any LeakSanitizer report in the
daemon's log, except paho 1.3.12's own leaks (eclipse-paho #1474, and its
heap tracker dropped when the last client is destroyed). That exception
must stay narrow: a block our code allocates must still fail the test. No
process runs here: the filter is a pure function on the report's text.
"""

from harness import paho_only_leaks, sanitizer_report

HEAD = "==23842==ERROR: LeakSanitizer: detected memory leaks\n\n"
TAIL = "\nSUMMARY: AddressSanitizer: 96 byte(s) leaked in 2 allocation(s).\n"
MALLOC = "    #0 0x7f13092b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69\n"
PAHO = "    #%d 0x7f13099a%04x  (/lib/x86_64-linux-gnu/libpaho-mqtt3as.so.1+0x%x)\n"

# paho's own thread: every frame in paho or the thread start (#1474)
ON_PAHO_THREAD = ("Indirect leak of 48 byte(s) in 1 object(s) allocated from:\n" + MALLOC +
                  "".join(PAHO % (i, i, 0x18a2d + i) for i in range(1, 7)) +
                  "    #7 0x7f13090a71f4 in start_thread nptl/pthread_create.c:442\n"
                  "    #8 0x7f13091278eb in clone3 ../sysdeps/unix/sysv/linux/x86_64/clone3.S:81\n")
# the CI of 2026-12-03: paho's tree node, made inside MQTTAsync_createWithOptions
# called from mqtt_link_lost, dropped when paho terminated
TREE_NODE_ON_OUR_THREAD = ("Indirect leak of 48 byte(s) in 1 object(s) allocated from:\n" + MALLOC +
                           "".join(PAHO % (i, i, 0x18a2d + i) for i in range(1, 7)) +
                           "    #7 0x7f1309993066 in MQTTAsync_createWithOptions "
                           "(/lib/x86_64-linux-gnu/libpaho-mqtt3as.so.1+0x9066)\n"
                           "    #8 0x5576962fe47a in mqtt_client_create gateway/mqtt.c:102\n"
                           "    #9 0x5576962feccf in mqtt_link_lost gateway/mqtt.c:337\n"
                           "    #10 0x5576962c325a in main gateway/main.c:221\n")
# a client we asked paho for and never destroyed: malloc <- paho's wrapper <- the API <- ours
OUR_CLIENT = ("Direct leak of 1200 byte(s) in 1 object(s) allocated from:\n" + MALLOC +
              PAHO % (1, 1, 0x18a2d) +
              "    #2 0x7f1309993066 in MQTTAsync_createWithOptions "
              "(/lib/x86_64-linux-gnu/libpaho-mqtt3as.so.1+0x9066)\n"
              "    #3 0x5576962fe47a in mqtt_client_create gateway/mqtt.c:102\n"
              "    #4 0x5576962c325a in main gateway/main.c:221\n")
# our own code calling malloc
OURS = ("Direct leak of 64 byte(s) in 1 object(s) allocated from:\n" + MALLOC +
        "    #1 0x5576962fe47a in outq_push gateway/outq.c:300\n"
        "    #2 0x5576962c325a in main gateway/main.c:221\n")


def report(*blocks):
    return HEAD + "\n".join(blocks) + TAIL


def test_paho_thread_and_tree_node_leaks_are_paho_s():
    rep = report(ON_PAHO_THREAD, TREE_NODE_ON_OUR_THREAD)
    assert paho_only_leaks(rep)
    assert sanitizer_report("mqttgw: info: x\n" + rep) is None


def test_a_leak_of_ours_still_fails():
    for blk in (OURS, OUR_CLIENT):
        rep = report(ON_PAHO_THREAD, blk)
        assert not paho_only_leaks(rep), blk
        got = sanitizer_report("mqttgw: info: x\n" + rep)
        assert got and "LeakSanitizer" in got and blk.splitlines()[0] in got, got


def test_an_address_error_is_never_excused():
    rep = report(ON_PAHO_THREAD).replace("ERROR: LeakSanitizer", "ERROR: AddressSanitizer: heap-use-after-free")
    assert not paho_only_leaks(rep)
    assert sanitizer_report(rep)
