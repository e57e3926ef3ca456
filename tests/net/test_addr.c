/*
 * tests/net/test_addr.c - weft_addr: parsing, formatting, sockaddr
 * conversion, ports, families and equality.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* if_nameindex, IFNAMSIZ */
#endif

#include <weft/addr.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <sys/un.h>

#include "../test.h"

/* ---- helpers ------------------------------------------------------------ */

static int all_bytes_zero(const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i]) return 0;
    return 1;
}

static weft_addr make_v4(const char *ip, uint16_t port) {
    weft_addr a;
    memset(&a, 0, sizeof a);
    a.u.in4.sin_family = AF_INET;
    a.u.in4.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.u.in4.sin_addr);
    a.len = sizeof a.u.in4;
    return a;
}

static weft_addr make_v6(const char *ip, uint16_t port, uint32_t scope) {
    weft_addr a;
    memset(&a, 0, sizeof a);
    a.u.in6.sin6_family = AF_INET6;
    a.u.in6.sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a.u.in6.sin6_addr);
    a.u.in6.sin6_scope_id = scope;
    a.len = sizeof a.u.in6;
    return a;
}

/* The name and index of some interface on this machine, or 0. */
static unsigned some_interface(char name[IFNAMSIZ]) {
    struct if_nameindex *list = if_nameindex();
    unsigned idx = 0;
    if (list == NULL) return 0;
    for (struct if_nameindex *i = list; i->if_index != 0; i++) {
        /* an all-digit name would be read as a numeric scope */
        if (strspn(i->if_name, "0123456789") == strlen(i->if_name)) continue;
        if (strlen(i->if_name) >= IFNAMSIZ) continue;
        strcpy(name, i->if_name);
        idx = i->if_index;
        break;
    }
    if_freenameindex(list);
    return idx;
}

/* ---- parsing: accepted forms -------------------------------------------- */

static void addr_parses_ipv4_with_port(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "192.168.1.20:8080"), 0);
    CHECK_EQ(weft_addr_family(&a), AF_INET);
    CHECK_EQ(a.len, sizeof(struct sockaddr_in));
    CHECK_EQ(a.u.sa.sa_family, AF_INET);
    CHECK_EQ(ntohl(a.u.in4.sin_addr.s_addr), 0xC0A80114u);
    CHECK_EQ(ntohs(a.u.in4.sin_port), 8080);
    CHECK_EQ(weft_addr_port(&a), 8080);
    CHECK(all_bytes_zero(a.u.in4.sin_zero, sizeof a.u.in4.sin_zero));
}

static void addr_parses_bracketed_ipv6(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "[2001:db8::42]:443"), 0);
    CHECK_EQ(weft_addr_family(&a), AF_INET6);
    CHECK_EQ(a.len, sizeof(struct sockaddr_in6));
    struct in6_addr want;
    CHECK_EQ(inet_pton(AF_INET6, "2001:db8::42", &want), 1);
    CHECK(memcmp(&a.u.in6.sin6_addr, &want, sizeof want) == 0);
    CHECK_EQ(ntohs(a.u.in6.sin6_port), 443);
    CHECK_EQ(a.u.in6.sin6_scope_id, 0);
    CHECK_EQ(a.u.in6.sin6_flowinfo, 0);
}

static void addr_parses_ipv6_loopback_and_unspecified(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "[::1]:1"), 0);
    CHECK(memcmp(&a.u.in6.sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0);
    CHECK_EQ(weft_addr_parse(&a, "[::]:2"), 0);
    CHECK(memcmp(&a.u.in6.sin6_addr, &in6addr_any, sizeof in6addr_any) == 0);
    CHECK_EQ(weft_addr_port(&a), 2);
}

static void addr_parses_ipv4_mapped_ipv6(void) {
    weft_addr a;
    char buf[WEFT_ADDR_STRLEN];
    CHECK_EQ(weft_addr_parse(&a, "[::ffff:10.1.2.3]:80"), 0);
    CHECK_EQ(weft_addr_family(&a), AF_INET6); /* stays IPv6: not unmapped */
    CHECK(IN6_IS_ADDR_V4MAPPED(&a.u.in6.sin6_addr));
    CHECK_EQ(a.u.in6.sin6_addr.s6_addr[12], 10);
    CHECK_EQ(a.u.in6.sin6_addr.s6_addr[15], 3);
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, "[::ffff:10.1.2.3]:80");
    /* the hex spelling of the same address prints in mixed notation too */
    CHECK_EQ(weft_addr_parse(&a, "[::FFFF:a01:203]:80"), 0);
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, "[::ffff:10.1.2.3]:80");
    /* and it is not the same address as plain IPv4 10.1.2.3:80 */
    weft_addr v4 = make_v4("10.1.2.3", 80);
    CHECK_EQ(weft_addr_equal(&a, &v4), 0);
}

static void addr_parses_edge_ports(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:0"), 0);
    CHECK_EQ(weft_addr_port(&a), 0);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:65535"), 0);
    CHECK_EQ(weft_addr_port(&a), 65535);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:0"), 0);
    CHECK_EQ(weft_addr_port(&a), 0);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:65535"), 0);
    CHECK_EQ(weft_addr_port(&a), 65535);
}

