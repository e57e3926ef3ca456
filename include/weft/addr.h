/*
 * weft/addr.h - socket addresses: IPv4 or IPv6 address plus port.
 *
 * weft_addr is the C counterpart of Rust's std::net::SocketAddr: a value type
 * holding either a struct sockaddr_in or a struct sockaddr_in6, ready to pass
 * to the socket calls as `&a.u.sa, a.len`.  It owns no memory; copy it with
 * `=`.  A zero-initialised weft_addr (len == 0) is "empty": it is what every
 * function here leaves behind on failure, and the formatting and port
 * functions refuse it.
 *
 * Text form (parse and format), like Rust's SocketAddr FromStr / Display:
 *
 *     1.2.3.4:80                 IPv4: dotted quad, then ':' and the port
 *     [::1]:80                   IPv6 in brackets, then ':' and the port
 *     [fe80::1%2]:80             IPv6 with a numeric scope id
 *     [fe80::1%eth0]:80          IPv6 with an interface name (parse only)
 *
 * Parsing rules, exactly:
 *   - IPv4: four decimal octets 0..255 separated by '.', each 1 to 3 digits.
 *     An octet with a leading zero ("01", "001", "00") is rejected, as Rust
 *     does, because inet_aton() and friends read such octets as octal: the
 *     string "010.0.0.1" means 8.0.0.1 to some parsers and 10.0.0.1 to
 *     others, so it is refused rather than guessed at.  A lone "0" is fine.
 *   - IPv6: whatever inet_pton(AF_INET6) accepts between the brackets (hex
 *     groups, "::", an embedded dotted quad such as "::ffff:1.2.3.4"; hex
 *     digits in either case), optionally followed by '%' and a scope:
 *       - all decimal digits: a numeric scope id 0..4294967295 (leading
 *         zeros allowed, as in Rust);
 *       - otherwise an interface name (1 to IFNAMSIZ-1 bytes, no whitespace,
 *         control characters, '/', ':', '%', '[' or ']'), resolved with
 *         if_nametoindex() at parse time.  An interface that does not exist
 *         is -ENODEV (not -EINVAL), so callers can tell a typo in the syntax
 *         from a machine without that interface.  Note that anything not
 *         all digits is taken as a name, so "%-1" or "%1x" give -ENODEV.
 *     A scope is accepted on any IPv6 address, not only link-local ones
 *     (as in Rust).  IPv4 addresses take no scope.
 *   - Port: one or more decimal digits with a value 0..65535.  Leading zeros
 *     are allowed ("1.2.3.4:0080" is port 80), as in Rust; a sign, spaces or
 *     an overflowing value are not.
 *   - Nothing else: no surrounding whitespace, no trailing characters, no
 *     missing port, no unbracketed IPv6, no host names ("localhost:80" is
 *     -EINVAL: there is no DNS here).
 *
 * Formatting is canonical: IPv4 as a plain dotted quad; IPv6 in the RFC 5952
 * form Rust prints (lowercase hex, no leading zeros in a group, the longest
 * run of two or more zero groups -- the first such run on a tie -- written
 * "::"), except that IPv4-mapped addresses print as "::ffff:a.b.c.d".  A
 * nonzero scope id is printed as "%<number>" (never as a name); a zero scope
 * id is omitted.  The IPv6 flow info is neither printed nor compared.  So
 * format(parse(s)) gives back s whenever s is already canonical, and
 * parse(format(a)) is equal to a for every non-empty a.
 *
 * Errors are negative errno values; no function here aborts on bad input,
 * including NULL pointers.
 *
 * Thread rules: none of these functions keep state; they may be called from
 * any thread at once, as long as a weft_addr being written is not read or
 * written by another thread at the same time.  weft_addr_parse with an
 * interface-name scope makes a short system call (if_nametoindex opens and
 * closes a socket); everything else is pure computation.
 */
