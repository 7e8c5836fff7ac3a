/* Tests for the S3 XML reader (src/xml.c): element paths and text as S3's error bodies and
 * ListObjectsV2 pages use them, and the refusal, with a message, of malformed, hostile or
 * oversized documents. */
#include "error.h"
#include "floe.h"
#include "testutil.h"
#include "xml.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the callback saw, in order. */
#define MAX_EVENTS 64

typedef struct event {
    char path[XML_MAX_PATH_BYTES + 1];
    char *text;
    size_t len;
} event;

typedef struct recorder {
    event ev[MAX_EVENTS];
    size_t count;
    size_t calls;
    size_t fail_at; /* 1-based call that returns fail_rc; 0 for never */
    int fail_rc;
} recorder;

static int record(void *ctx, const char *path, const char *text, size_t len)
{
    recorder *r = ctx;
    r->calls++;
    ck_assert_uint_le(strlen(path), XML_MAX_PATH_BYTES);
    ck_assert_int_eq(text[len], '\0'); /* text is NUL-terminated as xml.h promises */
    if (r->count < MAX_EVENTS) {
        event *e = &r->ev[r->count++];
        snprintf(e->path, sizeof e->path, "%s", path);
        e->text = malloc(len + 1);
        ck_assert_ptr_nonnull(e->text);
        memcpy(e->text, text, len + 1);
        e->len = len;
    }
    return r->fail_at && r->calls == r->fail_at ? r->fail_rc : 0;
}

static void recorder_free(recorder *r)
{
    for (size_t i = 0; i < r->count; i++)
        free(r->ev[i].text);
    memset(r, 0, sizeof *r);
}

static int parse(const char *doc, recorder *r)
{
    return xml_parse(doc, strlen(doc), "https://s3.test/bucket?list-type=2", record, r);
}

/* The event for path, which must have been seen exactly once. */
static const event *only(const recorder *r, const char *path)
{
    const event *found = NULL;
    for (size_t i = 0; i < r->count; i++) {
        if (strcmp(r->ev[i].path, path) == 0) {
            ck_assert_msg(!found, "%s reported twice", path);
            found = &r->ev[i];
        }
    }
    ck_assert_msg(found != NULL, "%s never reported", path);
    return found;
}

static void assert_refused(const char *doc, size_t len, const char *what_in_message)
{
    recorder r = {0};
    err_clear();
    int rc = xml_parse(doc, len, "https://s3.test/bucket/key", record, &r);
    ck_assert_int_eq(rc, FLOE_ECORRUPT);
    ck_assert_msg(strstr(floe_last_error(), "https://s3.test/bucket/key") != NULL,
                  "message '%s' does not name the document", floe_last_error());
    ck_assert_msg(strstr(floe_last_error(), what_in_message) != NULL, "message '%s' does not say '%s'",
                  floe_last_error(), what_in_message);
    recorder_free(&r);
}

START_TEST(xml_s3_error_body_reports_code_and_message)
{
    const char *doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                      "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>"
                      "<Key>seg/000001.sst</Key><RequestId>tx0001</RequestId></Error>";
    recorder r = {0};
    ck_assert_int_eq(parse(doc, &r), 0);
    ck_assert_uint_eq(r.count, 5);
    ck_assert_str_eq(r.ev[0].path, "Error/Code");
    ck_assert_str_eq(r.ev[0].text, "NoSuchKey");
    ck_assert_uint_eq(r.ev[0].len, 9);
    ck_assert_str_eq(r.ev[1].path, "Error/Message");
    ck_assert_str_eq(r.ev[1].text, "The specified key does not exist.");
    ck_assert_str_eq(r.ev[2].path, "Error/Key");
    ck_assert_str_eq(r.ev[2].text, "seg/000001.sst");
    ck_assert_str_eq(r.ev[3].path, "Error/RequestId");
    ck_assert_str_eq(r.ev[4].path, "Error"); /* the root ends last */
    ck_assert_str_eq(r.ev[4].text, "");
    recorder_free(&r);
}
END_TEST