static void addr_parses_edge_octets(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "0.0.0.0:1"), 0);
    CHECK_EQ(a.u.in4.sin_addr.s_addr, htonl(INADDR_ANY));
    CHECK_EQ(weft_addr_parse(&a, "255.255.255.255:1"), 0);
    CHECK_EQ(a.u.in4.sin_addr.s_addr, htonl(INADDR_BROADCAST));
    CHECK_EQ(weft_addr_parse(&a, "100.10.1.0:1"), 0);
    CHECK_EQ(ntohl(a.u.in4.sin_addr.s_addr), 0x640A0100u);
}

/* Like Rust: leading zeros are fine in the port (no octal reading exists for
 * it), and are canonicalised away by format. */
static void addr_accepts_leading_zeros_in_port(void) {
    weft_addr a;
    char buf[WEFT_ADDR_STRLEN];
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:0080"), 0);
    CHECK_EQ(weft_addr_port(&a), 80);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:00000000000000000000065535"), 0);
    CHECK_EQ(weft_addr_port(&a), 65535);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:000"), 0);
    CHECK_EQ(weft_addr_port(&a), 0);
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, "[::1]:0");
}

/* ---- parsing: IPv6 scope ids -------------------------------------------- */

static void addr_parses_ipv6_numeric_scope(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%7]:22"), 0);
    CHECK_EQ(a.u.in6.sin6_scope_id, 7);
    CHECK_EQ(weft_addr_port(&a), 22);
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%0]:22"), 0);
    CHECK_EQ(a.u.in6.sin6_scope_id, 0);
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%007]:22"), 0);
    CHECK_EQ(a.u.in6.sin6_scope_id, 7);
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%4294967295]:22"), 0);
    CHECK_EQ(a.u.in6.sin6_scope_id, 4294967295u);
    /* a numeric scope need not name an existing interface */
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%4000000000]:22"), 0);
    /* a scope is allowed on non-link-local addresses too, as in Rust */
    CHECK_EQ(weft_addr_parse(&a, "[2001:db8::1%3]:22"), 0);
    CHECK_EQ(a.u.in6.sin6_scope_id, 3);
}

static void addr_parses_ipv6_interface_scope(void) {
    char name[IFNAMSIZ], text[64], buf[WEFT_ADDR_STRLEN], want[WEFT_ADDR_STRLEN];
    unsigned idx = some_interface(name);
    if (idx == 0) {
        fprintf(stderr, "    (no network interface to resolve; skipped)\n");
        return;
    }
    weft_addr a;
    snprintf(text, sizeof text, "[fe80::1%%%s]:8080", name);
    CHECK_EQ(weft_addr_parse(&a, text), 0);
    CHECK_EQ(a.u.in6.sin6_scope_id, idx);
    CHECK_EQ(weft_addr_port(&a), 8080);
    /* formatting gives the number, never the name */
    snprintf(want, sizeof want, "[fe80::1%%%u]:8080", idx);
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, want);
    weft_addr b;
    CHECK_EQ(weft_addr_parse(&b, want), 0);
    CHECK_EQ(weft_addr_equal(&a, &b), 1);
}

static void addr_rejects_unknown_interface_scope(void) {
    weft_addr a;
    memset(&a, 0xAA, sizeof a);
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%weftnosuchif]:80"), -ENODEV);
    CHECK(all_bytes_zero(&a, sizeof a));
    /* anything not all digits is a name, so a signed number is a (missing)
     * interface, not a number */
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%-1]:80"), -ENODEV);
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%+1]:80"), -ENODEV);
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%1x]:80"), -ENODEV);
    /* 15 bytes is the longest name that can exist */
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%abcdefghijklmno]:80"), -ENODEV);
    /* a syntax error elsewhere wins over the lookup: -EINVAL, not -ENODEV */
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%weftnosuchif]:x"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%weftnosuchif]:65536"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[fe80::g%weftnosuchif]:80"), -EINVAL);
}

static void addr_rejects_bad_scope_syntax(void) {
    static const char *const bad[] = {
        "[fe80::1%]:80",                  /* empty scope */
        "[%1]:80",                        /* no address */
        "[fe80::1%4294967296]:80",        /* scope id overflows 32 bits */
        "[fe80::1%99999999999999999999]:80",
        "[fe80::1% 1]:80",                /* whitespace */
        "[fe80::1%1 ]:80",
        "[fe80::1%eth 0]:80",
        "[fe80::1%eth0\t]:80",
        "[fe80::1%1%2]:80",               /* two scopes */
        "[fe80::1%eth0/1]:80",            /* characters no interface has */
        "[fe80::1%eth0:1]:80",
        "[fe80::1%[x]:80",
        "[fe80::1%abcdefghijklmnop]:80",  /* 16 bytes: longer than IFNAMSIZ-1 */
        "1.2.3.4%1:80",                   /* IPv4 takes no scope */
        "[1.2.3.4%1]:80",
        "[fe80::1]%1:80",                 /* scope outside the brackets */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_addr a;
        int rc = weft_addr_parse(&a, bad[i]);
        if (rc != -EINVAL) fprintf(stderr, "    input: \"%s\"\n", bad[i]);
        CHECK_EQ(rc, -EINVAL);
        CHECK_EQ(a.len, 0);
    }
}

/* ---- parsing: rejected forms -------------------------------------------- */

static void addr_rejects_hostname(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "localhost:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "example.com:443"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[localhost]:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "a.b.c.d:1"), -EINVAL);
    CHECK_EQ(a.len, 0);
}

