/* The libcurl client of the HTTP suites (http_client.h). */
#include "http_client.h"

#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <time.h>

#include "sigv4.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t collect_body(char *data, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t add = size * n;
    if (r->len + add + 1 > r->cap) { /* doubling: objects of many MiB arrive in 16 KiB pieces */
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + add + 1)
            cap *= 2;
        char *p = realloc(r->body, cap);
        if (!p)
            return 0;
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, add);
    r->len += add;
    r->body[r->len] = '\0';
    return add;
}

static size_t collect_header(char *data, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t add = size * n;
    if (strncmp(data, "HTTP/", 5) == 0)
        r->hlen = 0; /* a new response (after 100 Continue) */
    if (r->hlen + add < sizeof r->headers) {
        memcpy(r->headers + r->hlen, data, add);
        r->hlen += add;
        r->headers[r->hlen] = '\0';
    }
    return add;
}

static resp *perform(const char *base, const char *method, const char *path, const char *const *headers,
                     const void *body, long body_len, int keep_expect, const char *userpwd);

resp *tu_http(const char *base, const char *method, const char *path, const char *const *headers,
              const void *body, long body_len, int keep_expect)
{
    return perform(base, method, path, headers, body, body_len, keep_expect, NULL);
}

static int hexv(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes n bytes of s into a malloc'd string. */
static char *pct_decoded(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            o[k++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else {
            o[k++] = s[i];
        }
    }
    o[k] = '\0';
    return o;
}

resp *tu_s3(const char *base, const char *access, const char *secret, const char *method, const char *path,
            const char *const *headers, const void *body, long body_len, const char *payload_hash)
{
    char hash[80];
    if (!payload_hash) {
        unsigned char d[SHA256_DIGEST_LENGTH];
        SHA256(body_len > 0 ? body : (const void *)"", body_len > 0 ? (size_t)body_len : 0, d);
        for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
            sprintf(hash + 2 * i, "%02x", d[i]);
        payload_hash = hash;
    }
    const char *all[48];
    size_t n = 0;
    int has_type = 0;
    for (int i = 0; headers && headers[i] && n < 40; i++) {
        has_type |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
        all[n++] = headers[i];
    }
    /* libcurl would send a form content type with a body: send a plain one instead */
    if (!has_type)
        all[n++] = "Content-Type: application/octet-stream";
    char date_h[64], sha_h[120], *auth_h = NULL;
    if (secret) {
        /* Signed with the project's own SigV4 (src/sigv4.c, which the cold tier's S3 client uses). */
        char amz_date[17];
        sigv4_amz_date(time(NULL), amz_date);
        size_t pl = strcspn(path, "?");
        char *raw_path = pct_decoded(path, pl);
        sigv4_pair q[32], h[48];
        char *qbuf[64];
        size_t nq = 0, nb = 0, nh = 0;
        const char *qs = path[pl] == '?' ? path + pl + 1 : "";
        while (*qs && nq < 32) {
            size_t l = strcspn(qs, "&"), eq = strcspn(qs, "=");
            if (eq > l)
                eq = l;
            qbuf[nb] = pct_decoded(qs, eq);
            q[nq].name = qbuf[nb++];
            qbuf[nb] = eq < l ? pct_decoded(qs + eq + 1, l - eq - 1) : strdup("");
            q[nq++].value = qbuf[nb++];
            qs += l;
            if (*qs == '&')
                qs++;
        }
        char host[128], hdrs[48][2][1024];
        snprintf(host, sizeof host, "%s", strncmp(base, "http://", 7) == 0 ? base + 7 : base);
        int own_host = 0; /* a Host header given (virtual-hosted style) is the one signed */
        for (size_t i = 0; i < n; i++)
            own_host |= strncasecmp(all[i], "Host:", 5) == 0;
        if (!own_host)
            h[nh++] = (sigv4_pair){"host", host};
        h[nh++] = (sigv4_pair){"x-amz-date", amz_date};
        h[nh++] = (sigv4_pair){"x-amz-content-sha256", payload_hash};
        for (size_t i = 0; i < n && nh < 48; i++) {
            const char *colon = strchr(all[i], ':');
            snprintf(hdrs[i][0], sizeof hdrs[i][0], "%.*s", (int)(colon - all[i]), all[i]);
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            snprintf(hdrs[i][1], sizeof hdrs[i][1], "%s", v);
            h[nh++] = (sigv4_pair){hdrs[i][0], hdrs[i][1]};
        }
        sigv4_request req = {.method = method, .path = raw_path, .query = q, .query_count = nq, .headers = h,
                             .header_count = nh, .payload_hash = payload_hash};
        sigv4_credentials cred = {.access_key = access, .secret_key = secret, .region = "us-east-1", .service = "s3"};
        sigv4_signature sig = {0};
        ck_assert_int_eq(sigv4_sign(&req, &cred, amz_date, &sig), 0);
        auth_h = malloc(strlen(sig.authorization) + 32);
        sprintf(auth_h, "Authorization: %s", sig.authorization);
        sigv4_signature_clear(&sig);
        free(raw_path);
        for (size_t i = 0; i < nb; i++)
            free(qbuf[i]);
        snprintf(date_h, sizeof date_h, "x-amz-date: %s", amz_date);
        snprintf(sha_h, sizeof sha_h, "x-amz-content-sha256: %s", payload_hash);
        all[n++] = date_h;
        all[n++] = sha_h;
        all[n++] = auth_h;
    }
    all[n] = NULL;
    resp *r = perform(base, method, path, all, body, body_len, secret != NULL, NULL);
    free(auth_h);
    return r;
}

const char *tu_xml_get(const char *body, const char *name)
{
    static _Thread_local char value[8192];
    char open_tag[128], close_tag[128];
    snprintf(open_tag, sizeof open_tag, "<%s>", name);
    snprintf(close_tag, sizeof close_tag, "</%s>", name);
    const char *a = strstr(body, open_tag);
    if (!a)
        return NULL;
    a += strlen(open_tag);
    const char *b = strstr(a, close_tag);
    if (!b)
        return NULL;
    size_t n = (size_t)(b - a) < sizeof value - 1 ? (size_t)(b - a) : sizeof value - 1;
    memcpy(value, a, n);
    value[n] = '\0';
    return value;
}

void tu_assert_s3_error(resp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, expected %ld (%s); body: %s", r->status, status, code, r->body);
    ck_assert_msg(tu_resp_header(r, "x-amz-request-id") != NULL, "no x-amz-request-id: %s", r->headers);
    if (r->len == 0)
        return; /* a HEAD */
    const char *ct = tu_resp_header(r, "Content-Type");
    ck_assert_msg(ct && strcmp(ct, "application/xml") == 0, "error content type %s", ct ? ct : "(none)");
    ck_assert_msg(strstr(r->body, "<Error>") != NULL, "not an S3 error document: %s", r->body);
    const char *got = tu_xml_get(r->body, "Code");
    ck_assert_msg(got && strcmp(got, code) == 0, "Code %s, expected %s: %s", got ? got : "(none)", code, r->body);
    const char *msg = tu_xml_get(r->body, "Message");
    ck_assert_msg(msg && msg[0], "error without a Message: %s", r->body);
    ck_assert_msg(tu_xml_get(r->body, "RequestId") != NULL, "error without a RequestId: %s", r->body);
}

static resp *perform(const char *base, const char *method, const char *path, const char *const *headers,
                     const void *body, long body_len, int keep_expect, const char *userpwd)
{
    resp *r = calloc(1, sizeof *r);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[8192];
    snprintf(url, sizeof url, "%s%s", base, path);
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    if (!keep_expect)
        hl = curl_slist_append(hl, "Expect:");
    int has_type = 0;
    for (int i = 0; headers && headers[i]; i++)
        has_type |= strncasecmp(headers[i], "Content-Type:", 13) == 0;
    if (!has_type) /* libcurl would add a form content type to a body */
        hl = curl_slist_append(hl, "Content-Type:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, collect_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (userpwd) {
        curl_easy_setopt(c, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
        curl_easy_setopt(c, CURLOPT_USERPWD, userpwd);
    }
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body_len >= 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body_len ? body : "");
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_STARTTRANSFER_TIME, &r->first_byte_s);
    } else
        r->status = -(long)cc;
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!r->body)
        r->body = calloc(1, 1);
    return r;
}

void tu_resp_free(resp *r)
{
    if (r) {
        free(r->body);
        free(r);
    }
}

const char *tu_resp_header(resp *r, const char *name)
{
    static _Thread_local char value[4096];
    size_t nl = strlen(name);
    const char *line = r->headers;
    while (line && *line) {
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t n = strcspn(v, "\r\n");
            if (n >= sizeof value)
                n = sizeof value - 1;
            memcpy(value, v, n);
            value[n] = '\0';
            return value;
        }
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return NULL;
}

void tu_assert_error(resp *r, long status, const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, expected %ld; body: %s", r->status, status, r->body);
    const char *ct = tu_resp_header(r, "Content-Type");
    ck_assert_msg(ct && strcmp(ct, "application/json") == 0, "error content type %s", ct ? ct : "(none)");
    json_error_t je;
    json_t *root = json_loads(r->body, 0, &je);
    ck_assert_msg(root != NULL, "error body is not JSON: %s", r->body);
    json_t *err = json_object_get(root, "error");
    ck_assert_msg(json_is_object(err), "no error object: %s", r->body);
    ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
    const char *msg = json_string_value(json_object_get(err, "message"));
    ck_assert_msg(msg && msg[0], "error without a message: %s", r->body);
    json_decref(root);
}