START_TEST(xml_list_objects_v2_page_reports_every_entry)
{
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
        "  <Name>floe-test</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>\n"
        "  <EncodingType>url</EncodingType><IsTruncated>true</IsTruncated>\n"
        "  <Contents><Key>p/a%20b</Key><LastModified>2024-05-17T09:30:00.000Z</LastModified>"
        "<ETag>&quot;0cc175b9c0f1b6a831c399e269772661&quot;</ETag><Size>1</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>\n"
        "  <Contents><Key>p/c</Key><Size>18446744073709551615</Size></Contents>\n"
        "  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
        "</ListBucketResult>\n";
    recorder r = {0};
    ck_assert_int_eq(parse(doc, &r), 0);
    size_t keys = 0, contents = 0;
    const char *want_keys[] = {"p/a%20b", "p/c"};
    const char *want_sizes[] = {"1", "18446744073709551615"};
    size_t sizes = 0;
    for (size_t i = 0; i < r.count; i++) {
        if (strcmp(r.ev[i].path, "ListBucketResult/Contents/Key") == 0) {
            ck_assert_uint_lt(keys, 2);
            ck_assert_str_eq(r.ev[i].text, want_keys[keys++]);
        } else if (strcmp(r.ev[i].path, "ListBucketResult/Contents/Size") == 0) {
            ck_assert_uint_lt(sizes, 2);
            ck_assert_str_eq(r.ev[i].text, want_sizes[sizes++]);
        } else if (strcmp(r.ev[i].path, "ListBucketResult/Contents") == 0) {
            contents++;
            ck_assert_uint_eq(keys, contents); /* each entry ends after its own key */
        }
    }
    ck_assert_uint_eq(keys, 2);
    ck_assert_uint_eq(sizes, 2);
    ck_assert_uint_eq(contents, 2);
    ck_assert_str_eq(only(&r, "ListBucketResult/IsTruncated")->text, "true");
    ck_assert_str_eq(only(&r, "ListBucketResult/EncodingType")->text, "url");
    ck_assert_str_eq(only(&r, "ListBucketResult/NextContinuationToken")->text,
                     "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
    ck_assert_str_eq(only(&r, "ListBucketResult/Contents/ETag")->text,
                     "\"0cc175b9c0f1b6a831c399e269772661\"");
    ck_assert_str_eq(r.ev[r.count - 1].path, "ListBucketResult");
    recorder_free(&r);
}
END_TEST

START_TEST(xml_entities_and_character_references_are_decoded)
{
    recorder r = {0};
    ck_assert_int_eq(parse("<R><Key>a&amp;b&lt;c&gt;&apos;&quot;&#x41;&#66;\xc3\xa9</Key></R>", &r), 0);
    ck_assert_str_eq(only(&r, "R/Key")->text, "a&b<c>'\"AB\xc3\xa9");
    ck_assert_uint_eq(only(&r, "R/Key")->len, 12);
    recorder_free(&r);
}
END_TEST

START_TEST(xml_cdata_text_is_reported_verbatim)
{
    recorder r = {0};
    ck_assert_int_eq(parse("<R><Message><![CDATA[a <b> & c]]></Message></R>", &r), 0);
    ck_assert_str_eq(only(&r, "R/Message")->text, "a <b> & c");
    recorder_free(&r);
}
END_TEST

START_TEST(xml_parent_text_is_what_follows_its_last_child)
{
    recorder r = {0};
    ck_assert_int_eq(parse("<a>before<b>inner</b>after</a>", &r), 0);
    ck_assert_uint_eq(r.count, 2);
    ck_assert_str_eq(r.ev[0].path, "a/b");
    ck_assert_str_eq(r.ev[0].text, "inner");
    ck_assert_str_eq(r.ev[1].path, "a");
    ck_assert_str_eq(r.ev[1].text, "after");
    recorder_free(&r);
}
END_TEST

START_TEST(xml_sibling_paths_do_not_leak_into_each_other)
{
    recorder r = {0};
    ck_assert_int_eq(parse("<r><long-name><x>1</x></long-name><s><y>2</y></s></r>", &r), 0);
    ck_assert_str_eq(only(&r, "r/long-name/x")->text, "1");
    ck_assert_str_eq(only(&r, "r/s/y")->text, "2");
    ck_assert_str_eq(only(&r, "r/s")->text, "");
    recorder_free(&r);
}
END_TEST

START_TEST(xml_callback_error_stops_the_parse_and_is_returned)
{
    recorder r = {.fail_at = 2, .fail_rc = FLOE_ECOLD};
    ck_assert_int_eq(parse("<r><a>1</a><b>2</b><c>3</c></r>", &r), FLOE_ECOLD);
    ck_assert_uint_eq(r.calls, 2); /* nothing after the refusing call */
    ck_assert_str_eq(r.ev[1].path, "r/b");
    recorder_free(&r);
}
END_TEST

START_TEST(xml_malformed_document_is_refused_with_its_line)
{
    const char *doc = "<Error>\n<Code>NoSuchKey</Code>\n<Message>oops</Mesage>\n</Error>";
    assert_refused(doc, strlen(doc), "line 3");
    assert_refused(doc, strlen(doc), "bad XML");
}
END_TEST

START_TEST(xml_truncated_and_empty_documents_are_refused)
{
    const char *doc = "<ListBucketResult><Contents><Key>a";
    assert_refused(doc, strlen(doc), "bad XML");
    assert_refused("", 0, "bad XML");
    assert_refused("   ", 3, "bad XML");
    assert_refused("not xml at all", 14, "bad XML");
}
END_TEST

START_TEST(xml_two_root_elements_are_refused)
{
    const char *doc = "<a>1</a><b>2</b>";
    assert_refused(doc, strlen(doc), "bad XML");
}
END_TEST

START_TEST(xml_doctype_is_refused_so_entities_cannot_expand)
{
    const char *doc = "<?xml version=\"1.0\"?>\n"
                      "<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\n"
                      "<Error><Code>&lol2;</Code></Error>";
    recorder r = {0};
    err_clear();
    ck_assert_int_eq(xml_parse(doc, strlen(doc), "https://s3.test/bucket/key", record, &r), FLOE_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "DOCTYPE"));
    ck_assert_uint_eq(r.calls, 0);
    recorder_free(&r);
}
END_TEST