#ifndef WEFT_ADDR_H
#define WEFT_ADDR_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * An IPv4 or IPv6 socket address.  u.sa.sa_family says which member of u is
 * in use; len is sizeof u.in4 or sizeof u.in6 to match, or 0 for the empty
 * address.  Fields are stored in network byte order, as the socket calls
 * want them.  Filling it in by hand is allowed, but family and len must
 * agree or the functions below treat it as empty/unknown.
 */
typedef struct weft_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
    socklen_t len; /* sizeof in4 or in6; 0 = empty */
} weft_addr;

/* Buffer size enough for any formatted address, including a scope id and the
 * port, with the terminating NUL. */
#define WEFT_ADDR_STRLEN 64

/*
 * Parse "IPv4:port" or "[IPv6]:port" / "[IPv6%scope]:port" (rules in the
 * comment at the top of this file) into *out.
 *
 * Returns 0 on success.  Errors: -EINVAL if out or s is NULL or s is not
 * exactly one of the accepted forms; -ENODEV if the scope names an interface
 * that does not exist; another negative errno if the interface lookup itself
 * fails (for example -EMFILE when no descriptor is available for it).  On any
 * error *out (when out is not NULL) is zeroed, so it reads as empty.
 *
 * s is only read and is not kept.  Sets no errno (errno is preserved).
 */
int weft_addr_parse(weft_addr *out, const char *s);

/*
 * Write the text form of *a ("1.2.3.4:80", "[::1]:80", "[fe80::1%2]:80")
 * into buf, which has room for len bytes, and NUL-terminate it.
 * WEFT_ADDR_STRLEN bytes are always enough.
 *
 * Returns the length of the string written, not counting the NUL.  Errors:
 * -EINVAL if a or buf is NULL or *a is empty (or its family and len do not
 * agree); -ENOSPC if the text and its NUL do not fit in len bytes.  On either
 * error, if buf is not NULL and len > 0, buf holds the empty string; nothing
 * is ever written past buf[len - 1] (len == 0 writes nothing).
 */
int weft_addr_format(const weft_addr *a, char *buf, size_t len);

/*
 * Copy a socket address returned by the system (accept, getsockname,
 * recvfrom, getaddrinfo, ...) into *out.  len is the length the system
 * reported; it must cover the whole struct sockaddr_in / sockaddr_in6 for
 * the family (it may be larger, e.g. sizeof(struct sockaddr_storage); the
 * extra bytes are ignored).  For IPv4 the sin_zero padding is cleared.
 *
 * Returns 0 on success.  Errors: -EINVAL if out or sa is NULL, or len is too
 * short to hold the family field or the full structure for that family;
 * -EAFNOSUPPORT if the family is neither AF_INET nor AF_INET6 (AF_UNIX, for
 * one).  On error *out (when out is not NULL) is zeroed.  sa is only read
 * and is not kept.
 */
int weft_addr_from_sockaddr(weft_addr *out, const struct sockaddr *sa,
                            socklen_t len);

/*
 * The port of *a in host byte order (0..65535).  Errors: -EINVAL if a is
 * NULL or empty/unknown.
 */
int weft_addr_port(const weft_addr *a);

/*
 * Set the port of *a (port in host byte order), keeping the address and
 * scope id.  Returns 0.  Errors: -EINVAL if a is NULL or empty/unknown (*a
 * is then left unchanged).
 */
int weft_addr_set_port(weft_addr *a, uint16_t port);

/*
 * The address family of *a: AF_INET, AF_INET6, or 0 if a is NULL, empty, or
 * its family and len do not agree.  Never fails.
 */
int weft_addr_family(const weft_addr *a);

/*
 * Whether *a and *b are the same socket address: 1 if they have the same
 * family, address and port, and for IPv6 the same scope id (flow info is
 * ignored); 0 otherwise.  Two empty (or unknown) addresses are equal to each
 * other and to nothing else.  A NULL pointer is equal to nothing, not even
 * another NULL.  Never fails.
 */
int weft_addr_equal(const weft_addr *a, const weft_addr *b);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ADDR_H */