static void addr_rejects_port_out_of_range(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:65536"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:99999"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:4294967296"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:4294967376"), -EINVAL); /* 80 mod 2^32 */
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:18446744073709551696"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:65536"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:100000"), -EINVAL);
    CHECK_EQ(a.len, 0);
}

static void addr_rejects_signed_port(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:-1"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:+80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:-0"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:+1"), -EINVAL);
}

static void addr_rejects_missing_port(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1]"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "::1"), -EINVAL);
    CHECK_EQ(a.len, 0);
}

static void addr_rejects_trailing_garbage(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:80x"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:80:81"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:80/tcp"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:80]"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:80abc"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1]]:80"), -EINVAL);
    CHECK_EQ(a.len, 0);
}

static void addr_rejects_whitespace(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, " 1.2.3.4:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:80 "), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:80\n"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4 :80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4: 80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2. 3.4:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, " [::1]:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[ ::1]:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1 ]:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1] :80"), -EINVAL);
}

/* Rust rejects "01" in an IPv4 octet (octal ambiguity); so do we. */
static void addr_rejects_leading_zeros_in_octets(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "01.2.3.4:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.04:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.02.3.4:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "010.0.0.1:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "00.0.0.0:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.000:80"), -EINVAL);
    CHECK_EQ(a.len, 0);
    /* a lone zero is a normal octet */
    CHECK_EQ(weft_addr_parse(&a, "0.10.0.100:80"), 0);
}

static void addr_rejects_unbracketed_ipv6(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "::1:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "2001:db8::1:443"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "fe80::1%2:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "::1]:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, "[::1:80"), -EINVAL);
}

static void addr_rejects_ipv4_in_brackets(void) {
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "[1.2.3.4]:80"), -EINVAL);
}

static void addr_rejects_null_arguments(void) {
    weft_addr a;
    memset(&a, 0xAA, sizeof a);
    CHECK_EQ(weft_addr_parse(NULL, "1.2.3.4:80"), -EINVAL);
    CHECK_EQ(weft_addr_parse(NULL, NULL), -EINVAL);
    CHECK_EQ(weft_addr_parse(&a, NULL), -EINVAL);
    CHECK(all_bytes_zero(&a, sizeof a));
}

static void addr_parse_error_leaves_out_zeroed(void) {
    static const char *const bad[] = {
        "1.2.3.4:65536", "1.2.3.4", "[::1]:x", "[fe80::1%1]:", "", "[::1%]:1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        weft_addr a;
        memset(&a, 0xAA, sizeof a);
        CHECK(weft_addr_parse(&a, bad[i]) < 0);
        CHECK(all_bytes_zero(&a, sizeof a));
        CHECK_EQ(weft_addr_family(&a), 0);
    }
    /* an earlier success in the same object is wiped too */
    weft_addr a;
    CHECK_EQ(weft_addr_parse(&a, "[::1]:80"), 0);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:80x"), -EINVAL);
    CHECK(all_bytes_zero(&a, sizeof a));
}

static void addr_parse_preserves_errno(void) {
    weft_addr a;
    errno = 12345;
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%weftnosuchif]:80"), -ENODEV);
    CHECK_EQ(errno, 12345);
    CHECK_EQ(weft_addr_parse(&a, "nonsense"), -EINVAL);
    CHECK_EQ(errno, 12345);
}

/* ---- the table ---------------------------------------------------------- */

/* want == NULL: parse must fail with rc.  want == "": canonical form is the
 * input itself.  Otherwise want is the canonical form that format gives. */
struct parse_case {
    const char *in;
    int rc;
    const char *want;
};

