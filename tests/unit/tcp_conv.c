/* SPDX-License-Identifier: MIT */
/* tcp_conv.c: one TCP conversation for the unit tests: the peer's segments in, ours out,
 * checked and parsed (see tcp_conv.h). */
#include "tcp_conv.h"

#include "tcp.h"

static uint8_t rbuf[70000]; /* what expect_read reads into */

/* ---- set-up ---- */

void restart(struct fixture *f, struct tapir_config *cfg)
{
    cfg->arp_reachable_us = 1000000000000ull;
    fx_restart(f, cfg);
    fx_learn_gateway(f);
}

int setup_tcp(void **state)
{
    int rc = fx_setup(state);
    if (rc != 0)
        return rc;
    struct tapir_config cfg;
    fx_config(&cfg);
    restart(*state, &cfg);
    return 0;
}

const struct tapir_tcp_stats *tcps(const struct fixture *f)
{
    return &fx_stats(f)->tcp;
}

struct tapir_sock *listener(struct fixture *f, uint16_t port, int backlog, int rcvbuf)
{
    struct tapir_sock *s = NULL;
    assert_int_equal(tapir_sock_open(f->st, SOCK_STREAM, 0, &s), 0);
    if (rcvbuf > 0)
        assert_int_equal(tapir_sock_setopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    struct sockaddr_in a = sin_of(0, port);
    assert_int_equal(tapir_sock_bind(s, &a), 0);
    assert_int_equal(tapir_sock_listen(s, backlog), 0);
    return s;
}

/* ---- the peer's side ---- */

struct conv conv_new(struct fixture *f, uint16_t rport)
{
    return (struct conv){.f = f, .lport = LPORT, .rport = rport, .pwnd = 65535};
}

struct conv conv_listen(struct fixture *f, int rcvbuf)
{
    struct conv cv = conv_new(f, RPORT);
    cv.l = listener(f, LPORT, 8, rcvbuf);
    return cv;
}

struct conv conv_accepted(struct fixture *f, int rcvbuf)
{
    struct conv cv = conv_listen(f, rcvbuf);
    passive_open(&cv, PEER_ISN, 1460);
    return cv;
}

void conv_close(struct conv *cv)
{
    tapir_sock_close(cv->s);
    tapir_sock_close(cv->l);
}

void seg_in_opts(struct conv *cv, uint8_t flags, uint32_t seq, uint32_t ack, int mss,
                 const uint8_t *opts, size_t olen, const void *data, size_t len)
{
    uint8_t o[40];
    assert_true(olen + (cv->ts ? 12u : 0u) <= sizeof(o));
    if (olen)
        memcpy(o, opts, olen);
    if (cv->ts) {
        uint8_t *ts = o + olen;
        ts[0] = 1; /* NOP, NOP, then kind 8, length 10 (RFC 7323 §3.2) */
        ts[1] = 1;
        ts[2] = 8;
        ts[3] = 10;
        for (int k = 0; k < 4; k++) {
            ts[4 + k] = (uint8_t)(cv->tsval >> (24 - 8 * k));
            ts[8 + k] = (uint8_t)(cv->tsecr >> (24 - 8 * k));
        }
        olen += 12;
    }
    struct fx_tcp t = fx_tcp_default();
    t.sport = cv->rport;
    t.dport = cv->lport;
    t.seq = seq;
    t.ack = ack;
    t.flags = flags;
    t.wnd = cv->pwnd;
    t.mss = mss;
    t.options = o;
    t.options_len = olen;
    fx_inject_tcp(cv->f, &t, data, len);
}

void seg_in(struct conv *cv, uint8_t flags, uint32_t seq, uint32_t ack, int mss, const void *data,
            size_t len)
{
    seg_in_opts(cv, flags, seq, ack, mss, NULL, 0, data, len);
}

void peer_send(struct conv *cv, uint8_t flags, const void *data, size_t len)
{
    seg_in(cv, flags, cv->pseq, cv->pack, -1, data, len);
    cv->pseq += (uint32_t)len + ((flags & FX_TCP_SYN) ? 1u : 0u) + ((flags & FX_TCP_FIN) ? 1u : 0u);
}

void peer_ack(struct conv *cv)
{
    peer_send(cv, FX_TCP_ACK, NULL, 0);
    fx_clear(cv->f);
}

struct fx_tcp_view as_ours(const struct conv *cv, const struct fx_frame *fr)
{
    struct fx_ip_view ip;
    struct fx_tcp_view v = fx_as_tcp(fr, &ip);
    assert_int_equal(ip.src, FX_OUR_IP);
    assert_int_equal(ip.dst, PEER);
    assert_int_equal(v.sport, cv->lport);
    assert_int_equal(v.dport, cv->rport);
    return v;
}

struct fx_tcp_view out_one(struct conv *cv)
{
    return as_ours(cv, fx_expect_one(cv->f));
}

size_t out_all(struct conv *cv, struct fx_tcp_view *v, size_t max, bool keep_acks)
{
    size_t n, k = 0;
    const struct fx_frame *fr = fx_take_all(cv->f, &n);
    for (size_t i = 0; i < n; i++) {
        struct fx_tcp_view t = as_ours(cv, &fr[i]);
        if (!keep_acks && t.flags == FX_TCP_ACK && t.data_len == 0)
            continue;
        assert_true(k < max);
        v[k++] = t;
    }
    return k;
}

uint16_t expect_ack(struct conv *cv, uint32_t seq, uint32_t ack)
{
    struct fx_tcp_view v = out_one(cv);
    assert_int_equal(v.flags, FX_TCP_ACK);
    assert_int_equal(v.seq, seq);
    assert_int_equal(v.ack, ack);
    assert_int_equal(v.data_len, 0);
    return v.wnd;
}

uint16_t expect_delayed_ack(struct conv *cv, uint32_t seq, uint32_t ack)
{
    struct fixture *f = cv->f;
    uint64_t delayed = tcps(f)->delayed_acks;
    fx_expect_none(f);
    fx_advance(f, f->cfg.tcp_delack_us - 1);
    fx_expect_none(f);
    fx_advance(f, 1);
    uint16_t wnd = expect_ack(cv, seq, ack);
    assert_int_equal(tcps(f)->delayed_acks, delayed + 1);
    return wnd;
}

struct tcp_conn *conn_of(const struct conv *cv)
{
    return tcp_lookup(cv->f->st, FX_OUR_IP, cv->lport, PEER, cv->rport);
}

const char *state_of(const struct conv *cv)
{
    const struct tcp_conn *c = conn_of(cv);
    return tcp_state_name(c ? c->state : TCP_CLOSED);
}

struct fx_tcp_view syn_to_listener_opts(struct conv *cv, uint32_t peer_isn, int mss,
                                        const uint8_t *opts, size_t olen)
{
    cv->irs = peer_isn;
    cv->pseq = peer_isn;
    seg_in_opts(cv, FX_TCP_SYN, peer_isn, 0, mss, opts, olen, NULL, 0);
    cv->pseq = peer_isn + 1;
    struct fx_tcp_view v = out_one(cv);
    assert_int_equal(v.flags, FX_TCP_SYN | FX_TCP_ACK);
    assert_int_equal(v.ack, peer_isn + 1);
    cv->iss = v.seq;
    cv->pack = v.seq + 1;
    return v;
}

struct fx_tcp_view syn_to_listener(struct conv *cv, uint32_t peer_isn, int mss)
{
    return syn_to_listener_opts(cv, peer_isn, mss, NULL, 0);
}

void complete_passive_open(struct conv *cv)
{
    peer_ack(cv);
    assert_int_equal(tapir_sock_accept(cv->l, &cv->s, NULL), 0);
    assert_non_null(cv->s);
}

void passive_open(struct conv *cv, uint32_t peer_isn, int mss)
{
    syn_to_listener(cv, peer_isn, mss);
    complete_passive_open(cv);
    expect_state(cv, TCP_ESTABLISHED);
}

struct fx_tcp_view connect_syn(struct conv *cv, int rcvbuf)
{
    assert_int_equal(tapir_sock_open(cv->f->st, SOCK_STREAM, 0, &cv->s), 0);
    if (rcvbuf > 0)
        assert_int_equal(tapir_sock_setopt(cv->s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)),
                         0);
    struct sockaddr_in to = sin_of(PEER, cv->rport);
    assert_int_equal(tapir_sock_connect(cv->s, &to), -EINPROGRESS);
    struct fx_ip_view ip;
    struct fx_tcp_view v = fx_as_tcp(fx_expect_one(cv->f), &ip);
    assert_int_equal(ip.src, FX_OUR_IP);
    assert_int_equal(ip.dst, PEER);
    assert_int_equal(v.dport, cv->rport);
    assert_int_equal(v.flags, FX_TCP_SYN);
    cv->lport = v.sport;
    cv->iss = v.seq;
    cv->pack = v.seq + 1;
    return v;
}

