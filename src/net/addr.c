/*
 * src/net/addr.c - socket addresses: parsing, formatting, conversion.
 *
 * The IPv4 parser and the IPv6 formatter are written out here rather than
 * taken from inet_pton / inet_ntop, so that the accepted syntax (no leading
 * zeros in octets) and the printed form (Rust's, with only IPv4-mapped
 * addresses in mixed notation) do not depend on the C library.  The IPv6
 * address itself is parsed by inet_pton(AF_INET6), as documented.
 */
#define _GNU_SOURCE /* if_nametoindex and IFNAMSIZ under -std=c11 */

#include <weft/addr.h>

#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

/* The longest text form: 58 characters plus the NUL. */
_Static_assert(WEFT_ADDR_STRLEN >=
                   sizeof "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535",
               "WEFT_ADDR_STRLEN too small for the longest address");

/* The family of *a if it is a well-formed non-empty address, else 0. */
static int addr_kind(const weft_addr *a) {
    if (a == NULL) return 0;
    if (a->len == sizeof a->u.in4 && a->u.sa.sa_family == AF_INET) return AF_INET;
    if (a->len == sizeof a->u.in6 && a->u.sa.sa_family == AF_INET6) return AF_INET6;
    return 0;
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/*
 * Read a decimal number of at most max_digits digits (0 = unbounded) at *pp
 * whose value is at most max.  allow_zero_prefix = 0 rejects "0" followed by
 * more digits.  Advances *pp past the digits on success; returns 0 or -1.
 */
static int read_decimal(const char **pp, unsigned max_digits, uint32_t max,
                        int allow_zero_prefix, uint32_t *value) {
    const char *p = *pp;
    uint32_t v = 0;
    unsigned n = 0;
    if (!is_digit(*p)) return -1;
    if (!allow_zero_prefix && p[0] == '0' && is_digit(p[1])) return -1;
    while (is_digit(*p)) {
        uint32_t d = (uint32_t)(*p - '0');
        if (max_digits && n == max_digits) return -1;
        if (v > (max - d) / 10) return -1; /* v * 10 + d > max */
        v = v * 10 + d;
        n++;
        p++;
    }
    *pp = p;
    *value = v;
    return 0;
}

/* ":port" at *pp, then the end of the string. */
static int read_port_and_end(const char *p, uint16_t *port) {
    uint32_t v;
    if (*p++ != ':') return -1;
    if (read_decimal(&p, 0, 65535, 1, &v) < 0) return -1;
    if (*p != '\0') return -1;
    *port = (uint16_t)v;
    return 0;
}

static int parse_v4(weft_addr *out, const char *s) {
    const char *p = s;
    uint8_t octets[4];
    for (int i = 0; i < 4; i++) {
        uint32_t v;
        if (i > 0 && *p++ != '.') return -EINVAL;
        if (read_decimal(&p, 3, 255, 0, &v) < 0) return -EINVAL;
        octets[i] = (uint8_t)v;
    }
    uint16_t port;
    if (read_port_and_end(p, &port) < 0) return -EINVAL;

    out->u.in4.sin_family = AF_INET;
    out->u.in4.sin_port = htons(port);
    memcpy(&out->u.in4.sin_addr, octets, sizeof octets);
    out->len = sizeof out->u.in4;
    return 0;
}

/* Whether c may appear in an interface name given as a scope. */
static int ifname_char_ok(unsigned char c) {
    if (c <= 0x20 || c == 0x7f) return 0; /* controls and space */
    return c != '/' && c != ':' && c != '%' && c != '[' && c != ']';
}

/* Resolve the scope text [p, end) to a scope id. */
static int parse_scope(const char *p, const char *end, uint32_t *scope) {
    size_t n = (size_t)(end - p);
    if (n == 0) return -EINVAL;

    int all_digits = 1;
    for (const char *q = p; q < end; q++)
        if (!is_digit(*q)) all_digits = 0;
    if (all_digits) {
        const char *q = p;
        if (read_decimal(&q, 0, UINT32_MAX, 1, scope) < 0) return -EINVAL;
        return q == end ? 0 : -EINVAL; /* q == end always; belt and braces */
    }

    char name[IFNAMSIZ];
    if (n >= sizeof name) return -EINVAL;
    for (const char *q = p; q < end; q++)
        if (!ifname_char_ok((unsigned char)*q)) return -EINVAL;
    memcpy(name, p, n);
    name[n] = '\0';

    int saved = errno;
    errno = 0;
    unsigned idx = if_nametoindex(name);
    int err = errno;
    errno = saved;
    if (idx == 0) {
        if (err == 0 || err == ENODEV || err == ENXIO || err == ENOENT) return -ENODEV;
        return -err;
    }
    *scope = idx;
    return 0;
}

static int parse_v6(weft_addr *out, const char *s) {
    /* s[0] == '[' */
    const char *start = s + 1;
    const char *close = strchr(start, ']');
    if (close == NULL) return -EINVAL;
    const char *pct = memchr(start, '%', (size_t)(close - start));
    const char *addr_end = pct ? pct : close;

    /* Check the syntax after ']' before any interface lookup, so a bad port
     * is -EINVAL whatever the scope says. */
    uint16_t port;
    if (read_port_and_end(close + 1, &port) < 0) return -EINVAL;

    char text[INET6_ADDRSTRLEN];
    size_t n = (size_t)(addr_end - start);
    if (n == 0 || n >= sizeof text) return -EINVAL;
    memcpy(text, start, n);
    text[n] = '\0';
    struct in6_addr ip;
    if (inet_pton(AF_INET6, text, &ip) != 1) return -EINVAL;

    uint32_t scope = 0;
    if (pct) {
        int rc = parse_scope(pct + 1, close, &scope);
        if (rc < 0) return rc;
    }

    out->u.in6.sin6_family = AF_INET6;
    out->u.in6.sin6_port = htons(port);
    out->u.in6.sin6_flowinfo = 0;
    out->u.in6.sin6_addr = ip;
    out->u.in6.sin6_scope_id = scope;
    out->len = sizeof out->u.in6;
    return 0;
}

int weft_addr_parse(weft_addr *out, const char *s) {
    if (out == NULL) return -EINVAL;
    memset(out, 0, sizeof *out);
    if (s == NULL) return -EINVAL;
    int rc = s[0] == '[' ? parse_v6(out, s) : parse_v4(out, s);
    if (rc < 0) memset(out, 0, sizeof *out);
    return rc;
}

/* Append the Rust/RFC 5952 text of an IPv6 address to buf (room >= 40). */
static size_t format_ip6(const struct in6_addr *ip, char *buf) {
    const uint8_t *b = ip->s6_addr;
    uint16_t w[8];
    for (int i = 0; i < 8; i++) w[i] = (uint16_t)(b[2 * i] << 8 | b[2 * i + 1]);

    /* IPv4-mapped: ::ffff:a.b.c.d */
    if (!w[0] && !w[1] && !w[2] && !w[3] && !w[4] && w[5] == 0xffff)
        return (size_t)sprintf(buf, "::ffff:%u.%u.%u.%u", b[12], b[13], b[14], b[15]);

    /* longest run of zero groups, first one on a tie, only if >= 2 long */
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (w[i] != 0) {
            i++;
            continue;
        }
        int j = i;
        while (j < 8 && w[j] == 0) j++;
        if (j - i > best_len) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    if (best_len < 2) best = -1;

    size_t n = 0;
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            buf[n++] = ':';
            buf[n++] = ':';
            i += best_len - 1;
            continue;
        }
        if (i > 0 && i != best + best_len) buf[n++] = ':';
        n += (size_t)sprintf(buf + n, "%x", (unsigned)w[i]);
    }
    buf[n] = '\0';
    return n;
}