static const struct parse_case parse_cases[] = {
    /* IPv4, good */
    {"0.0.0.0:0", 0, ""},
    {"1.2.3.4:80", 0, ""},
    {"127.0.0.1:8080", 0, ""},
    {"255.255.255.255:65535", 0, ""},
    {"10.0.0.1:00080", 0, "10.0.0.1:80"},
    {"9.99.199.249:1", 0, ""},
    /* IPv4, bad */
    {"", -EINVAL, NULL},
    {":", -EINVAL, NULL},
    {":80", -EINVAL, NULL},
    {".", -EINVAL, NULL},
    {"1.2.3:80", -EINVAL, NULL},
    {"1.2:80", -EINVAL, NULL},
    {"1:80", -EINVAL, NULL},
    {"16909060:80", -EINVAL, NULL}, /* inet_aton would take it; we do not */
    {"1.2.3.4.5:80", -EINVAL, NULL},
    {"1.2.3.256:80", -EINVAL, NULL},
    {"256.0.0.0:80", -EINVAL, NULL},
    {"1.2.3.1000:80", -EINVAL, NULL},
    {"999.2.3.4:80", -EINVAL, NULL},
    {"0x1.2.3.4:80", -EINVAL, NULL},
    {"1.2.3.0x4:80", -EINVAL, NULL},
    {"+1.2.3.4:80", -EINVAL, NULL},
    {"1.2.3.-4:80", -EINVAL, NULL},
    {"1..3.4:80", -EINVAL, NULL},
    {".1.2.3:80", -EINVAL, NULL},
    {"1.2.3.4.:80", -EINVAL, NULL},
    {"1.2.3.4::80", -EINVAL, NULL},
    {"1.2.3.4:8 0", -EINVAL, NULL},
    {"1.2.3.4:0x50", -EINVAL, NULL},
    {"1.2.3.4:80.0", -EINVAL, NULL},
    {"01.2.3.4:80", -EINVAL, NULL},
    {"[1.2.3.4]:80", -EINVAL, NULL},
    {"localhost:80", -EINVAL, NULL},
    {"*:80", -EINVAL, NULL},
    /* IPv6, good */
    {"[::]:0", 0, ""},
    {"[::1]:80", 0, ""},
    {"[::1%0]:80", 0, "[::1]:80"},
    {"[fe80::1%2]:443", 0, ""},
    {"[fe80::1%0002]:443", 0, "[fe80::1%2]:443"},
    {"[fe80::1%4294967295]:1", 0, ""},
    {"[FE80::ABCD]:1", 0, "[fe80::abcd]:1"},
    {"[2001:db8::1]:53", 0, ""},
    {"[2001:0db8:0000:0000:0000:0000:0000:0001]:53", 0, "[2001:db8::1]:53"},
    {"[1:2:3:4:5:6:7:8]:9", 0, ""},
    {"[1::]:1", 0, ""},
    {"[1::8]:1", 0, ""},
    {"[::2:3:4:5:6:7:8]:1", 0, "[0:2:3:4:5:6:7:8]:1"}, /* one zero: no "::" */
    {"[1:2:3:4:5:6:7::]:1", 0, "[1:2:3:4:5:6:7:0]:1"},
    {"[1::3:4:5:6:7:8]:1", 0, "[1:0:3:4:5:6:7:8]:1"},
    {"[::3:4:5:6:7:8]:1", 0, ""},
    {"[1:2:3:4:5:6::]:1", 0, ""},
    /* longest zero run wins; the first on a tie; a lone zero stays "0" */
    {"[2001:db8:0:0:1:0:0:1]:1", 0, "[2001:db8::1:0:0:1]:1"},
    {"[1:0:0:2:0:0:0:3]:1", 0, "[1:0:0:2::3]:1"},
    {"[2001:db8:0:1:1:1:1:1]:1", 0, ""},
    {"[2001:db8::1:1:1:1:1]:1", 0, "[2001:db8:0:1:1:1:1:1]:1"},
    {"[0:1:0:1:0:1:0:1]:1", 0, ""},
    /* embedded IPv4 */
    {"[::ffff:1.2.3.4]:80", 0, ""},
    {"[::FFFF:102:304]:80", 0, "[::ffff:1.2.3.4]:80"},
    {"[::ffff:0.0.0.0]:0", 0, ""},
    {"[::1.2.3.4]:80", 0, "[::102:304]:80"}, /* IPv4-compatible: hex, as Rust */
    {"[64:ff9b::1.2.3.4]:80", 0, "[64:ff9b::102:304]:80"},
    {"[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535", 0, ""},
    /* IPv6, bad */
    {"[]:80", -EINVAL, NULL},
    {"[:]:80", -EINVAL, NULL},
    {"[:::1]:80", -EINVAL, NULL},
    {"[::g]:80", -EINVAL, NULL},
    {"[1:2:3:4:5:6:7:8:9]:80", -EINVAL, NULL},
    {"[1:2:3:4:5:6:7]:80", -EINVAL, NULL},
    {"[1::2::3]:80", -EINVAL, NULL},
    {"[12345::]:80", -EINVAL, NULL},
    {"[::1]80", -EINVAL, NULL},
    {"[::1]::80", -EINVAL, NULL},
    {"[[::1]]:80", -EINVAL, NULL},
    {"[", -EINVAL, NULL},
    {"[]", -EINVAL, NULL},
    {"]:80", -EINVAL, NULL},
    {"[::1]:-1", -EINVAL, NULL},
    {"[::ffff:1.2.3.256]:80", -EINVAL, NULL},
    {"[::ffff:1.2.3]:80", -EINVAL, NULL},
    /* longer than any IPv6 text (INET6_ADDRSTRLEN) */
    {"[0000:0000:0000:0000:0000:0000:0000:0000:0000:0001]:80", -EINVAL, NULL},
    {"[00000000000000000000000000000000000000000000000000::1]:80", -EINVAL, NULL},
};

static void addr_parse_table(void) {
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        const struct parse_case *c = &parse_cases[i];
        weft_addr a;
        char buf[WEFT_ADDR_STRLEN];
        int rc = weft_addr_parse(&a, c->in);
        if (rc != c->rc) fprintf(stderr, "    input: \"%s\"\n", c->in);
        CHECK_EQ(rc, c->rc);
        if (c->want == NULL) {
            CHECK(all_bytes_zero(&a, sizeof a));
            continue;
        }
        const char *want = c->want[0] ? c->want : c->in;
        int n = weft_addr_format(&a, buf, sizeof buf);
        if (n < 0 || strcmp(buf, want) != 0) fprintf(stderr, "    input: \"%s\"\n", c->in);
        CHECK_EQ(n, strlen(want));
        CHECK_STR(buf, want);
        /* the canonical form parses back to the same address */
        weft_addr b;
        CHECK_EQ(weft_addr_parse(&b, buf), 0);
        CHECK_EQ(weft_addr_equal(&a, &b), 1);
    }
}

/* ---- formatting --------------------------------------------------------- */

