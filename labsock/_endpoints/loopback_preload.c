/* loopback_preload.c: labsock's loopback rule inside a C or C++ program (Linux).
 *
 * labsock loads this small library into every program it runs (LD_PRELOAD),
 * so that the program's own calls to connect, sendto, sendmsg, sendmmsg,
 * bind and setsockopt pass through here first. A call that would reach
 * beyond this machine is refused BEFORE the system call: it fails with
 * EACCES, and one line starting "labsock-guard: refused" goes to standard
 * error; labsock then stops the program and says why.
 *
 * Allowed: loopback (127.0.0.0/8, ::1, ::ffff:127.x.y.z); binding a group of
 * 239.255.0.0/16 (a receiver); joining a group on interface 127.0.0.1;
 * sending to a group from a socket whose IP_MULTICAST_IF is 127.0.0.1 and
 * whose TTL is 0 or 1; anything that is not an internet socket.
 *
 * What it cannot see: a statically linked program, raw system calls, and the
 * C library's own internal calls (its DNS resolver). labsock's strace watch
 * (for traced runs) and its argument check cover part of that.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum role { DESTINATION, BIND };

static int loopback4(struct in_addr a) { return (ntohl(a.s_addr) >> 24) == 127; }

static int course_group(struct in_addr a) { return (ntohl(a.s_addr) >> 16) == 0xEFFF; }

static int multicast4(struct in_addr a) { return (ntohl(a.s_addr) >> 28) == 0xE; }

static int loopback6(const struct in6_addr* a) {
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static void refuse(const char* call, const struct sockaddr* sa, const char* why) {
    char text[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in* in = (const struct sockaddr_in*)sa;
        inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
        port = ntohs(in->sin_port);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6* in6 = (const struct sockaddr_in6*)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
        port = ntohs(in6->sin6_port);
    }
    dprintf(2, "labsock-guard: refused %s to %s:%d: %s\n", call, text, port, why);
}

/* Why this address may not be used, or NULL if it may. */
static const char* verdict(int fd, const struct sockaddr* sa, socklen_t len, enum role role) {
    if (sa == NULL || len < (socklen_t)sizeof(sa_family_t)) return NULL;
    if (sa->sa_family == AF_INET) {
        struct in_addr a = ((const struct sockaddr_in*)sa)->sin_addr;
        if (loopback4(a)) return NULL;
        if (multicast4(a)) {
            if (role == BIND) {
                return course_group(a) ? NULL : "a multicast group outside 239.255.0.0/16";
            }
            struct in_addr interface = {0};
            unsigned char ttl = 255;
            socklen_t size = sizeof interface;
            if (getsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &interface, &size) != 0 ||
                !loopback4(interface)) {
                return "a multicast group, from a socket whose IP_MULTICAST_IF is not 127.0.0.1";
            }
            size = sizeof ttl;
            if (getsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, &size) != 0 || ttl > 1) {
                return "a multicast group, with a TTL above 1";
            }
            return NULL;
        }
        if (a.s_addr == htonl(INADDR_ANY)) {
            return role == BIND ? "0.0.0.0 means every network interface: use 127.0.0.1"
                                : "0.0.0.0 is not a machine to send to";
        }
        return "not a loopback address: it would leave this machine";
    }
    if (sa->sa_family == AF_INET6) {
        if (loopback6(&((const struct sockaddr_in6*)sa)->sin6_addr)) return NULL;
        return "not a loopback address: it would leave this machine";
    }
    return NULL; /* Unix sockets and the like never leave the machine */
}

#define REAL(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

int connect(int fd, const struct sockaddr* sa, socklen_t len) {
    const char* why = verdict(fd, sa, len, DESTINATION);
    if (why != NULL) {
        refuse("connect", sa, why);
        errno = EACCES;
        return -1;
    }
    return REAL(connect)(fd, sa, len);
}

int bind(int fd, const struct sockaddr* sa, socklen_t len) {
    const char* why = verdict(fd, sa, len, BIND);
    if (why != NULL) {
        refuse("bind", sa, why);
        errno = EACCES;
        return -1;
    }
    return REAL(bind)(fd, sa, len);
}

ssize_t sendto(int fd, const void* buf, size_t n, int flags, const struct sockaddr* sa,
               socklen_t len) {
    const char* why = verdict(fd, sa, len, DESTINATION);
    if (why != NULL) {
        refuse("sendto", sa, why);
        errno = EACCES;
        return -1;
    }
    return REAL(sendto)(fd, buf, n, flags, sa, len);
}

ssize_t sendmsg(int fd, const struct msghdr* msg, int flags) {
    if (msg != NULL) {
        const char* why = verdict(fd, msg->msg_name, msg->msg_namelen, DESTINATION);
        if (why != NULL) {
            refuse("sendmsg", msg->msg_name, why);
            errno = EACCES;
            return -1;
        }
    }
    return REAL(sendmsg)(fd, msg, flags);
}

int sendmmsg(int fd, struct mmsghdr* vec, unsigned int count, int flags) {
    for (unsigned int i = 0; vec != NULL && i < count; ++i) {
        const struct msghdr* msg = &vec[i].msg_hdr;
        const char* why = verdict(fd, msg->msg_name, msg->msg_namelen, DESTINATION);
        if (why != NULL) {
            refuse("sendmmsg", msg->msg_name, why);
            errno = EACCES;
            return -1;
        }
    }
    return REAL(sendmmsg)(fd, vec, count, flags);
}

int setsockopt(int fd, int level, int name, const void* value, socklen_t len) {
    if (level == IPPROTO_IP && value != NULL) {
        const char* why = NULL;
        if (name == IP_ADD_MEMBERSHIP && len >= (socklen_t)sizeof(struct ip_mreq)) {
            const struct ip_mreq* join = value;
            int by_index = len >= (socklen_t)sizeof(struct ip_mreqn) &&
                           ((const struct ip_mreqn*)value)->imr_ifindex != 0;
            if (by_index) {
                if ((unsigned)((const struct ip_mreqn*)value)->imr_ifindex != if_nametoindex("lo"))
                    why = "joined on an interface other than loopback";
            } else if (!loopback4(join->imr_interface)) {
                why = "joined on an interface other than 127.0.0.1: the join would leave the "
                      "machine";
            }
        } else if (name == IP_MULTICAST_IF && len >= (socklen_t)sizeof(struct in_addr)) {
            if (!loopback4(*(const struct in_addr*)value)) {
                why = "IP_MULTICAST_IF other than 127.0.0.1";
            }
        } else if (name == IP_MULTICAST_TTL && len >= 1) {
            int ttl = len >= (socklen_t)sizeof(int) ? *(const int*)value
                                                    : *(const unsigned char*)value;
            if (ttl > 1) why = "IP_MULTICAST_TTL above 1 lets routers forward the datagrams";
        }
        if (why != NULL) {
            const char* option = name == IP_ADD_MEMBERSHIP ? "IP_ADD_MEMBERSHIP"
                                 : name == IP_MULTICAST_IF ? "IP_MULTICAST_IF"
                                                           : "IP_MULTICAST_TTL";
            dprintf(2, "labsock-guard: refused setsockopt(%s): %s\n", option, why);
            errno = EACCES;
            return -1;
        }
    }
    return REAL(setsockopt)(fd, level, name, value, len);
}