int weft_addr_format(const weft_addr *a, char *buf, size_t len) {
    if (buf == NULL) return -EINVAL;
    if (len > 0) buf[0] = '\0';
    int kind = addr_kind(a);
    if (kind == 0) return -EINVAL;

    char tmp[WEFT_ADDR_STRLEN];
    int n;
    if (kind == AF_INET) {
        const uint8_t *o = (const uint8_t *)&a->u.in4.sin_addr;
        n = snprintf(tmp, sizeof tmp, "%u.%u.%u.%u:%u", o[0], o[1], o[2], o[3],
                     (unsigned)ntohs(a->u.in4.sin_port));
    } else {
        char ip[INET6_ADDRSTRLEN];
        format_ip6(&a->u.in6.sin6_addr, ip);
        uint32_t scope = a->u.in6.sin6_scope_id;
        unsigned port = ntohs(a->u.in6.sin6_port);
        if (scope != 0)
            n = snprintf(tmp, sizeof tmp, "[%s%%%lu]:%u", ip, (unsigned long)scope, port);
        else
            n = snprintf(tmp, sizeof tmp, "[%s]:%u", ip, port);
    }
    if (n < 0 || (size_t)n >= sizeof tmp) return -EINVAL; /* cannot happen */
    if ((size_t)n >= len) return -ENOSPC;
    memcpy(buf, tmp, (size_t)n + 1);
    return n;
}

