/* SPDX-License-Identifier: MIT */
/* tap.c: frames to and from a Linux TAP device: IFF_TAP | IFF_NO_PI, non-blocking, every ready
 * frame read on each wake-up straight into the stack's own buffers. */
#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

int tap_open(struct tap_dev *tap, const char *name, char *msg, size_t msg_len)
{
    memset(tap, 0, sizeof(*tap));
    tap->fd = -1;
    if (strlen(name) >= IFNAMSIZ) {
        snprintf(msg, msg_len, "interface name '%s' is too long (at most %d characters)", name,
                 IFNAMSIZ - 1);
        return -EINVAL;
    }
    /* TUNSETIFF would quietly create a missing interface; we attach to one the user made so
     * that its address and routes are already in place. */
    if (if_nametoindex(name) == 0) {
        snprintf(msg, msg_len,
                 "no interface named %s: create it first with 'scripts/tap-up %s' (as root)",
                 name, name);
        return -ENODEV;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e == EACCES || e == EPERM)
            snprintf(msg, msg_len,
                     "cannot open /dev/net/tun: permission denied; run as root, or make the tap "
                     "yours with 'scripts/tap-up %s --user $USER'",
                     name);
        else
            snprintf(msg, msg_len, "cannot open /dev/net/tun: %s (is the tun module loaded?)",
                     strerror(e));
        return -e;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int e = errno;
        close(fd);
        if (e == EPERM)
            snprintf(msg, msg_len,
                     "cannot attach to %s: permission denied; run as root, or make the tap "
                     "yours with 'scripts/tap-up %s --user $USER'",
                     name, name);
        else if (e == EBUSY)
            snprintf(msg, msg_len, "cannot attach to %s: another program has it open", name);
        else if (e == EINVAL)
            snprintf(msg, msg_len, "cannot attach to %s: it exists but is not a TAP device",
                     name);
        else
            snprintf(msg, msg_len, "cannot attach to %s: %s", name, strerror(e));
        return -e;
    }
    tap->fd = fd;
    memcpy(tap->name, ifr.ifr_name, IFNAMSIZ);
    tap->name[IFNAMSIZ - 1] = '\0';
    return 0;
}

void tap_close(struct tap_dev *tap)
{
    if (tap->fd >= 0)
        close(tap->fd);
    tap->fd = -1;
}

int tap_kernel_mtu(const struct tap_dev *tap)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    memcpy(ifr.ifr_name, tap->name, IFNAMSIZ);
    int rc = ioctl(s, SIOCGIFMTU, &ifr) < 0 ? -errno : ifr.ifr_mtu;
    close(s);
    return rc;
}

int tap_send(void *ctx, const void *frame, size_t len_bytes)
{
    struct tap_dev *tap = ctx;
    for (;;) {
        ssize_t n = write(tap->fd, frame, len_bytes);
        if (n == (ssize_t)len_bytes) {
            tap->tx_frames++;
            return 0;
        }
        if (n < 0 && errno == EINTR)
            continue;
        /* EAGAIN means the interface is down or its queue is full: the frame is lost, as it
         * would be on a wire, and the stack counts it. */
        tap->tx_errors++;
        return n < 0 ? -errno : -EIO;
    }
}

int tap_receive(struct tap_dev *tap, struct tapir_stack *st, uint64_t now_us)
{
    int count = 0;
    while (count < TAP_RX_BATCH) {
        uint8_t *buf;
        size_t cap;
        struct pkb *p = tapir_rx_buffer(st, &buf, &cap);
        uint8_t scratch[256];
        if (!p) {
            buf = scratch; /* no buffer: read and drop, or the TAP queue never drains */
            cap = sizeof(scratch);
        }
        ssize_t n = read(tap->fd, buf, cap);
        if (n < 0) {
            if (p)
                tapir_rx_release(st, p);
            if (errno == EINTR)
                continue;
            break; /* EAGAIN: drained */
        }
        count++;
        tap->rx_frames++;
        if (!p)
            tapir_rx_drop(st);
        else
            tapir_input_pkb(st, p, (size_t)n, now_us);
    }
    return count;
}