static void addr_format_round_trips(void) {
    static const char *const inputs[] = {
        "0.0.0.0:0",     "8.8.4.4:53",          "[::]:0",
        "[::1]:65535",   "[fe80::aa:bb%3]:123", "[2001:db8:85a3::8a2e:370:7334]:8443",
        "[::ffff:127.0.0.1]:22",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        weft_addr a, b;
        char buf[WEFT_ADDR_STRLEN];
        CHECK_EQ(weft_addr_parse(&a, inputs[i]), 0);
        int n = weft_addr_format(&a, buf, sizeof buf);
        CHECK_EQ(n, strlen(inputs[i]));
        CHECK_STR(buf, inputs[i]);
        CHECK_EQ(weft_addr_parse(&b, buf), 0);
        CHECK_EQ(weft_addr_equal(&a, &b), 1);
    }
}

static void addr_format_randomized_round_trip(void) {
    uint64_t seed = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 20000; i++) {
        weft_addr a, b;
        uint64_t r = test_rand(&seed);
        if (r & 1) {
            a = make_v4("0.0.0.0", (uint16_t)(r >> 8));
            a.u.in4.sin_addr.s_addr = (uint32_t)(r >> 24);
        } else {
            uint32_t scope = (r & 6) == 0 ? (uint32_t)(r >> 32) : 0;
            a = make_v6("::", (uint16_t)(r >> 8), scope);
            uint64_t hi = test_rand(&seed), lo = test_rand(&seed);
            /* zero some groups so that "::" runs of every length occur, and
             * make one address in eight IPv4-mapped */
            uint64_t mask = test_rand(&seed);
            int mapped = (mask >> 8 & 7) == 0;
            for (int g = 0; g < 8; g++) {
                uint16_t w = (uint16_t)((g < 4 ? hi : lo) >> (16 * (g % 4)));
                if (mask >> g & 1) w = 0;
                if (mapped && g < 5) w = 0;
                if (mapped && g == 5) w = 0xffff;
                a.u.in6.sin6_addr.s6_addr[2 * g] = (uint8_t)(w >> 8);
                a.u.in6.sin6_addr.s6_addr[2 * g + 1] = (uint8_t)w;
            }
        }
        char buf[WEFT_ADDR_STRLEN], again[WEFT_ADDR_STRLEN];
        int n = weft_addr_format(&a, buf, sizeof buf);
        CHECK(n > 0 && n < WEFT_ADDR_STRLEN);
        CHECK_EQ(n, strlen(buf));
        int rc = weft_addr_parse(&b, buf);
        if (rc != 0) fprintf(stderr, "    formatted: \"%s\"\n", buf);
        CHECK_EQ(rc, 0);
        CHECK_EQ(weft_addr_equal(&a, &b), 1);
        /* canonical: formatting the parsed copy gives the same text */
        CHECK_EQ(weft_addr_format(&b, again, sizeof again), n);
        CHECK_STR(again, buf);
        if (weft_addr_family(&a) == AF_INET6) {
            /* the address part agrees with the C library, except where
             * glibc uses the deprecated IPv4-compatible "::a.b.c.d" form */
            char ip[INET6_ADDRSTRLEN], mine[INET6_ADDRSTRLEN];
            CHECK(inet_ntop(AF_INET6, &a.u.in6.sin6_addr, ip, sizeof ip) != NULL);
            size_t len = strcspn(buf + 1, "%]");
            memcpy(mine, buf + 1, len);
            mine[len] = '\0';
            if (strchr(ip, '.') == NULL || IN6_IS_ADDR_V4MAPPED(&a.u.in6.sin6_addr))
                CHECK_STR(mine, ip);
        }
    }
}

static void addr_format_prints_nonzero_scope_as_number(void) {
    char buf[WEFT_ADDR_STRLEN];
    weft_addr a = make_v6("fe80::1", 80, 5);
    CHECK_EQ(weft_addr_format(&a, buf, sizeof buf), 14);
    CHECK_STR(buf, "[fe80::1%5]:80");
    a.u.in6.sin6_scope_id = 0;
    CHECK_EQ(weft_addr_format(&a, buf, sizeof buf), 12);
    CHECK_STR(buf, "[fe80::1]:80");
    a.u.in6.sin6_scope_id = 4294967295u;
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, "[fe80::1%4294967295]:80");
}

static void addr_format_ignores_flowinfo(void) {
    char buf[WEFT_ADDR_STRLEN];
    weft_addr a = make_v6("::1", 80, 0);
    a.u.in6.sin6_flowinfo = htonl(0x12345);
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, "[::1]:80");
}

static void addr_format_reports_short_buffer(void) {
    weft_addr a = make_v4("10.20.30.40", 5000); /* "10.20.30.40:5000": 16 chars */
    char buf[32];
    /* exactly enough: 16 characters and the NUL */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(weft_addr_format(&a, buf, 17), 16);
    CHECK_STR(buf, "10.20.30.40:5000");
    CHECK_EQ(buf[17], 'x');
    /* one short: no room for the NUL */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(weft_addr_format(&a, buf, 16), -ENOSPC);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(buf[1], 'x'); /* nothing but the empty string written */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(weft_addr_format(&a, buf, 1), -ENOSPC);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(buf[1], 'x');
    /* len 0: nothing written at all */
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(weft_addr_format(&a, buf, 0), -ENOSPC);
    CHECK_EQ(buf[0], 'x');
    /* IPv6 with scope, one short */
    weft_addr b = make_v6("fe80::1", 80, 12); /* "[fe80::1%12]:80": 15 chars */
    CHECK_EQ(weft_addr_format(&b, buf, 15), -ENOSPC);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(weft_addr_format(&b, buf, 16), 15);
    CHECK_STR(buf, "[fe80::1%12]:80");
}