int weft_addr_from_sockaddr(weft_addr *out, const struct sockaddr *sa, socklen_t len) {
    if (out == NULL) return -EINVAL;
    memset(out, 0, sizeof *out);
    if (sa == NULL) return -EINVAL;
    if (len < offsetof(struct sockaddr, sa_family) + sizeof sa->sa_family) return -EINVAL;
    switch (sa->sa_family) {
    case AF_INET:
        if (len < sizeof out->u.in4) return -EINVAL;
        memcpy(&out->u.in4, sa, sizeof out->u.in4);
        memset(out->u.in4.sin_zero, 0, sizeof out->u.in4.sin_zero);
        out->len = sizeof out->u.in4;
        return 0;
    case AF_INET6:
        if (len < sizeof out->u.in6) return -EINVAL;
        memcpy(&out->u.in6, sa, sizeof out->u.in6);
        out->len = sizeof out->u.in6;
        return 0;
    default:
        return -EAFNOSUPPORT;
    }
}

int weft_addr_port(const weft_addr *a) {
    switch (addr_kind(a)) {
    case AF_INET: return ntohs(a->u.in4.sin_port);
    case AF_INET6: return ntohs(a->u.in6.sin6_port);
    default: return -EINVAL;
    }
}

int weft_addr_set_port(weft_addr *a, uint16_t port) {
    switch (addr_kind(a)) {
    case AF_INET: a->u.in4.sin_port = htons(port); return 0;
    case AF_INET6: a->u.in6.sin6_port = htons(port); return 0;
    default: return -EINVAL;
    }
}

int weft_addr_family(const weft_addr *a) { return addr_kind(a); }

int weft_addr_equal(const weft_addr *a, const weft_addr *b) {
    if (a == NULL || b == NULL) return 0;
    int ka = addr_kind(a), kb = addr_kind(b);
    if (ka != kb) return 0;
    switch (ka) {
    case AF_INET:
        return a->u.in4.sin_port == b->u.in4.sin_port &&
               a->u.in4.sin_addr.s_addr == b->u.in4.sin_addr.s_addr;
    case AF_INET6:
        return a->u.in6.sin6_port == b->u.in6.sin6_port &&
               a->u.in6.sin6_scope_id == b->u.in6.sin6_scope_id &&
               memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr,
                      sizeof a->u.in6.sin6_addr) == 0;
    default:
        return 1; /* both empty / unknown */
    }
}