/* n nested elements <e><e>...</e></e>. */
static char *nested(int n)
{
    char *doc = malloc((size_t)n * 7 + 1);
    ck_assert_ptr_nonnull(doc);
    char *p = doc;
    for (int i = 0; i < n; i++)
        p += sprintf(p, "<e>");
    for (int i = 0; i < n; i++)
        p += sprintf(p, "</e>");
    return doc;
}

START_TEST(xml_nesting_to_the_limit_is_read_and_past_it_refused)
{
    char *ok = nested(XML_MAX_DEPTH);
    recorder r = {0};
    ck_assert_int_eq(parse(ok, &r), 0);
    ck_assert_uint_eq(r.calls, XML_MAX_DEPTH);
    ck_assert_uint_eq(strlen(r.ev[0].path), XML_MAX_DEPTH * 2 - 1); /* e/e/.../e */
    recorder_free(&r);
    free(ok);
    char *deep = nested(XML_MAX_DEPTH + 1);
    assert_refused(deep, strlen(deep), "deeper than 16");
    free(deep);
}
END_TEST

/* <r><NAME/></r> with a child name of name_len bytes. */
static char *long_child(size_t name_len)
{
    char *doc = malloc(name_len + 16);
    ck_assert_ptr_nonnull(doc);
    strcpy(doc, "<r><");
    memset(doc + 4, 'n', name_len);
    strcpy(doc + 4 + name_len, "/></r>");
    return doc;
}

START_TEST(xml_path_to_the_limit_is_read_and_past_it_refused)
{
    /* "r/" + the child's name is the path. */
    char *ok = long_child(XML_MAX_PATH_BYTES - 2);
    recorder r = {0};
    ck_assert_int_eq(parse(ok, &r), 0);
    ck_assert_uint_eq(strlen(r.ev[0].path), XML_MAX_PATH_BYTES);
    recorder_free(&r);
    free(ok);
    char *bad = long_child(XML_MAX_PATH_BYTES - 1);
    assert_refused(bad, strlen(bad), "path longer than 512");
    free(bad);
}
END_TEST

/* <r><Key>TEXT</Key></r> with text_len bytes of text, written as one run or with entities. */
static char *long_text(size_t text_len, int with_entities)
{
    char *doc = malloc(text_len * 5 + 32);
    ck_assert_ptr_nonnull(doc);
    char *p = doc + sprintf(doc, "<r><Key>");
    for (size_t i = 0; i < text_len; i++) {
        if (with_entities && i % 3 == 0)
            p += sprintf(p, "&amp;");
        else
            *p++ = (char)('a' + i % 26);
    }
    strcpy(p, "</Key></r>");
    return doc;
}

START_TEST(xml_text_to_the_limit_is_read_whole)
{
    for (int ent = 0; ent < 2; ent++) {
        char *doc = long_text(XML_MAX_TEXT_BYTES, ent);
        recorder r = {0};
        ck_assert_int_eq(parse(doc, &r), 0);
        const event *e = only(&r, "r/Key");
        ck_assert_uint_eq(e->len, XML_MAX_TEXT_BYTES);
        ck_assert_uint_eq(strlen(e->text), XML_MAX_TEXT_BYTES);
        for (size_t i = 0; i < XML_MAX_TEXT_BYTES; i++)
            ck_assert_int_eq(e->text[i], ent && i % 3 == 0 ? '&' : 'a' + (int)(i % 26));
        recorder_free(&r);
        free(doc);
    }
}
END_TEST

START_TEST(xml_text_past_the_limit_is_refused_naming_the_element)
{
    for (int ent = 0; ent < 2; ent++) {
        char *doc = long_text(XML_MAX_TEXT_BYTES + 1, ent);
        assert_refused(doc, strlen(doc), "text of element r/Key longer than 65536 bytes");
        free(doc);
    }
}
END_TEST

