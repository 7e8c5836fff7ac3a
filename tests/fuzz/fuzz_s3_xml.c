/* Fuzzes what the S3 API of floe serve reads of a request body (src/server/s3_xml.c) and the
 * checksum and base64 code behind it (src/server/s3_checksum.c). Outside bytes: the bodies of
 * CompleteMultipartUpload, DeleteObjects and CreateBucket, the keys floe escapes into answers, and
 * the base64 of checksum headers. Each input goes to:
 *   - the three body parsers, with message buffers of several sizes;
 *   - s3_xml_escape, whose output is parsed back as the text of an element;
 *   - s3_base64_decode and s3_base64_encode;
 *   - every checksum, in one piece and in two, and the CRCs' combining and the multipart values
 *     over the input's lines taken as parts' base64 digests.
 *
 * Asserts: no memory error, leak or undefined behaviour; a parser answers 0, or -1 with an error
 * code and a NUL-terminated message inside its buffer; parsed parts number 1..10000 with part
 * numbers in 1..10000, NUL-terminated ETags and checksums that are "" or decode to their digest's
 * length; parsed objects number 1..1000 with keys of at most 1024 bytes and no NUL before their
 * length; a location is NUL-terminated inside its buffer; escaped text always parses back when the
 * input has no C0 control byte but tab, LF and CR, and gives back the input exactly when that is
 * also UTF-8 XML can carry; base64 that decodes re-encodes to the same text, and any bytes
 * round-trip; a checksum does not depend on how its bytes were split, a CRC matches a
 * bit-at-a-time reference (inputs up to 4 KiB) and combining matches the concatenation. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "error.h"
#include "fuzz_common.h"
#include "s3_checksum.h"
#include "s3_xml.h"
#include "xml.h"

static void check_failure(int rc, const char *code, const char *msg, size_t cap)
{
    FUZZ_CHECK(rc == -1);
    FUZZ_CHECK(code != NULL && code[0] != '\0');
    if (cap)
        FUZZ_CHECK(memchr(msg, '\0', cap) != NULL);
}

static void parse_complete(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {0, 1, 40, 512};
    for (size_t k = 0; k < sizeof caps / sizeof *caps; k++) {
        s3_complete_part *parts = NULL;
        size_t n = 0;
        const char *code = NULL;
        char msg[512];
        int rc = s3_xml_parse_complete(data, size, &parts, &n, &code, msg, caps[k]);
        if (rc != 0) {
            check_failure(rc, code, msg, caps[k]);
            FUZZ_CHECK(parts == NULL && n == 0);
            continue;
        }
        FUZZ_CHECK(parts != NULL && n >= 1 && n <= S3_XML_MAX_PARTS);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(parts[i].part_number >= 1 && parts[i].part_number <= S3_XML_MAX_PARTS);
            FUZZ_CHECK(memchr(parts[i].etag, '\0', sizeof parts[i].etag) != NULL);
            for (int a = 0; a < S3_CK_COUNT; a++) {
                const char *ck = parts[i].checksum[a];
                FUZZ_CHECK(memchr(ck, '\0', S3_CHECKSUM_B64_MAX) != NULL);
                uint8_t raw[S3_CHECKSUM_MAX_BYTES];
                size_t got = 0;
                FUZZ_CHECK(ck[0] == '\0' || (s3_base64_decode(ck, strlen(ck), raw, sizeof raw, &got) == 0 &&
                                             got == s3_checksum_digest_bytes((enum s3_checksum_algo)a)));
            }
        }
        free(parts);
    }
}

static void parse_delete(const uint8_t *data, size_t size)
{
    s3_delete_request r = {0};
    const char *code = NULL;
    char msg[256];
    int rc = s3_xml_parse_delete(data, size, &r, &code, msg, sizeof msg);
    if (rc != 0) {
        check_failure(rc, code, msg, sizeof msg);
        FUZZ_CHECK(r.n == 0 && r.keys == NULL);
        return;
    }
    FUZZ_CHECK(r.n >= 1 && r.n <= S3_XML_MAX_DELETE_OBJECTS);
    FUZZ_CHECK(r.quiet == 0 || r.quiet == 1);
    for (size_t i = 0; i < r.n; i++) {
        FUZZ_CHECK(r.keys[i] != NULL && r.key_lens[i] <= S3_XML_MAX_KEY_BYTES);
        FUZZ_CHECK(strlen(r.keys[i]) == r.key_lens[i]); /* XML cannot carry a NUL */
    }
    s3_delete_request_free(&r);
    FUZZ_CHECK(r.n == 0 && r.keys == NULL);
}