void active_open(struct conv *cv, uint32_t peer_isn)
{
    connect_syn(cv, 0);
    cv->irs = peer_isn;
    seg_in(cv, FX_TCP_SYN | FX_TCP_ACK, peer_isn, cv->iss + 1, 1460, NULL, 0);
    cv->pseq = peer_isn + 1;
    expect_ack(cv, cv->iss + 1, peer_isn + 1);
    assert_int_equal(tapir_sock_connected(cv->s), 0);
    expect_state(cv, TCP_ESTABLISHED);
}

/* ---- the application's side ---- */

void app_send(struct tapir_sock *s, const void *data, size_t len)
{
    assert_int_equal(tapir_sock_sendto(s, data, len, 0, NULL), (ssize_t)len);
}

void expect_read(struct tapir_sock *s, const void *want, size_t len)
{
    assert_true(len + 1 <= sizeof(rbuf));
    assert_int_equal(tapir_sock_recvfrom(s, rbuf, len + 1, 0, NULL, NULL), (ssize_t)len);
    assert_memory_equal(rbuf, want, len);
}

void expect_nothing_to_read(struct tapir_sock *s)
{
    assert_int_equal(tapir_sock_recvfrom(s, rbuf, sizeof(rbuf), 0, NULL, NULL), -EAGAIN);
}

