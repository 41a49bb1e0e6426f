/*
 * /init: PID 1 of every node (node.md §1). A static C reaper, so the Deno agent never has to be
 * PID 1 and never races a waitpid(-1) loop against its own child handling.
 *
 *  - opens the consoles (/dev/tty0, /dev/ttyS0, /dev/ttyS1 where present); with `--` (namespace
 *    nodes, tests) it writes only to stderr, so it never scribbles on the host's consoles;
 *  - prints one banner line with the OS version (-DMETROPOLIS_VERSION, default "dev");
 *  - blocks all signals and forks the agent (child: setsid, unblock all but SIGUSR1, exec): Deno
 *    (since 2.9.2) opens its inspector, an unauthenticated debugger on 127.0.0.1:9229, when it
 *    receives SIGUSR1, and there is no flag to turn that off. Blocked, the signal is never
 *    delivered to any of the agent's threads; the processes it spawns start with an empty mask
 *    (Rust's process spawning resets it).
 *  - loops on sigwait: SIGCHLD -> reap everything with waitpid(-1, WNOHANG); any other signal ->
 *    forwarded to the agent alone. Not to its process group, which holds every process the agent
 *    spawned: the agent stops those itself, in order (etcd only after the curator resigned its
 *    leadership through it), and a signal to all of them at once undid that order;
 *  - when the agent exits: prints `init: agent exited: <status>`, sync(), sleeps 1 s and calls
 *    reboot(RB_AUTOBOOT). Inside a PID namespace that ends the namespace (its parent sees init
 *    killed by SIGHUP).
 *
 * Usage: init [-- argv...]
 *   Without arguments the built-in agent command runs with exactly DENO_DIR=/ephemeral/deno,
 *   NO_COLOR=1, DENO_NO_UPDATE_CHECK=1 and PATH (no HOME). With `--`, argv[0] after it must be an
 *   absolute path (no PATH search); the environment is inherited minus HOME, plus NO_COLOR=1 and
 *   DENO_NO_UPDATE_CHECK=1, and only stderr serves as console.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef METROPOLIS_VERSION
#define METROPOLIS_VERSION "dev"
#endif

static int consoles[3];
static int nconsoles;

/* Writes one formatted line to every console (or stderr). */
static void say(const char *fmt, ...) {
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n > (int)sizeof(buf) - 2) n = sizeof(buf) - 2;
	buf[n++] = '\n';
	for (int i = 0; i < nconsoles; i++) {
		ssize_t off = 0;
		while (off < n) {
			ssize_t w = write(consoles[i], buf + off, n - off);
			if (w < 0 && errno == EINTR) continue;
			if (w <= 0) break;
			off += w;
		}
	}
}

static void open_consoles(int namespace_mode) {
	if (!namespace_mode) {
		/* The kernel may not have mounted devtmpfs (no CONFIG_DEVTMPFS_MOUNT): try once. */
		if (access("/dev/null", F_OK) != 0) mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
		/* Deno needs /proc/self/exe to start at all; the agent's bring-up mounts the rest. */
		if (access("/proc/self", F_OK) != 0)
			mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
		static const char *const paths[] = {"/dev/tty0", "/dev/ttyS0", "/dev/ttyS1"};
		for (unsigned i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
			int fd = open(paths[i], O_WRONLY | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
			if (fd < 0) continue;
			/* Back to blocking so lines are not cut; O_NONBLOCK only avoided hanging on open. */
			fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
			consoles[nconsoles++] = fd;
		}
	}
	if (nconsoles == 0) consoles[nconsoles++] = 2;
}

#ifndef AGENT_ARGV
#error "AGENT_ARGV must be defined (build with os-image/init/build.ts)"
#endif

static void describe(int status, char *out, size_t len) {
	if (WIFEXITED(status))
		snprintf(out, len, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, len, "killed by signal %d (%s)%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
		         WCOREDUMP(status) ? ", core dumped" : "");
	else
		snprintf(out, len, "status 0x%x", status);
}

int main(int argc, char **argv) {
	/* AGENT_ARGV comes from node/base/osimage/agent.ts (os-image/init/build.ts passes it). */
	static char *const builtin_argv[] = {AGENT_ARGV, NULL};
	static char *const agent_env[] = {
	    "DENO_DIR=/ephemeral/deno",
	    "NO_COLOR=1",
	    "DENO_NO_UPDATE_CHECK=1",
	    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	    NULL,
	};
	char *const *agent_argv = builtin_argv;
	int namespace_mode = 0;
	/* Without `--`, arguments are ignored: the kernel passes unknown command-line words here. */
	if (argc > 1 && strcmp(argv[1], "--") == 0) {
		if (argc < 3) {
			fprintf(stderr, "init: usage: %s [-- agent argv...]\n", argv[0]);
			return 2;
		}
		agent_argv = argv + 2;
		namespace_mode = 1;
	}
	/* reboot(2) outside a PID namespace would restart the machine: only ever run as PID 1. */
	if (getpid() != 1) {
		fprintf(stderr, "init: must run as PID 1 (e.g. under unshare --pid --fork), not pid %d\n",
		        (int)getpid());
		return 2;
	}

	open_consoles(namespace_mode);
	say("init: Metropolis %s starting (pid %d)", METROPOLIS_VERSION, (int)getpid());

	sigset_t all;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, NULL);

	pid_t agent = fork();
	if (agent < 0) {
		say("init: fork failed: %s", strerror(errno));
		sync();
		reboot(RB_AUTOBOOT);
		return 1;
	}
	if (agent == 0) {
		setsid();
		sigset_t agent_mask;
		sigemptyset(&agent_mask);
		sigaddset(&agent_mask, SIGUSR1);
		sigprocmask(SIG_SETMASK, &agent_mask, NULL);
		/* Default dispositions: none were changed, blocking is all we did. */
		if (namespace_mode) {
			/* The launcher's environment (DENO_DIR, PATH) stays; colour, update checks and HOME go. */
			setenv("NO_COLOR", "1", 1);
			setenv("DENO_NO_UPDATE_CHECK", "1", 1);
			unsetenv("HOME");
			execv(agent_argv[0], agent_argv);
		} else {
			execve(agent_argv[0], agent_argv, agent_env);
		}
		say("init: exec %s failed: %s", agent_argv[0], strerror(errno));
		_exit(127);
	}

	for (;;) {
		int sig;
		if (sigwait(&all, &sig) != 0) continue;
		if (sig != SIGCHLD) {
			kill(agent, sig);
			continue;
		}
		for (;;) {
			int status;
			pid_t p = waitpid(-1, &status, WNOHANG);
			if (p <= 0) break;
			if (p != agent) continue;
			char desc[96];
			describe(status, desc, sizeof(desc));
			say("init: agent exited: %s", desc);
			sync();
			sleep(1);
			reboot(RB_AUTOBOOT);
			say("init: reboot failed: %s", strerror(errno));
			return 1;
		}
	}
}