static void parse_create_bucket(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {1, 10, S3_XML_LOCATION_MAX};
    for (size_t k = 0; k < sizeof caps / sizeof *caps; k++) {
        char location[S3_XML_LOCATION_MAX];
        const char *code = NULL;
        char msg[128];
        memcpy(location, "untouched", 10);
        int rc = s3_xml_parse_create_bucket(data, size, location, caps[k], &code, msg, sizeof msg);
        if (rc != 0) {
            check_failure(rc, code, msg, sizeof msg);
            FUZZ_CHECK(strcmp(location, "untouched") == 0);
            continue;
        }
        FUZZ_CHECK(memchr(location, '\0', caps[k]) != NULL);
    }
}

/* 1 if every byte of s is allowed raw in XML text once escaped: no C0 control but tab, LF, CR. */
static int no_forbidden_controls(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return 0;
    return 1;
}

/* 1 if s is UTF-8 that XML 1.0 can carry: well-formed, and neither U+FFFE nor U+FFFF. */
static int xml_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if ((s[i] & 0xe0) == 0xc0)
            cp = s[i] & 0x1f, len = 2;
        else if ((s[i] & 0xf0) == 0xe0)
            cp = s[i] & 0x0f, len = 3;
        else if ((s[i] & 0xf8) == 0xf0)
            cp = s[i] & 0x07, len = 4;
        else
            return 0;
        if (i + len > n)
            return 0;
        for (size_t j = 1; j < len; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_for_len[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
            cp == 0xffff)
            return 0;
        i += len;
    }
    return 1;
}

struct text_of_k {
    buf_t text;
    int seen;
};

static int take_k(void *ctx, const char *path, const char *text, size_t len)
{
    struct text_of_k *t = ctx;
    if (strcmp(path, "K") == 0) {
        t->seen = 1;
        buf_append(&t->text, text, len);
    }
    return 0;
}

static void escape_round_trip(const uint8_t *data, size_t size)
{
    buf_t doc;
    buf_init(&doc, 8 * size + 64);
    buf_puts(&doc, "<K>");
    s3_xml_escape(&doc, (const char *)data, size);
    buf_puts(&doc, "</K>");
    FUZZ_CHECK(doc.failed == 0);
    if (no_forbidden_controls(data, size)) {
        struct text_of_k t = {.seen = 0};
        buf_init(&t.text, XML_MAX_TEXT_BYTES);
        int rc = xml_parse(buf_str(&doc), doc.len, "escaped", take_k, &t);
        /* xml.c caps an element's text; anything shorter must come back */
        if (size * 3 <= XML_MAX_TEXT_BYTES) {
            FUZZ_CHECK(rc == 0 && t.seen);
            if (xml_utf8(data, size))
                FUZZ_CHECK(t.text.len == size && memcmp(buf_str(&t.text), data, size) == 0);
        }
        buf_free(&t.text);
    }
    buf_free(&doc);
}

static void base64_round_trip(const uint8_t *data, size_t size)
{
    size_t cap = size / 4 * 3 + 3;
    uint8_t *dec = malloc(cap);
    char *enc = malloc(S3_BASE64_LEN(size) + 1);
    FUZZ_CHECK(dec && enc);
    size_t got = 0;
    if (s3_base64_decode((const char *)data, size, dec, cap, &got) == 0) {
        char *again = malloc(S3_BASE64_LEN(got) + 1);
        FUZZ_CHECK(again != NULL);
        FUZZ_CHECK(s3_base64_encode(dec, got, again) == size && memcmp(again, data, size) == 0);
        free(again);
    }
    size_t n = s3_base64_encode(data, size, enc);
    FUZZ_CHECK(n == S3_BASE64_LEN(size) && enc[n] == '\0');
    uint8_t *back = malloc(size ? size : 1);
    FUZZ_CHECK(back != NULL);
    FUZZ_CHECK(s3_base64_decode(enc, n, back, size, &got) == 0 && got == size &&
               memcmp(back, data, size) == 0);
    free(back);
    free(dec);
    free(enc);
}