static void addr_format_fits_longest_address_in_strlen(void) {
    weft_addr a = make_v6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 4294967295u);
    char buf[WEFT_ADDR_STRLEN];
    int n = weft_addr_format(&a, buf, sizeof buf);
    CHECK_EQ(n, 58);
    CHECK_STR(buf, "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535");
    weft_addr b = make_v4("255.255.255.255", 65535);
    CHECK_EQ(weft_addr_format(&b, buf, sizeof buf), 21);
}

static void addr_format_rejects_empty_addr(void) {
    weft_addr empty;
    memset(&empty, 0, sizeof empty);
    char buf[WEFT_ADDR_STRLEN];
    memset(buf, 'x', sizeof buf);
    CHECK_EQ(weft_addr_format(&empty, buf, sizeof buf), -EINVAL);
    CHECK_EQ(buf[0], '\0');
    CHECK_EQ(weft_addr_format(NULL, buf, sizeof buf), -EINVAL);
    CHECK_EQ(buf[0], '\0');
    weft_addr a = make_v4("1.2.3.4", 1);
    CHECK_EQ(weft_addr_format(&a, NULL, 10), -EINVAL);
    CHECK_EQ(weft_addr_format(&a, NULL, 0), -EINVAL);
    /* family and len that disagree count as empty */
    a.len = sizeof a.u.in6;
    CHECK_EQ(weft_addr_format(&a, buf, sizeof buf), -EINVAL);
    a = make_v4("1.2.3.4", 1);
    a.u.sa.sa_family = AF_UNIX;
    CHECK_EQ(weft_addr_format(&a, buf, sizeof buf), -EINVAL);
}

/* ---- from_sockaddr ------------------------------------------------------ */

static void addr_from_sockaddr_copies_ipv4(void) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons(1234);
    sin.sin_addr.s_addr = htonl(0x7f000001);
    memset(sin.sin_zero, 0x55, sizeof sin.sin_zero); /* junk padding is cleared */
    weft_addr a;
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&sin, sizeof sin), 0);
    CHECK_EQ(weft_addr_family(&a), AF_INET);
    CHECK_EQ(a.len, sizeof sin);
    CHECK_EQ(weft_addr_port(&a), 1234);
    CHECK(all_bytes_zero(a.u.in4.sin_zero, sizeof a.u.in4.sin_zero));
    weft_addr want = make_v4("127.0.0.1", 1234);
    CHECK_EQ(weft_addr_equal(&a, &want), 1);
}

static void addr_from_sockaddr_copies_ipv6(void) {
    struct sockaddr_in6 sin6;
    memset(&sin6, 0, sizeof sin6);
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(4321);
    sin6.sin6_flowinfo = htonl(7);
    sin6.sin6_scope_id = 9;
    inet_pton(AF_INET6, "fe80::5", &sin6.sin6_addr);
    weft_addr a;
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof sin6), 0);
    CHECK_EQ(weft_addr_family(&a), AF_INET6);
    CHECK_EQ(a.len, sizeof sin6);
    CHECK(memcmp(&a.u.in6, &sin6, sizeof sin6) == 0); /* flowinfo kept */
    char buf[WEFT_ADDR_STRLEN];
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, "[fe80::5%9]:4321");
}

static void addr_from_sockaddr_accepts_storage_length(void) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(80);
    sin6->sin6_addr = in6addr_loopback;
    weft_addr a;
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sizeof ss), 0);
    CHECK_EQ(a.len, sizeof(struct sockaddr_in6));
    weft_addr want = make_v6("::1", 80, 0);
    CHECK_EQ(weft_addr_equal(&a, &want), 1);
}

static void addr_from_sockaddr_rejects_short_length(void) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    weft_addr a;

    ss.ss_family = AF_INET;
    memset(&a, 0xAA, sizeof a);
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&ss,
                                     sizeof(struct sockaddr_in) - 1), -EINVAL);
    CHECK(all_bytes_zero(&a, sizeof a));

    ss.ss_family = AF_INET6;
    memset(&a, 0xAA, sizeof a);
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&ss,
                                     sizeof(struct sockaddr_in6) - 1), -EINVAL);
    CHECK(all_bytes_zero(&a, sizeof a));
    /* a sockaddr_in's worth is not enough for IPv6 */
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&ss,
                                     sizeof(struct sockaddr_in)), -EINVAL);

    /* too short to even hold the family */
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&ss, 0), -EINVAL);
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&ss, 1), -EINVAL);
    CHECK_EQ(a.len, 0);
}

static void addr_from_sockaddr_rejects_unix(void) {
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof sun);
    sun.sun_family = AF_UNIX;
    strcpy(sun.sun_path, "/tmp/weft.sock");
    weft_addr a;
    memset(&a, 0xAA, sizeof a);
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&sun, sizeof sun), -EAFNOSUPPORT);
    CHECK(all_bytes_zero(&a, sizeof a));
    /* an unknown family is reported as such even with a short length */
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&sun, sizeof(sa_family_t)),
             -EAFNOSUPPORT);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    ss.ss_family = AF_UNSPEC;
    CHECK_EQ(weft_addr_from_sockaddr(&a, (struct sockaddr *)&ss, sizeof ss), -EAFNOSUPPORT);
}

