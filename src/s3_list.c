/* Listing a prefix of the bucket with ListObjectsV2 (s3_list in s3.h), page by page.
 *
 * Invariants:
 * 1. A page is held whole, capped at S3_MAX_LIST_PAGE_BYTES of XML and S3_MAX_PAGE_ENTRIES keys;
 *    a bigger one is an error, not a realloc.
 * 2. Every key handed to the callback is under the client's prefix, with the prefix removed and
 *    S3's URL encoding undone; a key outside it, or one whose decoding is broken or holds a NUL or
 *    control byte, is an error for the whole page, never passed on, shortened or skipped.
 * 3. A truncated page must bring a new continuation token, so a server that repeats itself cannot
 *    make the listing loop forever.
 */
#include "s3.h"
#include "s3_internal.h"

#include "array.h"
#include "error.h"
#include "xml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3_MAX_PAGE_ENTRIES 10000

/* Decodes S3's encoding-type=url escapes (%XX, and '+' for a space) of s into out, which holds at
 * least strlen(s) + 1 bytes; with url_encoded 0 copies s as is. Returns NULL, or why the result is not a
 * name: a broken escape, or a NUL or control byte (decoded or raw). A NUL would silently shorten the
 * name ("1-1.seg%00.evil" reading as "1-1.seg"), so a caller would act on another object; no key floe
 * writes holds a control byte (cold.h). */
static const char *key_decode(const char *s, int url_encoded, char *out)
{
    char *w = out;
    for (const char *r = s; *r; r++) {
        unsigned char ch = (unsigned char)*r;
        if (url_encoded && ch == '%') {
            unsigned v = 0;
            for (int i = 1; i <= 2; i++) {
                char c = r[i];
                unsigned d = (c >= '0' && c <= '9')   ? (unsigned)(c - '0')
                             : (c >= 'a' && c <= 'f') ? (unsigned)(c - 'a' + 10)
                             : (c >= 'A' && c <= 'F') ? (unsigned)(c - 'A' + 10)
                                                      : 16u;
                if (d == 16)
                    return "a '%' that is not followed by two hex digits";
                v = v * 16 + d;
            }
            ch = (unsigned char)v;
            r += 2;
        } else if (url_encoded && ch == '+') {
            ch = ' ';
        }
        if (ch < 0x20 || ch == 0x7f)
            return ch == 0 ? "a NUL byte, which would cut the name short" : "a control byte";
        *w++ = (char)ch;
    }
    *w = '\0';
    return NULL;
}

typedef struct list_entry {
    char *key;
    uint64_t size;
    int64_t mtime;
} list_entry;

typedef struct list_page {
    list_entry *entries;
    size_t count;
    size_t cap;
    list_entry cur; /* the <Contents> being read */
    int truncated;
    int url_encoded;
    char *next_token;
    const char *url;
    int rc;
} list_page;

static void list_page_clear(list_page *p)
{
    for (size_t i = 0; i < p->count; i++)
        free(p->entries[i].key);
    free(p->entries);
    free(p->cur.key);
    free(p->next_token);
    memset(p, 0, sizeof *p);
}

static int list_element(void *ctx, const char *path, const char *text, size_t len)
{
    list_page *p = ctx;
    if (strcmp(path, "ListBucketResult/Contents/Key") == 0) {
        if (memchr(text, '\0', len))
            return err_set(FLOE_ECOLD, "s3 GET %s: listed key '%.100s' holds a NUL byte", p->url, text);
        free(p->cur.key);
        p->cur.key = strndup(text, len);
        if (!p->cur.key)
            return err_set(FLOE_ENOMEM, "s3 list %s: out of memory", p->url);
    } else if (strcmp(path, "ListBucketResult/Contents/Size") == 0) {
        if (s3_parse_u64(text, &p->cur.size) != 0)
            return err_set(FLOE_ECOLD, "s3 GET %s: bad <Size> '%.40s' in list result", p->url, text);
    } else if (strcmp(path, "ListBucketResult/Contents/LastModified") == 0) {
        /* A time that does not parse stays 0, which </Contents> refuses: gc must not read it as 1970. */
        if ((p->cur.mtime = s3_parse_time(text)) == 0)
            return err_set(FLOE_ECOLD, "s3 GET %s: bad <LastModified> '%.40s' in list result", p->url, text);
    } else if (strcmp(path, "ListBucketResult/Contents") == 0) {
        if (!p->cur.key)
            return err_set(FLOE_ECOLD, "s3 GET %s: list result has <Contents> without <Key>", p->url);
        if (p->cur.mtime == 0)
            return err_set(FLOE_ECOLD, "s3 GET %s: list result has <Contents> without <LastModified>",
                           p->url);
        if (p->count == S3_MAX_PAGE_ENTRIES)
            return err_set(FLOE_ECOLD, "s3 GET %s: list page has more than %d keys", p->url,
                           S3_MAX_PAGE_ENTRIES);
        if (array_grow(&p->entries, &p->cap, p->count + 1, sizeof *p->entries, 256, SIZE_MAX) != 0)
            return err_set(FLOE_ENOMEM, "s3 list %s: out of memory", p->url);
        p->entries[p->count++] = p->cur;
        memset(&p->cur, 0, sizeof p->cur);
    } else if (strcmp(path, "ListBucketResult/IsTruncated") == 0) {
        p->truncated = strcmp(text, "true") == 0;
    } else if (strcmp(path, "ListBucketResult/NextContinuationToken") == 0) {
        free(p->next_token);
        p->next_token = strndup(text, len);
        if (!p->next_token)
            return err_set(FLOE_ENOMEM, "s3 list %s: out of memory", p->url);
    } else if (strcmp(path, "ListBucketResult/EncodingType") == 0) {
        p->url_encoded = strcmp(text, "url") == 0;
    }
    return 0;
}

