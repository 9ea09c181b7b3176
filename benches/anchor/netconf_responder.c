/* The NETCONF side of the anchor of benches/netconf.rs: OpenSSH's sshd runs
 * this as its "netconf" subsystem. It speaks base:1.0 end-of-message framing
 * (RFC 6242 §4.3) on stdin/stdout, sends the hello in DIR/hello.xml, skips
 * the client's hello, and answers every <rpc> with DIR/reply.xml, its "@ID@"
 * replaced by the request's message-id; <close-session> gets <ok/> and ends
 * the process. Both files hold bytes ncagent itself sent, so the anchor
 * puts the same bytes on the wire. Nothing else: no parsing, no schema.
 *
 * Usage: netconf_responder DIR */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char EOM[] = "]]>]]>";

static char *slurp(const char *dir, const char *name, size_t *len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) { perror(path); exit(2); }
  static char tmp[1 << 16];
  *len = fread(tmp, 1, sizeof tmp - 1, f);
  fclose(f);
  char *s = malloc(*len + 1);
  memcpy(s, tmp, *len);
  s[*len] = 0;
  return s;
}

static int write_all(const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(1, p, n);
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: %s DIR\n", argv[0]); return 2; }
  size_t hello_len, reply_len;
  char *hello = slurp(argv[1], "hello.xml", &hello_len);
  char *reply = slurp(argv[1], "reply.xml", &reply_len);
  char *at = strstr(reply, "@ID@");
  if (!at) { fprintf(stderr, "reply.xml has no @ID@\n"); return 2; }
  size_t pre_len = (size_t)(at - reply);
  const char *post = at + 4;
  size_t post_len = reply_len - pre_len - 4;

  static char out[1 << 17];
  memcpy(out, hello, hello_len);
  memcpy(out + hello_len, EOM, 6);
  if (write_all(out, hello_len + 6)) return 1;

  static char buf[1 << 20];
  size_t have = 0;
  int seen_hello = 0;
  for (;;) {
    ssize_t n = read(0, buf + have, sizeof buf - have);
    if (n <= 0) return 0;
    have += (size_t)n;
    char *end;
    while ((end = memmem(buf, have, EOM, 6)) != NULL) {
      size_t mlen = (size_t)(end - buf);
      if (!seen_hello) {
        seen_hello = 1;
      } else {
        const char *id = "";
        size_t id_len = 0;
        char *m = memmem(buf, mlen, "message-id=\"", 12);
        if (m) {
          id = m + 12;
          char *q = memchr(id, '"', (size_t)(end - id));
          id_len = q ? (size_t)(q - id) : 0;
        }
        if (id_len > 1024) id_len = 0;
        if (memmem(buf, mlen, "<close-session", 14)) {
          int k = snprintf(out, sizeof out,
                           "<rpc-reply xmlns=\"urn:ietf:params:xml:ns:netconf:base:1.0\" "
                           "message-id=\"%.*s\"><ok/></rpc-reply>]]>]]>",
                           (int)id_len, id);
          write_all(out, (size_t)k);
          return 0;
        }
        size_t k = 0;
        memcpy(out + k, reply, pre_len); k += pre_len;
        memcpy(out + k, id, id_len); k += id_len;
        memcpy(out + k, post, post_len); k += post_len;
        memcpy(out + k, EOM, 6); k += 6;
        if (write_all(out, k)) return 1;
      }
      size_t used = mlen + 6;
      memmove(buf, buf + used, have - used);
      have -= used;
    }
    if (have == sizeof buf) return 1; /* a message over 1 MiB: not ours */
  }
}