static void addr_from_sockaddr_rejects_null(void) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    weft_addr a;
    memset(&a, 0xAA, sizeof a);
    CHECK_EQ(weft_addr_from_sockaddr(NULL, (struct sockaddr *)&sin, sizeof sin), -EINVAL);
    CHECK_EQ(weft_addr_from_sockaddr(&a, NULL, sizeof sin), -EINVAL);
    CHECK(all_bytes_zero(&a, sizeof a));
}

/* Bind a real socket to addr with port 0, read the kernel's answer back
 * through from_sockaddr.  Returns the port, 0 to skip (no such stack), -1 on
 * failure. */
static int bound_port(const char *text, weft_addr *got) {
    weft_addr a;
    if (weft_addr_parse(&a, text) != 0) return -1;
    int fd = socket(weft_addr_family(&a), SOCK_STREAM, 0);
    if (fd < 0) return 0;
    if (bind(fd, &a.u.sa, a.len) != 0) {
        close(fd);
        return 0;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int port = -1;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
        weft_addr_from_sockaddr(got, (struct sockaddr *)&ss, sl) == 0)
        port = weft_addr_port(got);
    close(fd);
    return port;
}

static void addr_from_sockaddr_reads_getsockname(void) {
    weft_addr got, want;
    int port = bound_port("127.0.0.1:0", &got);
    if (port == 0) {
        fprintf(stderr, "    (cannot bind 127.0.0.1; skipped)\n");
        return;
    }
    CHECK(port > 0);
    CHECK_EQ(weft_addr_family(&got), AF_INET);
    CHECK_EQ(weft_addr_parse(&want, "127.0.0.1:0"), 0);
    CHECK_EQ(weft_addr_set_port(&want, (uint16_t)port), 0);
    CHECK_EQ(weft_addr_equal(&got, &want), 1);

    port = bound_port("[::1]:0", &got);
    if (port == 0) {
        fprintf(stderr, "    (cannot bind ::1; IPv6 part skipped)\n");
        return;
    }
    CHECK(port > 0);
    CHECK_EQ(weft_addr_family(&got), AF_INET6);
    CHECK_EQ(weft_addr_parse(&want, "[::1]:0"), 0);
    CHECK_EQ(weft_addr_set_port(&want, (uint16_t)port), 0);
    CHECK_EQ(weft_addr_equal(&got, &want), 1);
}

/* ---- port, family, equal ------------------------------------------------ */

static void addr_set_port_keeps_address(void) {
    weft_addr a;
    char buf[WEFT_ADDR_STRLEN];
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:80"), 0);
    CHECK_EQ(weft_addr_set_port(&a, 65535), 0);
    CHECK_EQ(weft_addr_port(&a), 65535);
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, "1.2.3.4:65535");
    CHECK_EQ(weft_addr_parse(&a, "[fe80::1%4]:80"), 0);
    CHECK_EQ(weft_addr_set_port(&a, 0), 0);
    CHECK_EQ(weft_addr_port(&a), 0);
    CHECK(weft_addr_format(&a, buf, sizeof buf) > 0);
    CHECK_STR(buf, "[fe80::1%4]:0");
}

static void addr_port_rejects_empty(void) {
    weft_addr empty;
    memset(&empty, 0, sizeof empty);
    CHECK_EQ(weft_addr_port(&empty), -EINVAL);
    CHECK_EQ(weft_addr_port(NULL), -EINVAL);
    CHECK_EQ(weft_addr_set_port(&empty, 80), -EINVAL);
    CHECK(all_bytes_zero(&empty, sizeof empty)); /* left unchanged */
    CHECK_EQ(weft_addr_set_port(NULL, 80), -EINVAL);
    /* unknown family with a plausible len */
    weft_addr odd;
    memset(&odd, 0, sizeof odd);
    odd.u.sa.sa_family = AF_UNIX;
    odd.len = sizeof odd.u.in4;
    CHECK_EQ(weft_addr_port(&odd), -EINVAL);
    CHECK_EQ(weft_addr_set_port(&odd, 1), -EINVAL);
}

static void addr_family_reports_family(void) {
    weft_addr a, empty;
    memset(&empty, 0, sizeof empty);
    CHECK_EQ(weft_addr_family(&empty), 0);
    CHECK_EQ(weft_addr_family(NULL), 0);
    CHECK_EQ(weft_addr_parse(&a, "1.2.3.4:1"), 0);
    CHECK_EQ(weft_addr_family(&a), AF_INET);
    CHECK_EQ(weft_addr_parse(&a, "[::1]:1"), 0);
    CHECK_EQ(weft_addr_family(&a), AF_INET6);
    /* len must match the family */
    a.len = sizeof a.u.in4;
    CHECK_EQ(weft_addr_family(&a), 0);
    a = make_v4("1.2.3.4", 1);
    a.len = 0;
    CHECK_EQ(weft_addr_family(&a), 0);
}