void set_tcp_opt(struct tapir_sock *s, int name, int v)
{
    assert_int_equal(tapir_sock_setopt(s, IPPROTO_TCP, name, &v, sizeof(v)), 0);
}

void set_sock_opt(struct tapir_sock *s, int name, int v)
{
    assert_int_equal(tapir_sock_setopt(s, SOL_SOCKET, name, &v, sizeof(v)), 0);
}

/* ---- reading our options ---- */

struct tc_opts opts_of(const struct fx_tcp_view *v)
{
    struct tc_opts o = {.mss = -1, .wscale = -1};
    const uint8_t *p = v->options;
    for (size_t i = 0; i < v->options_len;) {
        uint8_t kind = p[i];
        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        uint8_t olen = p[i + 1]; /* fx_as_tcp checked the lengths */
        if (kind < 32)
            o.kinds |= 1u << kind;
        const uint8_t *d = p + i + 2;
        switch (kind) {
        case 2:
            assert_int_equal(olen, 4);
            o.mss = fx_be16(d);
            break;
        case 3:
            assert_int_equal(olen, 3);
            o.wscale = d[0];
            break;
        case 4:
            assert_int_equal(olen, 2);
            o.sack_permitted = true;
            break;
        case 5:
            assert_true(olen >= 10 && (olen - 2) % 8 == 0 && (olen - 2) / 8 <= 4);
            o.sack_count = (olen - 2u) / 8u;
            for (unsigned k = 0; k < o.sack_count; k++) {
                o.sack[k][0] = fx_be32(d + 8 * k);
                o.sack[k][1] = fx_be32(d + 8 * k + 4);
            }
            break;
        case 8:
            assert_int_equal(olen, 10);
            o.ts = true;
            o.tsval = fx_be32(d);
            o.tsecr = fx_be32(d + 4);
            break;
        default:
            break;
        }
        i += olen;
    }
    return o;
}
