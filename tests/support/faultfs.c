/* A fault-injecting shim for the node's state files, loaded with LD_PRELOAD by tests.
 *
 * Calls on file descriptors whose path starts with $FAULTFS_DIR consult the
 * control file $FAULTFS_CONTROL (re-read at most every 50 ms) and act on its
 * first word:
 *   (empty)   nothing: the call goes through
 *   eio       write, pwrite, fsync and fdatasync fail with EIO
 *   erofs     the same with EROFS, as a file system remounted read-only
 *   enospc    the same with ENOSPC, as a full file system: write fails, and so
 *             does fsync (delayed allocation, thin provisioning and NFS report
 *             a full disk there, after write seemed to work)
 *   slow:MS   fsync and fdatasync take MS milliseconds more, then go through
 * Everything else (sockets, other files) is untouched.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

static char mode[64];
static struct timespec read_at;

static int ours(int fd) {
    const char *dir = getenv("FAULTFS_DIR");
    if (!dir || !*dir) return 0;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    size_t len = strlen(dir);  /* the folder itself or what is inside it, not a sibling "dir.log" */
    return strncmp(path, dir, len) == 0 && (path[len] == '/' || path[len] == 0);
}

static const char *current(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - read_at.tv_sec) * 1000 + (now.tv_nsec - read_at.tv_nsec) / 1000000;
    if (ms >= 50 || (read_at.tv_sec == 0 && read_at.tv_nsec == 0)) {
        read_at = now;
        mode[0] = 0;
        const char *control = getenv("FAULTFS_CONTROL");
        int (*real_open)(const char *, int, ...) = dlsym(RTLD_NEXT, "open");
        if (control && real_open) {
            int fd = real_open(control, O_RDONLY);
            if (fd >= 0) {
                ssize_t (*real_read)(int, void *, size_t) = dlsym(RTLD_NEXT, "read");
                ssize_t n = real_read(fd, mode, sizeof mode - 1);
                mode[n > 0 ? n : 0] = 0;
                close(fd);
                char *end = strpbrk(mode, " \n\r\t");
                if (end) *end = 0;
            }
        }
    }
    return mode;
}

/* The errno to fail a write or fsync of fd with, or 0. */
static int fail_writes(int fd) {
    const char *m = current();
    int err = strcmp(m, "eio") == 0 ? EIO : strcmp(m, "erofs") == 0 ? EROFS
            : strcmp(m, "enospc") == 0 ? ENOSPC : 0;
    return err && ours(fd) ? err : 0;
}

static void maybe_slow(int fd) {
    const char *m = current();
    if (strncmp(m, "slow:", 5) == 0 && ours(fd)) usleep((useconds_t)atoi(m + 5) * 1000);
}

ssize_t write(int fd, const void *buf, size_t count) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = dlsym(RTLD_NEXT, "write");
    int err = fail_writes(fd);
    if (err) { errno = err; return -1; }
    return real(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = dlsym(RTLD_NEXT, "pwrite");
    int err = fail_writes(fd);
    if (err) { errno = err; return -1; }
    return real(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real) real = dlsym(RTLD_NEXT, "pwrite64");
    int err = fail_writes(fd);
    if (err) { errno = err; return -1; }
    return real(fd, buf, count, offset);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fsync");
    int err = fail_writes(fd);
    if (err) { errno = err; return -1; }
    maybe_slow(fd);
    return real(fd);
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (!real) real = dlsym(RTLD_NEXT, "fdatasync");
    int err = fail_writes(fd);
    if (err) { errno = err; return -1; }
    maybe_slow(fd);
    return real(fd);
}