static void addr_equal_compares_family_address_port(void) {
    weft_addr a = make_v4("1.2.3.4", 80), b = make_v4("1.2.3.4", 80);
    CHECK_EQ(weft_addr_equal(&a, &b), 1);
    CHECK_EQ(weft_addr_equal(&a, &a), 1);
    b = make_v4("1.2.3.5", 80);
    CHECK_EQ(weft_addr_equal(&a, &b), 0);
    b = make_v4("1.2.3.4", 81);
    CHECK_EQ(weft_addr_equal(&a, &b), 0);
    b = make_v6("::ffff:1.2.3.4", 80, 0);
    CHECK_EQ(weft_addr_equal(&a, &b), 0);
    CHECK_EQ(weft_addr_equal(&b, &a), 0);
    weft_addr c = make_v6("::1", 80, 0), d = make_v6("::1", 80, 0);
    CHECK_EQ(weft_addr_equal(&c, &d), 1);
    d = make_v6("::2", 80, 0);
    CHECK_EQ(weft_addr_equal(&c, &d), 0);
    d = make_v6("::1", 8080, 0);
    CHECK_EQ(weft_addr_equal(&c, &d), 0);
    /* IPv4 padding does not matter */
    b = make_v4("1.2.3.4", 80);
    memset(b.u.in4.sin_zero, 0x77, sizeof b.u.in4.sin_zero);
    CHECK_EQ(weft_addr_equal(&a, &b), 1);
}

static void addr_equal_compares_scope_id(void) {
    weft_addr a = make_v6("fe80::1", 80, 1), b = make_v6("fe80::1", 80, 2);
    CHECK_EQ(weft_addr_equal(&a, &b), 0);
    b.u.in6.sin6_scope_id = 1;
    CHECK_EQ(weft_addr_equal(&a, &b), 1);
    b.u.in6.sin6_scope_id = 0;
    CHECK_EQ(weft_addr_equal(&a, &b), 0);
}

static void addr_equal_ignores_flowinfo(void) {
    weft_addr a = make_v6("::1", 80, 0), b = make_v6("::1", 80, 0);
    b.u.in6.sin6_flowinfo = htonl(99);
    CHECK_EQ(weft_addr_equal(&a, &b), 1);
}

static void addr_equal_handles_empty_and_null(void) {
    weft_addr e1, e2, a = make_v4("0.0.0.0", 0);
    memset(&e1, 0, sizeof e1);
    memset(&e2, 0, sizeof e2);
    CHECK_EQ(weft_addr_equal(&e1, &e2), 1);
    CHECK_EQ(weft_addr_equal(&e1, &a), 0);
    CHECK_EQ(weft_addr_equal(&a, &e1), 0);
    CHECK_EQ(weft_addr_equal(NULL, &a), 0);
    CHECK_EQ(weft_addr_equal(&a, NULL), 0);
    CHECK_EQ(weft_addr_equal(NULL, NULL), 0);
}

int main(int argc, char **argv) {
    return test_main(argc, argv, (const test_case[]){
        TEST(addr_parses_ipv4_with_port),
        TEST(addr_parses_bracketed_ipv6),
        TEST(addr_parses_ipv6_loopback_and_unspecified),
        TEST(addr_parses_ipv4_mapped_ipv6),
        TEST(addr_parses_edge_ports),
        TEST(addr_parses_edge_octets),
        TEST(addr_accepts_leading_zeros_in_port),
        TEST(addr_parses_ipv6_numeric_scope),
        TEST(addr_parses_ipv6_interface_scope),
        TEST(addr_rejects_unknown_interface_scope),
        TEST(addr_rejects_bad_scope_syntax),
        TEST(addr_rejects_hostname),
        TEST(addr_rejects_port_out_of_range),
        TEST(addr_rejects_signed_port),
        TEST(addr_rejects_missing_port),
        TEST(addr_rejects_trailing_garbage),
        TEST(addr_rejects_whitespace),
        TEST(addr_rejects_leading_zeros_in_octets),
        TEST(addr_rejects_unbracketed_ipv6),
        TEST(addr_rejects_ipv4_in_brackets),
        TEST(addr_rejects_null_arguments),
        TEST(addr_parse_error_leaves_out_zeroed),
        TEST(addr_parse_preserves_errno),
        TEST(addr_parse_table),
        TEST(addr_format_round_trips),
        TEST(addr_format_randomized_round_trip),
        TEST(addr_format_prints_nonzero_scope_as_number),
        TEST(addr_format_ignores_flowinfo),
        TEST(addr_format_reports_short_buffer),
        TEST(addr_format_fits_longest_address_in_strlen),
        TEST(addr_format_rejects_empty_addr),
        TEST(addr_from_sockaddr_copies_ipv4),
        TEST(addr_from_sockaddr_copies_ipv6),
        TEST(addr_from_sockaddr_accepts_storage_length),
        TEST(addr_from_sockaddr_rejects_short_length),
        TEST(addr_from_sockaddr_rejects_unix),
        TEST(addr_from_sockaddr_rejects_null),
        TEST(addr_from_sockaddr_reads_getsockname),
        TEST(addr_set_port_keeps_address),
        TEST(addr_port_rejects_empty),
        TEST(addr_family_reports_family),
        TEST(addr_equal_compares_family_address_port),
        TEST(addr_equal_compares_scope_id),
        TEST(addr_equal_ignores_flowinfo),
        TEST(addr_equal_handles_empty_and_null),
        {0}});
}