/* Decodes and checks every key of page in place, before any reaches the caller's callback, so a
 * bad page hands on nothing: a listing that gc or fsck acts on is refused whole rather than cut
 * short or skipped past a name it cannot represent. The error (FLOE_ECOLD, counted) names the key
 * as the server sent it; FLOE_ENOMEM otherwise. */
static int decode_page_keys(s3_client *c, list_page *page, const char *where)
{
    size_t strip = strlen(c->prefix);
    for (size_t i = 0; i < page->count; i++) {
        char *k = page->entries[i].key;
        char *decoded = malloc(strlen(k) + 1);
        if (!decoded)
            return err_set(FLOE_ENOMEM, "s3 list %s: out of memory", where);
        const char *why = key_decode(k, page->url_encoded, decoded);
        int rc = 0;
        if (why)
            rc = s3_count_error(c, FLOE_COLD_LIST,
                                err_set(FLOE_ECOLD,
                                        "s3 GET %s: listed key '%.200s' decodes to no usable name: it "
                                        "holds %s; floe never writes such a key: remove that object or "
                                        "give floe a prefix of its own",
                                        where, k, why));
        else if (strncmp(decoded, c->prefix, strip) != 0)
            rc = s3_count_error(c, FLOE_COLD_LIST,
                                err_set(FLOE_ECOLD, "s3 GET %s: listed key '%.100s' is outside prefix '%s'",
                                        where, decoded, c->prefix));
        if (rc) {
            free(decoded);
            return rc;
        }
        free(k);
        page->entries[i].key = decoded;
    }
    return 0;
}

int s3_list(s3_client *c, const char *prefix, uint32_t page_keys, s3_list_fn fn, void *ctx)
{
    return s3_list_after(c, prefix, NULL, page_keys, fn, ctx);
}

int s3_list_after(s3_client *c, const char *prefix, const char *start_after, uint32_t page_keys,
                  s3_list_fn fn, void *ctx)
{
    int rc = 0;
    char *token = NULL;
    char full_prefix[1024 + 512 + 2], full_start[1024 + 512 + 2];
    char max_keys[16];
    list_page page = {0};
    s3_resp r = {0};

    if (!fn)
        return err_set(FLOE_EINVAL, "s3 list: no callback");
    if (page_keys == 0 || page_keys > 1000)
        page_keys = 1000;
    int n = snprintf(full_prefix, sizeof full_prefix, "%s%s", c->prefix, prefix ? prefix : "");
    if (n < 0 || (size_t)n >= sizeof full_prefix)
        return err_set(FLOE_EINVAL, "s3 list: prefix too long");
    n = snprintf(full_start, sizeof full_start, "%s%s", c->prefix, start_after ? start_after : "");
    if (n < 0 || (size_t)n >= sizeof full_start)
        return err_set(FLOE_EINVAL, "s3 list: start key too long");
    size_t strip = strlen(c->prefix);
    snprintf(max_keys, sizeof max_keys, "%u", page_keys);

    for (;;) {
        s3_req req = {.op = FLOE_COLD_LIST, .sink = SINK_BUFFER, .max_body = S3_MAX_LIST_PAGE_BYTES};
        req.query[req.query_count++] = (sigv4_pair){"list-type", "2"};
        req.query[req.query_count++] = (sigv4_pair){"prefix", full_prefix};
        req.query[req.query_count++] = (sigv4_pair){"max-keys", max_keys};
        req.query[req.query_count++] = (sigv4_pair){"encoding-type", "url"};
        if (token)
            req.query[req.query_count++] = (sigv4_pair){"continuation-token", token};
        else if (start_after && start_after[0])
            req.query[req.query_count++] = (sigv4_pair){"start-after", full_start};
        s3_resp_free(&r);
        if ((rc = s3_perform(c, &req, &r)) != 0) {
            s3_count_error(c, FLOE_COLD_LIST, rc);
            goto out;
        }
        if (!s3_status_ok(r.status)) {
            rc = s3_status_error(c, FLOE_COLD_LIST, &r);
            goto out;
        }
        s3_note_success(c, &r);
        if (r.too_big) {
            rc = s3_count_error(c, FLOE_COLD_LIST,
                                err_set(FLOE_ECOLD, "s3 GET %s: list page larger than %d bytes", r.where,
                                        S3_MAX_LIST_PAGE_BYTES));
            goto out;
        }
        list_page_clear(&page);
        page.url = r.where;
        if ((rc = xml_parse(buf_str(&r.body), r.body.len, r.where, list_element, &page)) != 0) {
            rc = s3_count_error(c, FLOE_COLD_LIST, err_wrap(FLOE_ECOLD, "s3 list"));
            goto out;
        }
        if ((rc = decode_page_keys(c, &page, r.where)) != 0)
            goto out;
        for (size_t i = 0; i < page.count; i++) {
            if ((rc = fn(ctx, page.entries[i].key + strip, page.entries[i].size, page.entries[i].mtime)) != 0)
                goto out;
        }
        if (!page.truncated)
            break;
        if (!page.next_token || !page.next_token[0] || (token && strcmp(token, page.next_token) == 0)) {
            rc = s3_count_error(c, FLOE_COLD_LIST,
                                err_set(FLOE_ECOLD,
                                        "s3 GET %s: truncated list page without a new continuation token",
                                        r.where));
            goto out;
        }
        free(token);
        token = page.next_token;
        page.next_token = NULL;
    }
out:
    list_page_clear(&page);
    s3_resp_free(&r);
    free(token);
    return rc;
}
