/*
 * gpiosim_core.h - the simulated GPIO "kernel" (gpiosim_core.c) and its
 * control socket (gpiosim_ctl.c) that both GPIO stand-ins share:
 * lib_gpiosim.c (the libgpiod 1.6 API) and lib_gpiosim2.c (the 2.x API)
 * are thin flavours over it, so one control socket protocol, one trace
 * format and one set of line semantics serve both, and one test suite
 * drives the daemon on either libgpiod (tests/sim/README.md).
 *
 * The core knows nothing of libgpiod: a request is a struct sim_req in
 * plain terms, an edge event is a struct gpioevent_data (kernel v1 ABI) on
 * a socket pair whose read end is the event fd a flavour hands out. Every
 * sim_line field is guarded by sim_lock.
 */
#ifndef MQTTGW_GPIOSIM_CORE_H
#define MQTTGW_GPIOSIM_CORE_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#define SIM_NAMELEN 32
#define SIM_FIFO 16		/* events a line holds before dropping, as the kernel */

enum sim_dir { SIM_DIR_AS_IS, SIM_DIR_INPUT, SIM_DIR_OUTPUT };
enum sim_edge { SIM_EDGE_NONE, SIM_EDGE_RISING, SIM_EDGE_FALLING, SIM_EDGE_BOTH };
enum sim_bias { SIM_BIAS_AS_IS, SIM_BIAS_DISABLE, SIM_BIAS_PULL_UP, SIM_BIAS_PULL_DOWN };

struct sim_line {
	unsigned int offset;
	char name[SIM_NAMELEN];
	int ext;			/* driven from outside: -1 floating, 0, 1 */
	int out;			/* the pin is an output (stays so after release) */
	int outval;			/* physical level the output drives */
	int pull;			/* -1 none, 0 pull-down, 1 pull-up */
	int used;			/* requested through this library */
	char foreign[SIM_NAMELEN];	/* held by another consumer, "" if not */
	char consumer[SIM_NAMELEN];
	int edge, bias, active_low;	/* of the request (enum sim_edge, sim_bias) */
	unsigned long debounce_us;	/* the kernel's debounce (libgpiod 2), 0 none */
	int db_level;			/* debounced physical level */
	uint64_t db_due;		/* monotonic ns the level is confirmed, 0 none */
	int evt_w, evt_r;		/* event socket pair while requested for events */
	int last;			/* physical level at the last edge check */
	unsigned long events, dropped, requests;
};

struct sim_chip {
	char name[SIM_NAMELEN];
	char label[SIM_NAMELEN];
	unsigned int num_lines;
	struct sim_line *lines;
};

/* A request in plain terms (initial is logical). */
struct sim_req {
	const char *consumer;
	enum sim_dir dir;
	int initial;
	enum sim_edge edge;		/* SIM_EDGE_NONE: no event fd */
	enum sim_bias bias;
	int active_low;
	unsigned long debounce_us;
};

extern pthread_mutex_t sim_lock;
extern struct sim_chip *sim_chips;
extern unsigned int sim_nchips;
extern unsigned long sim_open_chips;

/* Under sim_lock: */
int sim_phys(const struct sim_line *l);
int sim_active_low(const struct sim_line *l);
void sim_changed(struct sim_line *l);
/* The logical value a request reads (the debounced level when debounced). */
int sim_read(struct sim_line *l);

/* Without the lock held: */
struct sim_chip *sim_chip_find(const char *s);	/* by name, /dev/NAME or label */
/* Serve the control socket from this process (call on the first chip open). */
void sim_ensure_server(void);
/*
 * Request l: 0, with the event fd (or -1) in *evt_fd; -1 with errno EBUSY
 * (held), EINVAL (debounce refused: MQTTGW_GPIOSIM_DEBOUNCE=0) or a
 * socketpair error.
 */
int sim_claim(struct sim_line *l, const struct sim_req *r, int *evt_fd);
void sim_unclaim(struct sim_line *l);
/* Who holds l (the consumer), "" if free; is it held at all. */
void sim_holder(struct sim_line *l, char *buf, size_t len, int *used);
/* The library version to report: MQTTGW_GPIOSIM_VERSION, else dflt. */
const char *sim_version(const char *dflt);
/* Monotonic time in ns. */
uint64_t sim_now_ns(void);

/* ---- between the core and the control socket (gpiosim_ctl.c) ---- */
extern pthread_cond_t sim_cond;		/* broadcast on every change, with sim_lock */
/* Under sim_lock: confirm debounced levels due by now; the next due (ns) or 0. */
uint64_t sim_debounce_run(uint64_t now);
int sim_parse_long(const char *s, long min, long max, long *out);
struct sim_line *sim_line_find(struct sim_chip *c, const char *s);	/* offset or name */
void sim_ctl_init(void);	/* at load: fork handlers */
void sim_ctl_fini(void);	/* at unload: stop the thread */

#endif