static uint64_t crc_bitwise(enum s3_checksum_algo a, const uint8_t *p, size_t len)
{
    uint64_t poly = a == S3_CK_CRC32 ? 0xEDB88320u : a == S3_CK_CRC32C ? 0x82F63B78u : 0x9A6C9329AC4BC9B5ull;
    uint64_t mask = a == S3_CK_CRC64NVME ? ~0ull : 0xffffffffull, r = mask;
    for (size_t i = 0; i < len; i++) {
        r ^= p[i];
        for (int bit = 0; bit < 8; bit++)
            r = (r & 1) ? (r >> 1) ^ poly : r >> 1;
    }
    return ~r & mask;
}

static void checksums(const uint8_t *data, size_t size)
{
    size_t split = size ? data[0] % (size + 1) : 0;
    for (int i = 0; i < S3_CK_COUNT; i++) {
        enum s3_checksum_algo a = (enum s3_checksum_algo)i;
        s3_checksum whole, pieces;
        char w[S3_CHECKSUM_B64_MAX], p[S3_CHECKSUM_B64_MAX];
        FUZZ_CHECK(s3_checksum_init(&whole, a) == 0 && s3_checksum_init(&pieces, a) == 0);
        s3_checksum_update(&whole, data, size);
        s3_checksum_update(&pieces, data, split);
        s3_checksum_update(&pieces, data + split, size - split);
        s3_checksum_final_b64(&whole, w);
        s3_checksum_final_b64(&pieces, p);
        FUZZ_CHECK(strcmp(w, p) == 0 && strlen(w) == S3_BASE64_LEN(s3_checksum_digest_bytes(a)));
        s3_checksum_free(&whole);
        s3_checksum_free(&pieces);
        if (a > S3_CK_CRC64NVME)
            continue;
        uint64_t crc = s3_crc_extend(a, 0, data, size);
        if (size <= 4096)
            FUZZ_CHECK(crc == crc_bitwise(a, data, size));
        uint64_t head = s3_crc_extend(a, 0, data, split),
                 tail = s3_crc_extend(a, 0, data + split, size - split);
        FUZZ_CHECK(s3_crc_combine(a, head, tail, size - split) == crc);
    }
}

/* The input's lines (at most 16) as parts' base64 digests. */
static void multipart_values(const uint8_t *data, size_t size)
{
    char *lines[16];
    uint64_t lens[16];
    size_t n = 0;
    const uint8_t *p = data, *end = data + size;
    while (p < end && n < 16) {
        const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        lines[n] = malloc(len + 1);
        FUZZ_CHECK(lines[n] != NULL);
        memcpy(lines[n], p, len);
        lines[n][len] = '\0';
        lens[n] = len * 1000003u;
        n++;
        p += len + 1;
    }
    for (int i = 0; i < S3_CK_COUNT; i++) {
        enum s3_checksum_algo a = (enum s3_checksum_algo)i;
        char out[S3_CHECKSUM_COMPOSITE_MAX];
        if (s3_checksum_composite_b64(a, (const char *const *)lines, n, out) == 0) {
            char suffix[16];
            snprintf(suffix, sizeof suffix, "-%zu", n);
            FUZZ_CHECK(strlen(out) > strlen(suffix) &&
                       strcmp(out + strlen(out) - strlen(suffix), suffix) == 0);
        }
        if (s3_checksum_full_object_b64(a, (const char *const *)lines, lens, n, out) == 0)
            FUZZ_CHECK(a <= S3_CK_CRC64NVME && strlen(out) == S3_BASE64_LEN(s3_checksum_digest_bytes(a)));
    }
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (256u << 10))
        return 0;
    parse_complete(data, size);
    parse_delete(data, size);
    parse_create_bucket(data, size);
    escape_round_trip(data, size);
    base64_round_trip(data, size);
    checksums(data, size);
    multipart_values(data, size);
    err_clear();
    return 0;
}