START_TEST(xml_text_limit_applies_per_element_not_per_document)
{
    /* Many elements that each hold half the limit: their sum is far past it. */
    size_t half = XML_MAX_TEXT_BYTES / 2;
    size_t n = 8;
    char *doc = malloc(n * (half + 16) + 16);
    ck_assert_ptr_nonnull(doc);
    char *p = doc + sprintf(doc, "<r>");
    for (size_t i = 0; i < n; i++) {
        p += sprintf(p, "<k>");
        memset(p, 'x', half);
        p += half;
        p += sprintf(p, "</k>");
    }
    strcpy(p, "</r>");
    recorder r = {0};
    ck_assert_int_eq(parse(doc, &r), 0);
    ck_assert_uint_eq(r.calls, n + 1);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(r.ev[i].len, half);
    recorder_free(&r);
    free(doc);
}
END_TEST

START_TEST(xml_document_longer_than_int_max_is_refused_unread)
{
    /* The length is checked before a byte is read, so a short buffer can stand for a huge one. */
    static const char small[] = "<r/>";
    recorder r = {0};
    err_clear();
    ck_assert_int_eq(xml_parse(small, (size_t)INT_MAX + 1, "big.xml", record, &r), FLOE_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "big.xml"));
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "too large"));
    ck_assert_uint_eq(r.calls, 0);
}
END_TEST

START_TEST(xml_unnamed_document_is_called_xml_document_in_messages)
{
    recorder r = {0};
    err_clear();
    ck_assert_int_eq(xml_parse("<a>", 3, NULL, record, &r), FLOE_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(floe_last_error(), "XML document"));
}
END_TEST

START_TEST(xml_random_bytes_are_refused_without_a_crash)
{
    uint64_t rng = 12345;
    unsigned char doc[512];
    const char alphabet[] = "<>/=\"'&;!?[]-abcXYZ \n\t\x00\xff\xc3";
    for (int round = 0; round < 2000; round++) {
        size_t len = 0;
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        len = (size_t)(rng >> 40) % sizeof doc;
        for (size_t i = 0; i < len; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            doc[i] = round % 2 ? (unsigned char)(rng >> 56)
                               : (unsigned char)alphabet[(rng >> 33) % (sizeof alphabet - 1)];
        }
        recorder r = {0};
        int rc = xml_parse(doc, len, "fuzz", record, &r);
        /* Random bytes are almost never a well-formed document; whatever they are, the answer is
         * 0 or a refusal with a message, never another code. */
        ck_assert_msg(rc == 0 || rc == FLOE_ECORRUPT, "round %d: rc %d", round, rc);
        if (rc)
            ck_assert_ptr_nonnull(strstr(floe_last_error(), "fuzz"));
        recorder_free(&r);
    }
}
END_TEST

static Suite *xml_suite(void)
{
    Suite *s = suite_create("xml");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, xml_s3_error_body_reports_code_and_message);
    tcase_add_test(tc, xml_list_objects_v2_page_reports_every_entry);
    tcase_add_test(tc, xml_entities_and_character_references_are_decoded);
    tcase_add_test(tc, xml_cdata_text_is_reported_verbatim);
    tcase_add_test(tc, xml_parent_text_is_what_follows_its_last_child);
    tcase_add_test(tc, xml_sibling_paths_do_not_leak_into_each_other);
    tcase_add_test(tc, xml_callback_error_stops_the_parse_and_is_returned);
    tcase_add_test(tc, xml_malformed_document_is_refused_with_its_line);
    tcase_add_test(tc, xml_truncated_and_empty_documents_are_refused);
    tcase_add_test(tc, xml_two_root_elements_are_refused);
    tcase_add_test(tc, xml_doctype_is_refused_so_entities_cannot_expand);
    tcase_add_test(tc, xml_nesting_to_the_limit_is_read_and_past_it_refused);
    tcase_add_test(tc, xml_path_to_the_limit_is_read_and_past_it_refused);
    tcase_add_test(tc, xml_text_to_the_limit_is_read_whole);
    tcase_add_test(tc, xml_text_past_the_limit_is_refused_naming_the_element);
    tcase_add_test(tc, xml_text_limit_applies_per_element_not_per_document);
    tcase_add_test(tc, xml_document_longer_than_int_max_is_refused_unread);
    tcase_add_test(tc, xml_unnamed_document_is_called_xml_document_in_messages);
    tcase_add_test(tc, xml_random_bytes_are_refused_without_a_crash);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run_suite(xml_suite());
}
