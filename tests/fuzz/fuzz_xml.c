/* Fuzzes what the S3 client parses of a response (src/xml.c, src/s3.c, src/s3_list.c,
 * src/s3_multipart.c). Outside bytes: the body and header lines an S3 endpoint (or anything
 * pretending to be one) answers with. The parsers' element callbacks are static, so this file
 * #includes the three S3 sources (the fuzz build links every other library file) and feeds each
 * input to the real ones:
 *   - xml_parse with list_element (ListObjectsV2 pages, with and without encoding-type=url),
 *     mpu_create_element (CreateMultipartUpload's UploadId) and error_xml_element (<Error>);
 *   - xml_parse with a callback that checks what xml.h promises of every element;
 *   - every line of the input as a response header line through on_header, then check_range on
 *     the Content-Range it kept, and s3_parse_time / s3_parse_u64 on each line's value.
 *
 * Asserts: no memory error or undefined behaviour; xml_parse returns 0, the callback's value or a
 * negative code; each element's path is at most XML_MAX_PATH_BYTES with at most XML_MAX_DEPTH
 * names, its text is text_len bytes with a NUL after them and at most XML_MAX_TEXT_BYTES; a list
 * page holds at most S3_MAX_PAGE_ENTRIES keys, each NUL-terminated; header values stay within
 * their buffers. */
#include "../../src/s3.c"
#include "../../src/s3_list.c"
#include "../../src/s3_multipart.c"

#include "fuzz_common.h"

/* Checks xml.h's contract for every element; stops the parse at an element named "stop". */
static int check_element(void *ctx, const char *path, const char *text, size_t len)
{
    size_t *elements = ctx;
    size_t plen = strlen(path);
    FUZZ_CHECK(plen >= 1 && plen <= XML_MAX_PATH_BYTES);
    size_t depth = 1;
    for (size_t i = 0; i < plen; i++)
        depth += path[i] == '/';
    FUZZ_CHECK(depth <= XML_MAX_DEPTH);
    FUZZ_CHECK(len <= XML_MAX_TEXT_BYTES && text[len] == '\0');
    (*elements)++;
    if (plen >= 4 && strcmp(path + plen - 4, "stop") == 0)
        return 7;
    return 0;
}

static void parse_documents(const char *data, size_t size)
{
    size_t elements = 0;
    int rc = xml_parse(data, size, "fuzz.xml", check_element, &elements);
    FUZZ_CHECK(rc == 0 || rc == 7 || rc < 0);

    for (int url_encoded = 0; url_encoded < 2; url_encoded++) {
        list_page page = {.url = "http://fuzz/bucket?list-type=2", .url_encoded = url_encoded};
        rc = xml_parse(data, size, page.url, list_element, &page);
        FUZZ_CHECK(rc <= 0);
        FUZZ_CHECK(page.count <= S3_MAX_PAGE_ENTRIES);
        for (size_t i = 0; i < page.count; i++)
            FUZZ_CHECK(page.entries[i].key != NULL);
        list_page_clear(&page);
    }

    mpu_create_result created = {{0}};
    rc = xml_parse(data, size, "fuzz-mpu", mpu_create_element, &created);
    FUZZ_CHECK(rc <= 0);
    FUZZ_CHECK(memchr(created.upload_id, '\0', sizeof created.upload_id) != NULL);

    static s3_resp resp;
    memset(&resp, 0, sizeof resp);
    snprintf(resp.where, sizeof resp.where, "http://fuzz/bucket/key");
    parse_error_xml(&resp, data, size);
    FUZZ_CHECK(memchr(resp.err_code, '\0', sizeof resp.err_code) != NULL);
    FUZZ_CHECK(memchr(resp.err_message, '\0', sizeof resp.err_message) != NULL);
}

static void parse_headers(const char *data, size_t size)
{
    static s3_resp resp;
    memset(&resp, 0, sizeof resp);
    snprintf(resp.where, sizeof resp.where, "http://fuzz/bucket/key");
    transfer t = {.resp = &resp};
    const char *p = data, *end = data + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        /* curl hands the callback a buffer it may write to */
        char *line = malloc(n ? n : 1);
        if (!line)
            return;
        memcpy(line, p, n);
        FUZZ_CHECK(on_header(line, 1, n, &t) == n);
        char value[S3_HEADER_VALUE_MAX];
        const char *colon = memchr(line, ':', n);
        if (colon && take_header(line, n, "X", value, sizeof value) == 0) {
            size_t vn = n - (size_t)(colon + 1 - line);
            if (vn >= sizeof value)
                vn = sizeof value - 1;
            memcpy(value, colon + 1, vn);
            value[vn] = '\0';
            uint64_t u = 0;
            (void)s3_parse_u64(value, &u);
            (void)s3_parse_time(value);
        }
        free(line);
        p += n;
    }
    FUZZ_CHECK(memchr(resp.etag, '\0', sizeof resp.etag) != NULL);
    FUZZ_CHECK(memchr(resp.content_range, '\0', sizeof resp.content_range) != NULL);
    FUZZ_CHECK(memchr(resp.upload_id, '\0', sizeof resp.upload_id) != NULL);
    (void)s3_parse_time(resp.last_modified);
    uint64_t offset = size > 0 ? (uint8_t)data[0] : 0;
    size_t len = size > 1 ? (uint8_t)data[1] : 1;
    resp.fixed_got = len;
    (void)check_range(&resp, "key", offset, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (256u << 10))
        return 0;
    parse_documents((const char *)data, size);
    parse_headers((const char *)data, size);
    err_clear();
    return 0;
}
